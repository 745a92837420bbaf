"""Checkpoints: written atomically, loadable with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import os
from typing import Any

import torch

from diffenvs.fileio import atomic_path


def save_checkpoint(path: str, payload: dict[str, Any]) -> str:
    """Write ``payload`` (tensors, state dicts, numbers, strings, lists, dicts) to ``path``.

    The file is written to a temporary file in the same folder and moved into place, so
    a crash never leaves a truncated checkpoint behind.
    """
    with atomic_path(path, prefix=".ckpt-", suffix=".tmp") as tmp, open(tmp, "wb") as fh:
        torch.save(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def run_state(trainer) -> dict[str, Any]:
    """The checkpoint fields every trainer shares: algorithm, config, counters, modules,
    optimizers, the torch RNG states (CUDA's too when available) and the env's state."""
    from .config import config_to_dict

    return {
        "algo": trainer.algo,
        "config": config_to_dict(trainer.cfg),
        "iteration": trainer.iteration,
        "env_steps": trainer.env_steps,
        "wall_time": trainer.wall_time,
        "modules": {k: m.state_dict() for k, m in trainer.modules().items()},
        "optimizers": {k: o.state_dict() for k, o in trainer.optimizers().items()},
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "env_state": {k: v.detach().clone() for k, v in trainer.env.get_state().items()},
        "env_runtime": trainer.env.get_runtime_state(),
    }


def restore_run_state(trainer, state: dict[str, Any]) -> None:
    """Load what :func:`run_state` saved into ``trainer``: modules, optimizers, RNG states
    and the env's state (the counters are set by the trainer, which may keep them elsewhere)."""
    if state["algo"] != trainer.algo:
        raise ValueError(f"checkpoint is for {state['algo']!r}, not {trainer.algo!r}")
    for k, m in trainer.modules().items():
        m.load_state_dict(state["modules"][k])
    for k, o in trainer.optimizers().items():
        o.load_state_dict(state["optimizers"][k])
    torch.set_rng_state(state["torch_rng"])
    if state.get("cuda_rng") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    trainer.env.set_state({k: v.to(trainer.device) for k, v in state["env_state"].items()})
    trainer.env.set_runtime_state(state["env_runtime"])


def next_multiple(steps: int, every: int) -> int:
    """The next multiple of ``every`` after ``steps`` (0 when ``every`` is 0: never)."""
    return (steps // every + 1) * every if every else 0


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (no arbitrary code execution)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    return torch.load(path, map_location=map_location, weights_only=True)
