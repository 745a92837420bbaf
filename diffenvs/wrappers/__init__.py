"""Wrappers of any diffenvs vector env: residual actions, and adapters to other RL libraries.

Nothing here is imported eagerly: ``import diffenvs`` (and ``import diffenvs.wrappers``)
work without the optional libraries. The names below are resolved on first access:

* :class:`ResidualEnv` (:mod:`diffenvs.wrappers.residual`): actions as residuals on a
  frozen anchor policy (residual learning);
* :class:`FlattenObsEnv`, :func:`obs_layout` (:mod:`diffenvs.wrappers.flatten`): ``Dict``
  (e.g. depth image + state) observations as one flat vector;
* :class:`ObservationWrapper` (:mod:`diffenvs.wrappers.base`): the base of both;
* :class:`SB3VecEnv`, :func:`make_sb3_env` (:mod:`diffenvs.wrappers.sb3`): a
  stable-baselines3 ``VecEnv``; needs ``stable-baselines3``;
* :func:`make_torchrl_env` (:mod:`diffenvs.wrappers.torchrl`): a TorchRL env with known
  info specs; needs ``torchrl`` (the plain ``torchrl.envs.GymWrapper`` works too).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .base import ObservationWrapper
    from .flatten import FlattenObsEnv, obs_layout
    from .residual import ResidualEnv
    from .sb3 import SB3VecEnv, make_sb3_env
    from .torchrl import make_torchrl_env

#: Public name -> submodule that defines it (imported on first access).
_LAZY = {
    "ResidualEnv": "residual",
    "FlattenObsEnv": "flatten",
    "obs_layout": "flatten",
    "ObservationWrapper": "base",
    "SB3VecEnv": "sb3",
    "make_sb3_env": "sb3",
    "make_torchrl_env": "torchrl",
}

__all__ = ["FlattenObsEnv", "ObservationWrapper", "ResidualEnv", "SB3VecEnv", "make_sb3_env", "make_torchrl_env",
           "obs_layout"]


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """Module attributes including the lazily imported names."""
    return sorted(set(globals()) | set(_LAZY))
