"""Timing helpers shared by the benchmark scripts (imported as a sibling module when a
script runs from this folder)."""

from __future__ import annotations

import json
import os
import platform
import time
from collections import Counter
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode


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


def device_sync(device: torch.device | str) -> Callable[[], object]:
    """What waits for ``device``'s queued work (``torch.cuda.synchronize``; nothing on a CPU), for :func:`rate`."""
    return torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)


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


class _MatmulShapes(TorchDispatchMode):
    """Counts the ``(m, k, n)`` shapes of the matrix products run while active (forward and backward)."""

    _OPS = {torch.ops.aten.mm.default: (0, 1), torch.ops.aten.addmm.default: (1, 2),
            torch.ops.aten.bmm.default: (0, 1), torch.ops.aten.baddbmm.default: (1, 2)}

    def __init__(self):
        super().__init__()
        self.shapes: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        where = self._OPS.get(func)
        if where is not None:
            a, b = args[where[0]], args[where[1]]
            batch = a.shape[0] if a.dim() == 3 else 1
            self.shapes[(batch, a.shape[-2], a.shape[-1], b.shape[-1])] += 1
        return func(*args, **(kwargs or {}))


def _alone_seconds(shapes: Counter, min_time: float, cache: dict | None = None) -> tuple[float, float]:
    """``(FLOPs, seconds)`` of the matrix products counted in ``shapes`` (``(batch, m, k, n)``:
    count), each shape timed alone on contiguous random operands (``cache``: shape -> FLOP/s,
    so a shape is timed once)."""
    cache = {} if cache is None else cache
    flops = alone = 0.0
    for (batch, m, k, n), count in shapes.items():
        per_call = 2.0 * batch * m * k * n
        if (batch, m, k, n) not in cache:
            a, b = torch.randn(batch, m, k), torch.randn(batch, k, n)
            mm = (lambda a=a, b=b: torch.bmm(a, b)) if batch > 1 else (lambda a=a[0], b=b[0]: torch.mm(a, b))
            cache[(batch, m, k, n)] = rate(mm, per_call, min_time)
        flops += count * per_call
        alone += count * per_call / cache[(batch, m, k, n)]
    return flops, alone


def matmul_ceiling(fn: Callable[[], object], seconds_per_call: float, min_time: float = 0.3,
                   cache: dict | None = None) -> dict:
    """How close ``fn`` (one training iteration, say) runs to this CPU's matrix-product ceiling.

    Runs ``fn`` once recording the shapes of every matrix product it makes (forward and backward),
    then times each shape alone (contiguous random operands, same process and threads) and returns
    the products' FLOPs per call, the rate they would run at alone (``ceiling_gflops``: FLOPs over
    the sum of their standalone times), the rate ``fn`` sustains at ``seconds_per_call``
    (``sustained_gflops``), and their ratio (``share``): the fraction of a call that the matrix
    products alone would take. ``cache``: rates of shapes already timed (shape -> FLOP/s), read and
    added to.
    """
    rec = _MatmulShapes()
    with rec:
        fn()
    flops, alone = _alone_seconds(rec.shapes, min_time, cache)
    return {"gflop_per_call": flops / 1e9, "sustained_gflops": flops / seconds_per_call / 1e9,
            "ceiling_gflops": flops / alone / 1e9, "share": alone / seconds_per_call,
            "matmul_shapes": len(rec.shapes)}


class PhaseShapes:
    """The call interface of :class:`Phases` (``out = shapes("name", fn, *args)``), recording the
    matrix-product shapes each named phase makes (forward and backward) instead of its time."""

    def __init__(self):
        self.shapes: dict[str, Counter] = {}

    def __call__(self, name: str, fn: Callable, *args):
        rec = _MatmulShapes()
        with rec:
            out = fn(*args)
        self.shapes.setdefault(name, Counter()).update(rec.shapes)
        return out


def phase_bounds(times: dict[str, float], shapes: PhaseShapes, target: float = 0.8,
                 min_time: float = 0.3, cache: dict | None = None) -> tuple[dict, str]:
    """What each phase alone allows: for every phase, the share of the ceiling the whole call
    would reach if every *other* phase took only its matrix products' time alone and this one
    kept its measured time. A phase whose bound is under ``target`` keeps the call under it by
    itself, however fast the rest becomes.

    ``times``: measured seconds per phase (:attr:`Phases.times`); ``shapes``: the same phases
    recorded by a :class:`PhaseShapes` run. Returns ``(rows, table)``: per phase its seconds, its
    products' seconds alone, and the bound; and a Markdown table of them. ``cache`` as in
    :func:`matmul_ceiling`.
    """
    cache = {} if cache is None else cache
    alone = {name: _alone_seconds(shapes.shapes.get(name, Counter()), min_time, cache)[1] for name in times}
    ceiling = sum(alone.values())
    rows = {name: {"seconds": t, "matmul_alone_seconds": alone[name],
                   "bound": ceiling / (t + ceiling - alone[name])} for name, t in times.items()}
    lines = [f"ceiling (every product alone): {ceiling:.3f} s per call against {sum(times.values()):.3f} s measured; "
             f"{100 * target:.0f} % of the ceiling is {ceiling / target:.3f} s",
             "| phase | seconds | its products alone | the call's share of the ceiling with only this phase "
             "as it is |", "|---|---|---|---|"]
    for name, row in rows.items():
        flag = " (under the target by itself)" if row["bound"] < target else ""
        lines.append(f"| {name} | {row['seconds']:.3f} | {row['matmul_alone_seconds']:.3f} | "
                     f"{100 * row['bound']:.0f} %{flag} |")
    return rows, "\n".join(lines)


def save_phases(json_path: str, algo: str, threads: int, compiled: bool, rows: dict) -> None:
    """Write :func:`phase_bounds`' rows of one profiled configuration as JSON (with the machine)."""
    os.makedirs(os.path.dirname(json_path) or ".", exist_ok=True)
    with open(json_path, "w") as fh:
        json.dump({"algo": algo, "threads": threads, "compiled": compiled, "machine": machine(), "phases": rows}, fh,
                  indent=1)


def print_ceiling(train_iteration: Callable[[], object], iteration: Callable, times: dict[str, float], algo: str,
                  compiled: bool, json_path: str | None = None) -> dict:
    """What ``--ceiling`` prints in the profile scripts: the whole iteration against the matrix-product
    ceiling (:func:`matmul_ceiling` of ``train_iteration``), then each phase's bound (one more
    ``iteration(phases)`` under :class:`PhaseShapes`, :func:`phase_bounds` of the measured ``times``);
    with ``json_path``, the bounds saved there (:func:`save_phases`). Returns the bounds' rows."""
    rates: dict = {}  # (each shape timed once for both)
    c = matmul_ceiling(train_iteration, sum(times.values()), cache=rates)
    print(f"matrix products: {c['gflop_per_call']:.2f} GFLOP per iteration ({c['matmul_shapes']} shapes), "
          f"sustained {c['sustained_gflops']:.1f} GFLOP/s; alone they run at {c['ceiling_gflops']:.1f} GFLOP/s: "
          f"{100 * c['share']:.0f} % of the ceiling (the iteration's time they would take alone)")
    shapes = PhaseShapes()
    iteration(shapes)
    rows, table = phase_bounds(times, shapes, cache=rates)
    print(table)
    if json_path:
        save_phases(json_path, algo, torch.get_num_threads(), compiled, rows)
    return rows
