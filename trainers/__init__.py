"""trainers: first-order policy learning through differentiable envs, and SB3 PPO.

Algorithms (one file each, siblings over :mod:`trainers.core`): :mod:`trainers.bptt`,
:mod:`trainers.shac`, :mod:`trainers.abpt`, :mod:`trainers.ppo`; residual (anchor)
learning with any of them (``residual=`` setting: the env wrapper
:class:`diffenvs.wrappers.residual.ResidualEnv` with an anchor from :func:`load_policy`).
Trainers accept any env that meets the diffenvs contract
(:func:`diffenvs.contract.check_vector_env`).

Train from Python in a few lines::

    from trainers import make_trainer
    trainer = make_trainer("abpt", env_id="DiffQuad-Hover-v0", seed=0, total_steps=300_000)
    trainer.learn()
    trainer.save("abpt_hover.pt")
"""

from __future__ import annotations

from typing import Any

from .core.checkpoint import load_checkpoint
from .core.config import apply_overrides
from .core.loop import ALGORITHMS, algorithm_class
from .presets import preset as get_preset


def trainer_class(algo: str):
    """The trainer class of an algorithm name."""
    return algorithm_class(algo)


def make_config(algo: str, env_id: str = "DiffQuad-Hover-v0", preset: str | None = "default", **settings: Any):
    """An algorithm's config: defaults, then the preset for ``env_id``, then ``settings``.

    ``settings`` may reach nested configs with ``"net.layer_norm"``-style keys.
    """
    cls = trainer_class(algo).Config
    cfg = cls(env_id=env_id)
    if preset:
        cfg = apply_overrides(cfg, get_preset(algo, env_id, preset))
    return apply_overrides(cfg, settings)


def make_trainer(algo: str, env_id: str = "DiffQuad-Hover-v0", preset: str | None = "default", env=None,
                 **settings: Any):
    """Build a trainer from an algorithm name, an env id, a preset and settings."""
    return trainer_class(algo)(make_config(algo, env_id, preset, **settings), env=env)


def load_policy(path: str, env=None):
    """The frozen deterministic policy of any trainer's checkpoint, ``policy(obs) -> action``.

    The checkpoint's ``algo`` picks the trainer class from :data:`ALGORITHMS`, whose
    ``load_policy`` rebuilds the networks; ``env`` (optional) is checked against the
    policy's observation and action shapes. Used for residual anchors and deployment.
    """
    state = load_checkpoint(path)
    return trainer_class(state["algo"]).load_policy(state, env, source=path)


__all__ = ["ALGORITHMS", "load_policy", "make_config", "make_trainer", "trainer_class"]
