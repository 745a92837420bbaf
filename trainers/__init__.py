"""trainers: first-order policy learning through differentiable envs, and SB3 PPO.

Algorithms (one file each): :mod:`trainers.bptt`, :mod:`trainers.shac`,
:mod:`trainers.abpt`, :mod:`trainers.ppo`; residual (anchor) learning with any of them
via :mod:`trainers.residual`. Trainers talk to envs only through the API in
:mod:`trainers.protocol`.

Train from Python in a few lines::

    from trainers import make_trainer
    trainer = make_trainer("abpt", env_id="DiffQuad-Hover-v0", seed=0, total_steps=300_000)
    trainer.learn()
    trainer.save("abpt_hover.pt")
"""

from __future__ import annotations

import importlib
from typing import Any

#: algorithm name -> (module, trainer class)
ALGORITHMS = {
    "bptt": ("trainers.bptt", "BPTT"),
    "shac": ("trainers.shac", "SHAC"),
    "abpt": ("trainers.abpt", "ABPT"),
    "ppo": ("trainers.ppo", "PPO"),
}


def trainer_class(algo: str):
    """The trainer class of an algorithm name."""
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algo!r}; choose one of {sorted(ALGORITHMS)}")
    module, name = ALGORITHMS[algo]
    return getattr(importlib.import_module(module), name)


def make_config(algo: str, env_id: str = "DiffQuad-Hover-v0", preset: str | None = "paper", **settings: Any):
    """An algorithm's config: defaults, then the preset for ``env_id``, then ``settings``.

    ``settings`` may reach nested configs with ``"net.layer_norm"``-style keys.
    """
    from .core.config import apply_overrides
    from .presets import preset as get_preset

    cls = trainer_class(algo).Config
    cfg = cls(env_id=env_id)
    if preset:
        cfg = apply_overrides(cfg, get_preset(algo, env_id, preset))
    return apply_overrides(cfg, settings)


def make_trainer(algo: str, env_id: str = "DiffQuad-Hover-v0", preset: str | None = "paper", env=None,
                 **settings: Any):
    """Build a trainer from an algorithm name, an env id, a preset and settings."""
    return trainer_class(algo)(make_config(algo, env_id, preset, **settings), env=env)


__all__ = ["ALGORITHMS", "make_config", "make_trainer", "trainer_class"]
