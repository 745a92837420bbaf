"""The env registry: every id comes from one row of a robot's ``ENVS`` table.

``import diffenvs`` registers the ids of every robot in :data:`diffenvs.robots.ROBOTS` with
Gymnasium, each with both entry points (the single env and the vector env). Everything
else that needs per-id facts (the trainers' presets, the evaluation's main metric, figure
labels, docs tables) reads them from here. Robots outside the package register with
:func:`register_robot`.
"""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType

from gymnasium.envs.registration import register, registry

from .contract import EnvSpec, Robot, Task

SINGLE_ENTRY_POINT = "diffenvs.single_env:DiffEnv"
VECTOR_ENTRY_POINT = "diffenvs.vector_env:DiffVectorEnv"

_ROBOTS: dict[str, ModuleType] = {}
_SPECS: dict[str, EnvSpec] = {}
_TASKS: dict[str, dict[str, type[Task]]] = {}  # robot -> task name -> class (the robots' TASKS and added ones)


def register_robot(module: str | ModuleType) -> list[str]:
    """Register a robot package: a module with ``ROBOT`` (a :class:`~diffenvs.contract.Robot`
    subclass) and ``ENVS`` (a tuple of :class:`~diffenvs.contract.EnvSpec` rows, each naming
    its :class:`~diffenvs.contract.Task` subclass), and optionally ``TASKS`` (name -> task
    class, for tasks without a registered id). Returns the ids it registered."""
    if isinstance(module, str):
        module = importlib.import_module(module)
    for attr in ("ROBOT", "ENVS"):
        if not hasattr(module, attr):
            raise TypeError(f"robot module {module.__name__} lacks {attr} (see the 'Adding a robot' guide)")
    robot: type[Robot] = module.ROBOT
    _ROBOTS[robot.name] = module
    _TASKS.setdefault(robot.name, {})
    for task in getattr(module, "TASKS", {}).values():
        register_task(task)
    ids = []
    for spec in module.ENVS:
        register_env(spec)
        ids.append(spec.id)
    return ids


def register_task(task: type[Task]) -> None:
    """Make a :class:`~diffenvs.contract.Task` subclass known by its ``name`` for its ``robot``."""
    if not (isinstance(task, type) and issubclass(task, Task)):
        raise TypeError(f"register_task takes a Task subclass, got {task!r}")
    tasks = _TASKS.setdefault(task.robot, {})
    old = tasks.get(task.name, task)
    if old is not task and not _same_definition(old, task):
        raise ValueError(f"robot {task.robot!r} already has a different task named {task.name!r} "
                         f"({old.__module__}.{old.__qualname__})")
    tasks[task.name] = task  # a re-run of the same definition (a script or notebook cell) replaces it


def _same_definition(a: type, b: type) -> bool:
    return (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def register_env(spec: EnvSpec, task: type[Task] | None = None) -> None:
    """Register one :class:`~diffenvs.contract.EnvSpec` with Gymnasium (idempotent for the same spec).

    ``task``: a :class:`~diffenvs.contract.Task` subclass to register first (same as
    giving the class as ``spec.task``).
    """
    if spec.robot not in _ROBOTS:
        raise ValueError(f"env {spec.id!r} names robot {spec.robot!r}, which is not registered; "
                         f"call diffenvs.registry.register_robot(<module>) first")
    if task is None and not isinstance(spec.task, str):
        task = spec.task
    if task is not None:
        if task.name != spec.task_name or task.robot != spec.robot:
            raise ValueError(f"task class {task.__name__} is ({task.robot!r}, {task.name!r}) but the spec names "
                             f"({spec.robot!r}, {spec.task_name!r})")
        register_task(task)
    if spec.task_name not in _TASKS[spec.robot]:
        raise ValueError(f"env {spec.id!r} names task {spec.task!r}, which robot {spec.robot!r} does not have; "
                         f"its tasks: {sorted(_TASKS[spec.robot])}")
    old = _SPECS.get(spec.id)
    if old is not None and old != spec and _spec_key(old) != _spec_key(spec):
        raise ValueError(f"env id {spec.id!r} is already registered with a different spec")
    _SPECS[spec.id] = spec
    if spec.id in registry:
        return
    kwargs = {"robot": spec.robot, "task": spec.task_name}
    if spec.task_options:
        kwargs["task_options"] = dict(spec.task_options)
    if spec.robot_options:
        kwargs["robot_options"] = dict(spec.robot_options)
    register(id=spec.id, entry_point=SINGLE_ENTRY_POINT, vector_entry_point=VECTOR_ENTRY_POINT,
             max_episode_steps=spec.max_episode_steps, kwargs=kwargs)


def _spec_key(spec: EnvSpec):
    task = spec.task if isinstance(spec.task, str) else (spec.task.__module__, spec.task.__qualname__)
    return dataclasses.replace(spec, task=str(task))


def env_specs() -> dict[str, EnvSpec]:
    """Every registered diffenvs id -> its :class:`~diffenvs.contract.EnvSpec`, in registration order."""
    return dict(_SPECS)


def find_spec(env_id: str) -> EnvSpec | None:
    """The spec of ``env_id``, or ``None`` for ids diffenvs does not know. A ``"module:Id"``
    id imports ``module`` first (as ``gymnasium.make`` does), so that its robots register."""
    module, sep, key = env_id.rpartition(":")
    if sep and key not in _SPECS:
        importlib.import_module(module)
    return _SPECS.get(key)


def env_spec(env_id: str) -> EnvSpec:
    """The spec of a registered id (``"module:"`` prefixes are accepted, see :func:`find_spec`)."""
    spec = find_spec(env_id)
    if spec is None:
        raise ValueError(f"unknown env id {env_id!r}; registered diffenvs ids: {sorted(_SPECS)}")
    return spec


def robot_module(name: str) -> ModuleType:
    if name not in _ROBOTS:
        raise ValueError(f"unknown robot {name!r}; registered robots: {sorted(_ROBOTS)}")
    return _ROBOTS[name]


def robot_class(name: str | type[Robot]) -> type[Robot]:
    if isinstance(name, type) and issubclass(name, Robot):
        return name
    return robot_module(name).ROBOT


def task_class(robot: str | type[Robot], task: str | type[Task]) -> type[Task]:
    if isinstance(task, type) and issubclass(task, Task):
        return task
    rname = robot if isinstance(robot, str) else robot.name
    robot_module(rname)  # raises for unknown robots
    tasks = _TASKS[rname]
    if task not in tasks:
        raise ValueError(f"unknown task {task!r} for robot {rname!r}; choose one of {sorted(tasks)} "
                         f"or pass a Task subclass")
    return tasks[task]


def load_object(path: str):
    """``"package.module:Name"`` -> the object."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def classical_controller(env):
    """The robot's classical controller for ``env`` (``policy(obs) -> action``, batched and
    differentiable in ``obs``): the ``"classical"`` anchor of residual learning."""
    robot = env.unwrapped.robot
    if robot.controller is None:
        raise ValueError(f"robot {robot.name!r} has no classical controller; use a saved policy as the anchor")
    return load_object(robot.controller)(env)
