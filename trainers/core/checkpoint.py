"""Checkpoints: written atomically, loadable with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import torch


def save_checkpoint(path: str, payload: dict[str, Any]) -> str:
    """Write ``payload`` (tensors, state dicts, numbers, strings, lists, dicts) to ``path``.

    The file is written to a temporary file in the same folder and moved into place, so
    a crash never leaves a truncated checkpoint behind.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".ckpt-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual file permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def run_state(trainer) -> dict[str, Any]:
    """The checkpoint fields every trainer shares: algorithm, config, counters, modules,
    optimizers and the torch RNG states (CUDA's too when available)."""
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
    }


def next_multiple(steps: int, every: int) -> int:
    """The next multiple of ``every`` after ``steps`` (0 when ``every`` is 0: never)."""
    return (steps // every + 1) * every if every else 0


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (no arbitrary code execution)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    return torch.load(path, map_location=map_location, weights_only=True)
