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

from .core.config import apply_overrides
from .core.loop import ALGORITHMS, algorithm_class, load_policy
from .presets import preset as get_preset

#: The trainer class of an algorithm name (:func:`trainers.core.loop.algorithm_class`).
trainer_class = algorithm_class


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


__all__ = ["ALGORITHMS", "load_policy", "make_config", "make_trainer", "trainer_class"]
