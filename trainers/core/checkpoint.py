"""Checkpoints: written atomically, loadable with ``torch.load(weights_only=True)``, and
checked on load (a SHA-256 digest of the content is stored in the file)."""

from __future__ import annotations

import glob
import hashlib
import os
from typing import Any

import numpy as np
import torch

from diffenvs.fileio import atomic_path

_TMP_PREFIX, _TMP_SUFFIX = ".ckpt-", ".tmp"
_DIGEST_KEY = "sha256"


def content_digest(obj: Any) -> str:
    """SHA-256 of a checkpoint's content: the structure, every leaf's type and value, and
    every tensor's dtype, shape and bytes (independent of how the file is serialised)."""
    h = hashlib.sha256()

    def visit(x: Any) -> None:
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            if t.numel():
                h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(x, dict):
            h.update(b"D%d" % len(x))
            for k, v in x.items():
                visit(k)
                visit(v)
        elif isinstance(x, list | tuple):
            h.update(b"L%d" % len(x) if isinstance(x, list) else b"U%d" % len(x))
            for v in x:
                visit(v)
        elif isinstance(x, np.ndarray):
            h.update(f"N{x.dtype}{x.shape}".encode() + np.ascontiguousarray(x).tobytes())
        else:
            h.update(f"{type(x).__name__}:{x!r}".encode())

    visit(obj)
    return h.hexdigest()


def remove_stale_temporaries(folder: str) -> list[str]:
    """Delete the temporary files that a killed checkpoint write left in ``folder``."""
    stale = glob.glob(os.path.join(folder or ".", f"{_TMP_PREFIX}*{_TMP_SUFFIX}"))
    for path in stale:
        try:
            os.remove(path)
        except FileNotFoundError:  # removed meanwhile
            pass
    return stale


def save_checkpoint(path: str, payload: dict[str, Any]) -> str:
    """Write ``payload`` (tensors, state dicts, numbers, strings, lists, dicts) to ``path``.

    The file is written to a temporary file in the same folder and moved into place, so
    a crash never leaves a truncated checkpoint behind; temporaries left by an earlier
    crash are removed first. A digest of the content (:func:`content_digest`) is stored
    under ``"sha256"`` so that :func:`load_checkpoint` detects a corrupted file.
    """
    remove_stale_temporaries(os.path.dirname(os.path.abspath(path)))
    payload = {**payload, _DIGEST_KEY: content_digest(payload)}
    with atomic_path(path, prefix=_TMP_PREFIX, suffix=_TMP_SUFFIX) as tmp, open(tmp, "wb") as fh:
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


class CheckpointError(ValueError):
    """A file that is not a valid diffenvs checkpoint (empty, truncated, foreign or corrupted)."""


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (no arbitrary code execution) and check it.

    Raises :class:`CheckpointError` ("PATH is not a valid diffenvs checkpoint: ...") for an
    empty, truncated, foreign or corrupted file (its stored digest does not match).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    remove_stale_temporaries(os.path.dirname(os.path.abspath(path)))

    def invalid(why: str) -> CheckpointError:
        return CheckpointError(f"{path} is not a valid diffenvs checkpoint: {why}")

    if os.path.getsize(path) == 0:
        raise invalid("the file is empty")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - EOFError, RuntimeError, UnpicklingError, ...: all mean "not one"
        raise invalid(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'unreadable'}") from exc
    if not isinstance(state, dict) or "algo" not in state or "config" not in state:
        raise invalid("it does not hold a trainer's state (no 'algo' and 'config')")
    digest = state.pop(_DIGEST_KEY, None)
    if digest is not None and digest != content_digest(state):
        raise invalid("its content does not match the stored SHA-256 digest (the file is corrupted)")
    return state
