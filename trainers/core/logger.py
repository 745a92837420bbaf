"""One log schema for every algorithm (PPO included): CSV always, TensorBoard if installed.

The CSV has the columns of :data:`COLUMNS` (counts as integers, everything else as floats;
empty where an algorithm has no such value). TensorBoard gets the same values under
grouped tags, as stable-baselines3 groups them: ``train/...`` (training returns, losses,
learning rate), ``eval/...`` (evaluation return, success and the task's main metric by
name) and ``time/...`` (wall-clock seconds and env steps per second), against env steps.
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from diffenvs.fileio import atomic_path

#: The columns of every training log, in order. Values an algorithm does not have are
#: left empty (e.g. ``critic_loss`` for BPTT).
COLUMNS = (
    "iteration",
    "env_steps",
    "wall_time",
    "episode_return",  # mean undiscounted return of training episodes finished since the last row
    "episode_length",
    "eval_return",  # deterministic-policy evaluation (see trainers.core.evaluate)
    "eval_success",  # fraction of evaluation episodes that met the task's success criterion
    "eval_metric",  # the task's main metric (hover/tracking: final position error, m; ...)
    "actor_loss",
    "critic_loss",
    "entropy",
    "alpha",  # entropy temperature (ABPT's κ)
    "lr",
    "grad_norm",
    "skipped_updates",  # updates skipped so far because a value was not finite (first-order trainers)
)


class Logger:
    """Appends rows to ``<log_dir>/progress.csv`` and TensorBoard event files."""

    def __init__(self, log_dir: str, tensorboard: bool = True, resume: bool = False,
                 resume_steps: float | None = None, metric: str = "metric"):
        """``resume=True`` appends to an existing log; with ``resume_steps``, rows logged
        after that many env steps (after the checkpoint being resumed) are dropped first.
        ``metric``: the task's main metric's name (TensorBoard tag ``eval/<metric>``)."""
        os.makedirs(log_dir, exist_ok=True)
        self.log_dir, self.metric = log_dir, metric
        self.path = os.path.join(log_dir, "progress.csv")
        new = not (resume and os.path.exists(self.path))
        if resume and new and resume_steps:  # the checkpoint survived its log: say what is missing
            warnings.warn(f"resuming at {resume_steps:,.0f} env steps without {self.path}: the log of the steps "
                          "before that is lost, and the new progress.csv starts at the resumed step", stacklevel=2)
        if not new:
            _rewrite(self.path, resume_steps)
        self._fh = open(self.path, "w" if new else "a", newline="")
        self._csv = csv.DictWriter(self._fh, fieldnames=COLUMNS)
        if new:
            self._csv.writeheader()
            self._fh.flush()
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(log_dir)
            except ImportError:  # tensorboard is optional: say so once, then log the CSV only
                self._tb = None
                _warn_no_tensorboard()

    def log(self, row: dict[str, Any]) -> None:
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise KeyError(f"unknown log column(s) {sorted(unknown)}; the schema is {COLUMNS}")
        clean = {k: _scalar(v) for k, v in row.items() if v is not None}
        for k in INT_COLUMNS:
            if isinstance(clean.get(k), float) and clean[k].is_integer():
                clean[k] = int(clean[k])
        self._csv.writerow(clean)
        self._fh.flush()
        if self._tb is not None:
            step = int(clean.get("env_steps", 0))
            for k, v in clean.items():
                if k not in INT_COLUMNS[:2] and isinstance(v, (int, float)) and math.isfinite(v):
                    self._tb.add_scalar(tensorboard_tag(k, self.metric), float(v), step)
            wall = clean.get("wall_time")
            if isinstance(wall, float) and wall > 0:
                self._tb.add_scalar("time/fps", step / wall, step)

    def close(self) -> None:
        self._fh.close()
        if self._tb is not None:
            self._tb.close()


#: Columns written as integers.
INT_COLUMNS = ("iteration", "env_steps", "skipped_updates")


def tensorboard_tag(column: str, metric: str = "metric") -> str:
    """The grouped TensorBoard tag of a log column (``metric``: the task's main metric's name)."""
    if column.startswith("eval_"):
        name = column.removeprefix("eval_")
        return f"eval/{metric if name == 'metric' else name}"
    return "time/wall_time" if column == "wall_time" else f"train/{column}"


def _rewrite(path: str, env_steps: float | None) -> None:
    """Before appending to an existing log: drop rows logged after ``env_steps`` (if given),
    and bring a log written with an older schema to :data:`COLUMNS` (new columns empty)."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        header = tuple(reader.fieldnames or ())
    keep = [r for r in rows if env_steps is None or r["env_steps"] in ("", None) or float(r["env_steps"]) <= env_steps]
    if header != COLUMNS or len(keep) != len(rows):
        write_csv(path, COLUMNS, keep)


def write_csv(path: str, fieldnames: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """Write ``rows`` as a CSV with a header, atomically (readers never see half a file)."""
    with atomic_path(path, suffix=".csv") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(fieldnames))
        writer.writeheader()
        writer.writerows(rows)
    return path


_WARNED: list[bool] = []


def _warn_no_tensorboard() -> None:
    if not _WARNED:
        import sys

        print("TensorBoard logging is off: the tensorboard package is not installed (pip install tensorboard; or "
              "pass --no-tensorboard / tensorboard=False to silence this). progress.csv is written as always.",
              file=sys.stderr, flush=True)
        _WARNED.append(True)


def _scalar(v):
    if hasattr(v, "item"):
        v = v.item()
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def read_log(path: str, text_columns: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Rows of a ``progress.csv`` (or a sweep's ``results.csv``) as dicts of floats (empty
    cells become NaN); ``text_columns`` are kept as strings."""
    with open(path, newline="") as fh:
        return [{k: v if k in text_columns else (float(v) if v not in ("", None) else math.nan)
                 for k, v in row.items()} for row in csv.DictReader(fh)]
