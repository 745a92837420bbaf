"""diffenvs: differentiable, natively batched quadrotor environments for Gymnasium.

Importing the package registers the environment ids with Gymnasium::

    import gymnasium as gym, diffenvs
    env = gym.make("DiffQuad-Hover-v0")                     # one drone, numpy
    venv = gym.make_vec("DiffQuad-Hover-v0", num_envs=100)  # batched, torch
"""

from gymnasium.envs.registration import register, registry

from .controllers import CascadedController, ControllerGains
from .core import PRESETS, QuadrotorParams, QuadState
from .single_env import DiffQuadEnv
from .vector_env import DiffQuadVectorEnv

__version__ = "0.1.0"

#: Registered ids -> (task, task options, episode length).
ENV_IDS = {
    "DiffQuad-Hover-v0": ("hover", {}, 256),
    "DiffQuad-Tracking-v0": ("tracking", {}, 256),
    "DiffQuad-Landing-v0": ("landing", {}, 256),
    "DiffQuad-Racing-v0": ("racing", {}, 512),
    "DiffQuad-RacingVelocity-v0": ("racing_velocity", {}, 512),
}


def _register_all() -> None:
    for env_id, (task, options, steps) in ENV_IDS.items():
        if env_id in registry:
            continue
        kwargs = {"task": task}
        if options:
            kwargs["task_options"] = dict(options)
        register(
            id=env_id,
            entry_point="diffenvs.single_env:DiffQuadEnv",
            vector_entry_point="diffenvs.vector_env:DiffQuadVectorEnv",
            max_episode_steps=steps,
            kwargs=kwargs,
        )


_register_all()

__all__ = [
    "ENV_IDS",
    "PRESETS",
    "CascadedController",
    "ControllerGains",
    "DiffQuadEnv",
    "DiffQuadVectorEnv",
    "QuadState",
    "QuadrotorParams",
    "__version__",
]
