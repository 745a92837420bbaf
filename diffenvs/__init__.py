"""diffenvs: differentiable, natively batched robot simulators that are Gymnasium environments.

Importing the package registers every robot's env ids with Gymnasium::

    import gymnasium as gym, diffenvs
    env = gym.make("DiffQuad-Hover-v0")                     # one env, numpy
    venv = gym.make_vec("DiffQuad-Hover-v0", num_envs=100)  # batched, torch

Layout: :mod:`diffenvs.contract` (what a robot, a task and a vector env provide), the
generic shells :mod:`diffenvs.vector_env` and :mod:`diffenvs.single_env`, one folder per
robot under :mod:`diffenvs.robots`, and the shared :mod:`diffenvs.render` and
:mod:`diffenvs.wrappers`.
"""

from . import registry
from .contract import EnvSpec, Marker, RewardTerm, Robot, State, StateField, Task, TaskStep, check_vector_env
from .registry import env_spec, env_specs, register_robot
from .robots import ROBOTS
from .single_env import DiffEnv
from .vector_env import DiffVectorEnv

__version__ = "0.2.0"

for _robot in ROBOTS:
    register_robot(f"diffenvs.robots.{_robot}")

#: Registered ids -> :class:`~diffenvs.contract.EnvSpec` (the robots' ``ENVS`` tables).
ENV_IDS = env_specs()

__all__ = [
    "ENV_IDS",
    "DiffEnv",
    "DiffVectorEnv",
    "EnvSpec",
    "Marker",
    "RewardTerm",
    "Robot",
    "State",
    "StateField",
    "Task",
    "TaskStep",
    "__version__",
    "check_vector_env",
    "env_spec",
    "env_specs",
    "register_robot",
    "registry",
]
