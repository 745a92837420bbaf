"""Named anchor policies shipped with the package, for residual (anchor) learning.

``residual="<name>"`` (``--residual <name>``, or a sweep's ``residual`` setting) loads the
frozen policy of :data:`ANCHORS` ``[name]`` from this folder, so that the residual
experiments run from a plain install. Each file is a trainers checkpoint (load it with
``trainers.load_policy(anchor_path(name))``); how it was trained is recorded next to it
and on the results pages.
"""

from __future__ import annotations

import os

#: Name -> (file in this folder, what it is).
ANCHORS = {
    "quadruped-trot": ("quadruped_trot.pt",
                       "ANYmal C trotting in place: SHAC on DiffQuadruped-Trot-v0, seed 0, 2e5 env steps (RMS "
                       "tracking error 0.046 rad, upright 1000/1000 steps; the residual paper's blind anchor, §III-C). "
                       "Reads the 68 proprioceptive values of the quadruped ids (the state entry of "
                       "DiffQuadruped-Nav-v0)."),
}


def anchor_path(name: str) -> str:
    """The checkpoint file of a named anchor; ``ValueError`` naming the known ones otherwise."""
    if name not in ANCHORS:
        raise ValueError(f"unknown anchor {name!r}; named anchors: {sorted(ANCHORS)} (or give a checkpoint path, or "
                         f"'classical')")
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), ANCHORS[name][0])


def resolve_anchor(residual: str) -> str:
    """A named anchor's file, or ``residual`` itself (a checkpoint path)."""
    return anchor_path(residual) if residual in ANCHORS else residual
