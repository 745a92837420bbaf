"""Timing helpers shared by the benchmark scripts (imported as a sibling module when a
script runs from this folder)."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable

import torch


def rate(fn: Callable[[], object], n_items: int, min_time: float, warmup: int = 2,
         sync: Callable[[], object] = lambda: None) -> float:
    """Best-of-3 items/s of ``fn`` (each call processes ``n_items``), each run >= ``min_time``
    seconds; ``sync`` waits for queued device work (e.g. ``torch.cuda.synchronize``)."""
    for _ in range(warmup):
        fn()
    sync()
    best = 0.0
    for _ in range(3):
        calls, t0 = 0, time.perf_counter()
        while True:
            fn()
            sync()
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
        best = max(best, calls * n_items / elapsed)
    return best


def save(json_path: str | None, result: dict, table: str, indent: int = 1) -> None:
    """With a path, write ``result`` as JSON there and ``table`` beside it as ``.md`` (same stem)."""
    if not json_path:
        return
    os.makedirs(os.path.dirname(json_path) or ".", exist_ok=True)
    with open(json_path, "w") as fh:
        json.dump(result, fh, indent=indent)
    with open(os.path.splitext(json_path)[0] + ".md", "w") as fh:
        fh.write(table + "\n")


def machine(device: torch.device | None = None) -> dict[str, str]:
    """CPU model, cores, torch version and threads, Python (and the device, GPU name)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    out = {"cpu": cpu, "cores": str(os.cpu_count()), "torch": torch.__version__,
           "torch_threads": str(torch.get_num_threads()), "python": platform.python_version()}
    if device is not None:
        out["device"] = str(device)
        if device.type == "cuda":
            out["gpu"] = torch.cuda.get_device_name(device)
    return out


class Phases:
    """Mean wall-clock seconds per named phase over ``rounds`` rounds of a loop:
    ``out = phases("name", fn, *args)`` times one call and returns its result."""

    def __init__(self, rounds: int):
        self.rounds, self.times = rounds, {}

    def __call__(self, name: str, fn: Callable, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        self.times[name] = self.times.get(name, 0.0) + (time.perf_counter() - t0) / self.rounds
        return out

    @property
    def total(self) -> float:
        return sum(self.times.values())

    def report(self) -> str:
        """One line per phase: seconds and share of the total."""
        return "\n".join(f"  {name:40s} {t:.3f} s  ({100 * t / self.total:.0f} %)" for name, t in self.times.items())
