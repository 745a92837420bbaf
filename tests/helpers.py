"""Shared test helpers."""

from __future__ import annotations

from diffenvs import DiffVectorEnv


def quad_env(num_envs: int = 1, task: str = "hover", task_options=None, **kwargs) -> DiffVectorEnv:
    """A batched quadrotor env (``DiffVectorEnv`` with ``robot="quadrotor"``)."""
    return DiffVectorEnv(num_envs, "quadrotor", task, task_options, **kwargs)
