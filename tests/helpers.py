"""Shared test helpers."""

from __future__ import annotations

from diffenvs import DiffVectorEnv


def quad_env(num_envs: int = 1, task: str = "hover", task_options=None, **kwargs) -> DiffVectorEnv:
    """A batched quadrotor env (``DiffVectorEnv`` with ``robot="quadrotor"``)."""
    return DiffVectorEnv(num_envs, "quadrotor", task, task_options, **kwargs)


def load_benchmark(name: str, monkeypatch):
    """The module of ``benchmarks/<name>.py``, imported as when the script runs from its folder."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[1] / "benchmarks" / f"{name}.py"
    monkeypatch.syspath_prepend(str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
