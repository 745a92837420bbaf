"""Sweeps: algorithms × envs × seeds × variants from a declarative spec, resumable.

A spec is a TOML or JSON file (or a dict)::

    name = "figure4"
    algos = ["ppo", "bptt", "shac", "abpt"]
    envs = ["DiffQuad-Hover-v0", "DiffQuad-Landing-v0"]
    seeds = [0, 1, 2]
    preset = "paper"                 # default preset of every run ("none": config defaults)

    [settings]                       # any config field, for every run
    eval_every = 50000

    [total_steps]                    # budget per algorithm ("default" for the rest)
    default = 1000000
    ppo = 3000000

    [[variants]]                     # optional; one grid axis (default: one variant "base")
    name = "lr0.003"
    settings = { lr = 0.003 }        # merged over [settings]
    # preset = "no_zero_step"        # per-variant preset
    # algos = ["abpt"]               # restrict the variant to some algorithms
    # envs = [...]                   # ... or envs
    # seeds = [0, 1, 2, 3, 4]        # ... or other seeds
    # total_steps = 500000           # ... or other budgets (a number or a table as above)

The whole spec is checked before anything starts (also by ``--dry-run``): the types of
its fields, algorithm names, env ids, presets for each (algorithm, env) and every
setting's name, type and range (the checks of ``diffenvs-train --set``). One
``ValueError`` lists every problem, one per line, and nothing is created in ``OUT``.

Every run is ``diffenvs-train ALGO --env ENV --seed S ...`` in its own process, logging
to ``OUT/runs/<variant>/<algo>/<env>/s<seed>/``. A run that finished has ``done.json``
there and is never redone; an interrupted run resumes from its last checkpoint
(``checkpoint_every``), keeping its log rows up to that checkpoint. Raising a budget
(``total_steps``) and running the sweep again **extends** finished runs: each continues
from its final checkpoint to the new budget (so keep them with ``--keep-checkpoints``; a
finished run without one is an error naming it, and its folder must be removed to redo
it from the start). After every finished
run, all logs are gathered into one tidy table, ``OUT/results.csv``: one row per logged
iteration, with the run's ``variant``, ``algo``, ``env``, ``seed`` and every log column
(env steps and wall-clock seconds included).

One writer per run folder: while a run is in progress, its sweep holds an exclusive
``flock`` on the folder's ``.lock`` file (which names the sweep's pid), shared with the
run's process. A second sweep on the same ``OUT`` (a restart while the first still runs)
skips that run ("skipped: locked by another sweep (pid N)"). The lock goes away with the
processes, however they end.

Runs end with their sweep: each run process leads its own process group and, on Linux,
gets SIGKILL when the sweep dies (even by ``kill -9``). Ctrl-C or SIGTERM stops the runs
(SIGTERM, then SIGKILL after a grace period); re-running the same command resumes them.

A run that fails does not stop the others; once all have ended, :func:`run_sweep`
gathers ``results.csv`` and raises :class:`SweepFailed` listing the failed runs, and
``diffenvs-train sweep`` prints them and exits with status 1.

Backends: ``"local"`` runs ``workers`` processes on this machine (default: one per two
cores, each with ``cores // workers`` torch threads); ``"ray"`` submits the same runs as
Ray tasks (``pip install ray``; for a cluster, ``OUT`` must be on a shared filesystem
whose ``flock`` works across machines).

    diffenvs-train sweep benchmarks/sweeps/figure4.toml --out benchmarks/results/figure4
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import ctypes
import difflib
import fcntl
import functools
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import diffenvs  # registers the env ids; its version goes into done.json
from diffenvs.fileio import atomic_path
from diffenvs.registry import env_specs, find_spec

from . import make_config, trainer_class
from .core.config import apply_overrides
from .core.logger import COLUMNS, write_csv
from .core.loop import ALGORITHMS

META = ("variant", "algo", "env", "seed")
SPEC_KEYS = ("name", "algos", "envs", "seeds", "preset", "settings", "total_steps", "variants")
VARIANT_KEYS = ("name", "algos", "envs", "seeds", "preset", "settings", "total_steps")
#: Settings the sweep gives every run itself -> the spec field to use instead (``None``: none).
RESERVED_SETTINGS = {"env_id": "envs", "seed": "seeds", "total_steps": "total_steps", "log_dir": None}
#: Seconds a stopped run gets to end after SIGTERM, before SIGKILL.
STOP_GRACE = 5.0


@dataclass(frozen=True)
class Run:
    """One training run of a sweep."""

    variant: str
    algo: str
    env: str
    seed: int
    total_steps: int
    preset: str | None
    settings: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.variant}/{self.algo}/{self.env}/s{self.seed}"

    def log_dir(self, out: str) -> str:
        return os.path.join(out, "runs", self.variant, self.algo, self.env, f"s{self.seed}")

    def command(self, out: str, resume: bool) -> list[str]:
        cmd = [sys.executable, "-m", "trainers", self.algo, "--env", self.env, "--seed", str(self.seed),
               "--steps", str(self.total_steps), "--log-dir", self.log_dir(out), "--preset", self.preset or "none",
               "--no-progress", "--no-tensorboard"]
        for key, value in self.settings.items():
            cmd += ["--set", f"{key}={value!r}"]
        # A fresh start replaces what an attempt that died before its first checkpoint left.
        cmd.append("--resume" if resume else "--overwrite")
        return cmd


@dataclass(frozen=True)
class FailedRun:
    """A run that ended with an error: its key, why, and the path of its ``stdout.txt``."""

    key: str
    error: str
    stdout: str


class SweepFailed(RuntimeError):
    """Some runs of a sweep failed (every other run ended normally); ``failed`` lists them."""

    def __init__(self, failed: list[FailedRun], total: int) -> None:
        self.failed = failed
        lines = [f"{len(failed)} of {total} runs failed (re-run the sweep to retry them):"]
        lines += [f"  {f.key}: {f.error}; see {f.stdout}" for f in failed]
        super().__init__("\n".join(lines))


class RunLocked(RuntimeError):
    """Another sweep holds the lock of a run's folder (the run is skipped)."""


def load_spec(spec: str | dict[str, Any]) -> dict[str, Any]:
    """A spec from a ``.toml``/``.json`` path or a dict."""
    if isinstance(spec, dict):
        return spec
    if spec.endswith(".json"):
        with open(spec) as fh:
            return json.load(fh)
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    with open(spec, "rb") as fh:
        return tomllib.load(fh)


# ----------------------------------------------------------------------------- the spec
def expand(spec: dict[str, Any]) -> list[Run]:
    """All runs of a spec, in a fixed order (variants, then seeds, envs, algos).

    The spec is checked completely first: an invalid one raises one ``ValueError`` that
    lists every problem, one per line, each naming the key, the value and what to write.
    """
    if not isinstance(spec, dict):
        raise ValueError(f"a sweep spec is a table of keys {list(SPEC_KEYS)}, got {spec!r}")
    problems: list[str] = []
    top = _fields(spec, "", SPEC_KEYS, problems)
    for key, example in (("algos", 'algos = ["bptt", "abpt"]'), ("envs", 'envs = ["DiffQuad-Hover-v0"]')):
        if key not in spec:
            problems.append(f"{key}: missing; e.g. {example}")
    variants = spec.get("variants") or [{"name": "base"}]
    if not isinstance(variants, list | tuple):
        problems.append(f'variants = {variants!r}: must be a list of tables, e.g. [[variants]] name = "base"')
        variants = []
    runs: list[Run] = []
    config_errors: dict[tuple[str, str], list[str]] = {}  # (subject, error) -> where it occurs
    for i, raw in enumerate(variants):
        name = raw.get("name") if isinstance(raw, dict) else None
        where = f"variants[{i}] (name {name!r}): " if isinstance(name, str) else f"variants[{i}]: "
        variant = _fields(raw, where, VARIANT_KEYS, problems)
        if isinstance(raw, dict) and "name" not in raw:
            problems.append(f'{where}name: missing; every variant needs one, e.g. name = "lr0.003"')
        algos = variant.get("algos", top.get("algos", []))
        envs = variant.get("envs", top.get("envs", []))
        preset = variant.get("preset", top.get("preset", "paper"))
        budgets = variant.get("total_steps", top.get("total_steps", {}))
        settings = {**top.get("settings", {}), **variant.get("settings", {})}
        # The presets and settings, through the checks of `diffenvs-train --preset ... --set ...`.
        preset_label = f"{where}preset" if "preset" in variant else "preset"
        for algo, env in itertools.product(algos, envs):
            if preset:
                with _filed(config_errors, f"{preset_label} = {preset!r}", f"{algo} on {env}"):
                    make_config(algo, env, preset)
        for (key, value), algo in itertools.product(settings.items(), algos):
            label = f"{where}settings.{key}" if key in variant.get("settings", {}) else f"settings.{key}"
            with _filed(config_errors, f"{label} = {value!r}", algo):
                apply_overrides(trainer_class(algo).Config(), {key: value})
        for seed, env, algo in itertools.product(variant.get("seeds", top.get("seeds", [0])), envs, algos):
            # Seeds outermost: the first seed of every (env, algo) finishes first.
            steps = budgets.get(algo, budgets.get("default", 1_000_000))
            runs.append(Run(variant.get("name", ""), algo, env, seed, steps, preset, settings))
    problems += [f"{subject} (for {', '.join(dict.fromkeys(who))}): {error}"
                 for (subject, error), who in config_errors.items()]
    twice = sorted(key for key, n in Counter(r.key for r in runs).items() if n > 1)
    if twice:
        problems.append(f"runs {twice} appear more than once; give every variant its own name, or distinct "
                        f"algos, envs and seeds")
    if problems:
        raise ValueError(f"invalid sweep spec ({len(problems)} problem{'s' * (len(problems) > 1)}):\n"
                         + "\n".join(problems))
    return runs


def _fields(table: Any, where: str, keys: tuple[str, ...], problems: list[str]) -> dict[str, Any]:
    """The well-formed fields of a spec (``where`` empty) or variant table, normalized
    (``preset = "none"`` is ``None``, ``total_steps`` a table); adds each problem to ``problems``."""
    if not isinstance(table, dict):
        problems.append(f"{where.rstrip(': ')} = {table!r}: must be a table, e.g. {{ name = \"base\" }}")
        return {}
    out: dict[str, Any] = {}
    for key, value in table.items():
        label = f"{where}{key}"
        if key not in keys:
            kind = "unknown key" if where else "unknown spec key"
            problems.append(f"{where}{kind} {key!r}{_did_you_mean(str(key), keys)}; valid keys: {list(keys)}")
        elif key == "variants":
            continue  # checked one by one by expand
        elif key == "name" and not where:
            if isinstance(value, str):
                out[key] = value
            else:
                problems.append(f'{label} = {value!r}: must be a string, e.g. name = "figure4"')
        elif key == "name":  # a folder of OUT/runs
            if isinstance(value, str) and value not in ("", ".", "..") and "/" not in value and os.sep not in value:
                out[key] = value
            else:
                problems.append(f'{label} = {value!r}: must be a folder name (a non-empty string without "/"), '
                                f'e.g. name = "lr0.003"')
        elif key == "algos":
            out[key] = _names(value, label, 'algos = ["bptt", "abpt"]', _unknown_algo, problems)
        elif key == "envs":
            out[key] = _names(value, label, 'envs = ["DiffQuad-Hover-v0"]', _unknown_env, problems)
        elif key == "seeds":
            seeds = _list(value, int, label, "seeds = [0, 1, 2]", problems)
            if any(s < 0 for s in seeds):
                problems.append(f"{label} = {value!r}: seeds must be >= 0")
            out[key] = [s for s in seeds if s >= 0]
        elif key == "preset":
            if value is None or isinstance(value, str):
                out[key] = None if value in (None, "", "none") else value
            else:
                problems.append(f'{label} = {value!r}: must be a preset name, e.g. preset = "paper" (or "none")')
        elif key == "total_steps":
            out[key] = _budgets(value, label, problems)
        elif key == "settings":
            out[key] = _settings(value, label, problems)
    return out


def _list(value: Any, item: type, label: str, example: str, problems: list[str]) -> list:
    """``value`` as a list if it is a non-empty list of ``item`` (bools are not ints), else ``[]``."""
    if isinstance(value, list | tuple) and value and all(
            isinstance(v, item) and not isinstance(v, bool) for v in value):
        return list(value)
    kind = "strings" if item is str else "ints"
    problems.append(f"{label} = {value!r}: must be a non-empty list of {kind}, e.g. {example}")
    return []


def _names(value: Any, label: str, example: str, unknown: Callable[[str], str], problems: list[str]) -> list[str]:
    """The known names of a list-of-names field (each unknown one is a problem)."""
    names = _list(value, str, label, example, problems)
    errors = {name: unknown(name) for name in names}
    problems += [f"{label}: {error}" for error in errors.values() if error]
    return [name for name, error in errors.items() if not error]


def _unknown_algo(name: str) -> str:
    if name in ALGORITHMS:
        return ""
    return f"unknown algorithm {name!r}{_did_you_mean(name, ALGORITHMS)}; valid: {sorted(ALGORITHMS)}"


def _unknown_env(name: str) -> str:
    try:
        if find_spec(name) is not None:
            return ""
    except ImportError as exc:
        return f"env id {name!r}: cannot import its module ({exc})"
    return f"unknown env id {name!r}{_did_you_mean(name, env_specs())}; registered ids: {list(env_specs())}"


def _did_you_mean(name: str, valid: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(valid), n=3)
    return f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""


def _budgets(value: Any, label: str, problems: list[str]) -> dict[str, int]:
    """A ``total_steps`` field (a number, or a table algorithm/"default" -> number) as a table."""
    table = value if isinstance(value, dict) else {"default": value}
    out = {}
    for algo, steps in table.items():
        name = f"{label}.{algo}" if isinstance(value, dict) else label
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            problems.append(f"{name} = {steps!r}: must be a positive int (env steps), e.g. 1000000")
        elif algo != "default" and algo not in ALGORITHMS:
            problems.append(f"{name}: unknown algorithm {algo!r}{_did_you_mean(str(algo), ALGORITHMS)}; "
                            f"use 'default' or one of {sorted(ALGORITHMS)}")
        else:
            out[algo] = steps
    return out


def _settings(value: Any, label: str, problems: list[str]) -> dict[str, Any]:
    """The ``settings`` table without the settings the sweep sets itself (their types and
    ranges are checked per algorithm by :func:`expand`)."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        problems.append(f"{label} = {value!r}: must be a table of config fields, e.g. {{ lr = 0.003 }}")
        return {}
    for key in sorted(set(value) & set(RESERVED_SETTINGS)):
        instead = RESERVED_SETTINGS[key]
        hint = f"; use the spec's {instead!r} instead" if instead else ""
        problems.append(f"{label}.{key}: the sweep sets it for every run{hint}")
    return {k: v for k, v in value.items() if k not in RESERVED_SETTINGS}


@contextlib.contextmanager
def _filed(errors: dict[tuple[str, str], list[str]], subject: str, who: str) -> Iterator[None]:
    """File a ``ValueError`` of the block under (``subject``, its message), for ``who``."""
    try:
        yield
    except ValueError as exc:
        errors.setdefault((subject, str(exc)), []).append(who)


# ------------------------------------------------------------------------------ running
def run_one(run: Run, out: str, threads: int = 1, keep_checkpoint: bool = False,
            children: _Children | None = None) -> dict[str, Any]:
    """Execute (or resume, or skip) one run under its folder's lock; returns its ``done.json`` content.

    Raises :class:`RunLocked` if another sweep holds the folder, ``RuntimeError`` if the
    run's process fails. ``children``: the sweep's processes (default: this call's own).
    """
    log_dir = run.log_dir(out)
    done_path = os.path.join(log_dir, "done.json")
    if is_finished(run, out):
        return _read_json(done_path)
    os.makedirs(log_dir, exist_ok=True)
    with _folder_lock(log_dir) as lock:
        if is_finished(run, out):  # finished by another sweep since the check above
            return _read_json(done_path)
        earlier = _read_json(done_path) if os.path.exists(done_path) else None  # a smaller budget: extend it
        resume, why = can_resume(log_dir)
        if earlier is not None and not resume:
            raise RuntimeError(f"finished {earlier['total_steps']} steps without keeping its checkpoint and log, "
                               f"so it cannot be extended to {run.total_steps}; remove {log_dir} to redo it")
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        t0 = time.perf_counter()
        with open(os.path.join(log_dir, "stdout.txt"), "a") as log:
            if why:
                log.write(why + "\n")
                log.flush()
            # The run's process shares the lock: the folder stays locked while either lives.
            code = (children or _Children()).run(run.command(out, resume), stdin=subprocess.DEVNULL, stdout=log,
                                                 stderr=subprocess.STDOUT, env=env, pass_fds=(lock,))
        if code != 0:
            raise RuntimeError(_exit_text(code))
        seconds = time.perf_counter() - t0 + (earlier["process_seconds"] if earlier else 0.0)
        summary = {"run": run.key, **asdict(run), "process_seconds": round(seconds, 1), "code": code_version()}
        if earlier:
            summary["extended_from"] = earlier.get("extended_from", []) + [earlier["total_steps"]]
        with atomic_path(done_path) as tmp, open(tmp, "w") as fh:
            json.dump(summary, fh, indent=2)
    if not keep_checkpoint:
        ckpt = os.path.join(log_dir, "checkpoint.pt")
        if os.path.exists(ckpt):
            os.remove(ckpt)
    return summary


def can_resume(log_dir: str) -> tuple[bool, str]:
    """Whether an unfinished run in ``log_dir`` resumes from its checkpoint, and why not when it
    has one. A checkpoint whose ``progress.csv`` is gone (e.g. the untracked log was cleaned away
    and the ignored checkpoint kept) is not resumed: the run starts over, so that its log has no
    hole (a hole would bias every "steps to reach" read from it)."""
    has_ckpt = os.path.exists(os.path.join(log_dir, "checkpoint.pt"))
    if has_ckpt and not os.path.exists(os.path.join(log_dir, "progress.csv")):
        return False, (f"{log_dir}: a checkpoint without its progress.csv; starting the run over rather than "
                       "resuming with the log of its first steps missing")
    return has_ckpt, ""


@functools.cache
def code_version() -> dict[str, Any]:
    """The code a run used: the package version and, in a git checkout, the commit and
    whether the working tree had changes (recorded in each run's ``done.json``)."""

    out: dict[str, Any] = {"diffenvs": diffenvs.__version__}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--", "diffenvs",
                                 "trainers"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return out
    if commit.returncode == 0:
        out["commit"] = commit.stdout.strip()
        out["modified"] = bool(status.stdout.strip())
    return out


def is_finished(run: Run, out: str) -> bool:
    """``run`` has ``done.json`` for at least its budget (a smaller one is extended)."""
    done_path = os.path.join(run.log_dir(out), "done.json")
    return os.path.exists(done_path) and _read_json(done_path).get("total_steps", 0) >= run.total_steps


def _read_json(path: str) -> dict[str, Any]:
    with open(path) as fh:
        return json.load(fh)


def _exit_text(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


@contextlib.contextmanager
def _folder_lock(log_dir: str) -> Iterator[int]:
    """Hold the exclusive ``flock`` of ``log_dir/.lock`` (yields its descriptor; the file
    names this process's pid) or raise :class:`RunLocked` naming the holder's pid."""
    fd = os.open(os.path.join(log_dir, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise RunLocked(f"locked by another sweep (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield fd
    finally:
        os.close(fd)  # releases the lock (unless a run process still holds it)


class _Children:
    """The run processes of one sweep; :meth:`stop` ends them and refuses new ones.

    Each process leads its own process group (so a terminal's Ctrl-C reaches only the
    sweep, which then stops the runs) and, on Linux, gets SIGKILL when the *thread* that
    started it ends (``PR_SET_PDEATHSIG`` follows the forking thread, not the process).
    That thread (a worker of the local backend's pool, or a Ray task's) waits for the
    process in :meth:`run`, so it ends first only when the whole sweep dies; a run must
    never be started from a thread that may end before the run does. The ``preexec_fn``
    (unsafe in threaded programs if it took locks another thread might hold at the fork)
    only calls ``setpgid`` and ``prctl``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()
        self._stopped = False

    def run(self, cmd: list[str], **popen: Any) -> int:
        """Run ``cmd`` to its end (ending it if this thread is interrupted); returns its exit status."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("the sweep is stopping")
            proc = subprocess.Popen(cmd, preexec_fn=_child_setup(os.getpid()), **popen)
            self._procs.add(proc)
        try:
            code = proc.wait()
        except BaseException:
            _end([proc])
            raise
        finally:
            with self._lock:
                self._procs.discard(proc)
        if self._stopped:  # whatever its status, a stopped run has not finished
            raise RuntimeError(f"stopped with the sweep ({_exit_text(code)})")
        return code

    def stop(self) -> None:
        """End every run process (SIGTERM to its group, SIGKILL after :data:`STOP_GRACE` seconds)."""
        with self._lock:
            self._stopped = True
            procs = list(self._procs)
        _end(procs)


def _end(procs: list[subprocess.Popen]) -> None:
    """SIGTERM the process groups of ``procs``; SIGKILL those still running after the grace period."""
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    if proc.poll() is None:  # not yet reaped: its pid (and group id) is still its own
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl`` on Linux, else ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return prctl


def _child_setup(parent: int) -> Callable[[], None]:
    """What a run process does between fork and exec (``preexec_fn``): lead a new process
    group and, on Linux, ask for SIGKILL when its parent thread ends."""
    prctl = _prctl()

    def setup() -> None:
        os.setpgid(0, 0)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
            if os.getppid() != parent:  # the sweep died before prctl: nobody would kill this run
                os._exit(1)

    return setup


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Inside, SIGTERM raises ``SystemExit(143)`` in the main thread, so that the runs are
    stopped as on Ctrl-C (elsewhere a no-op: only the main thread can handle signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)  # None: not set from Python


def collect(out: str, runs: list[Run] | None = None) -> str:
    """Gather every run's ``progress.csv`` under ``out`` into ``out/results.csv`` (atomically)."""
    rows = []
    root = os.path.join(out, "runs")
    for dirpath, _, files in sorted(os.walk(root)):
        if "progress.csv" not in files:
            continue
        rel = os.path.relpath(dirpath, root).split(os.sep)
        if len(rel) != 4:
            continue
        variant, algo, env, seed = rel[0], rel[1], rel[2], int(rel[3].lstrip("s"))
        with open(os.path.join(dirpath, "progress.csv"), newline="") as fh:
            for row in csv.DictReader(fh):
                rows.append({"variant": variant, "algo": algo, "env": env, "seed": seed, **row})
    return write_csv(os.path.join(out, "results.csv"), (*META, *COLUMNS), rows)


def run_sweep(spec: str | dict[str, Any], out: str, backend: str = "local", workers: int | None = None,
              keep_checkpoints: bool = False, ray_init: dict[str, Any] | None = None,
              threads: int | None = None) -> str:
    """Run every unfinished run of ``spec``; returns the path of ``results.csv``.

    ``threads``: torch threads of each run (default: the cores divided among the workers;
    give 1 when other work shares the machine, so that threads do not outnumber cores).

    Raises ``ValueError`` (before creating anything) for an invalid spec, and
    :class:`SweepFailed` once every run has ended if some failed (``results.csv`` is
    gathered first). Runs locked by another sweep are skipped.
    """
    if backend not in ("local", "ray"):
        raise ValueError(f"unknown backend {backend!r}; choose 'local' or 'ray'")
    spec = load_spec(spec)
    runs = expand(spec)
    os.makedirs(out, exist_ok=True)
    with atomic_path(os.path.join(out, "spec.json")) as tmp, open(tmp, "w") as fh:
        json.dump(spec, fh, indent=2)
    cores = os.cpu_count() or 1
    workers = workers or max(1, cores // 2)
    threads = threads or max(1, cores // workers)
    todo = [r for r in runs if not is_finished(r, out)]
    extend = sum(os.path.exists(os.path.join(r.log_dir(out), "done.json")) for r in todo)
    print(f"sweep {spec.get('name', '')}: {len(runs)} runs, {len(runs) - len(todo)} already done, "
          f"{len(todo)} to run" + (f" ({extend} extended to a raised budget)" if extend else "")
          + f" with {backend} x{workers}", flush=True)
    failed: list[FailedRun] = []
    with _sigterm_raises():
        if backend == "local":
            _run_local(todo, out, workers, threads, keep_checkpoints, failed)
        else:
            _run_ray(todo, out, threads, keep_checkpoints, ray_init, failed)
    path = collect(out)
    if failed:
        raise SweepFailed(failed, len(todo))
    return path


def _run_local(todo: list[Run], out: str, workers: int, threads: int, keep_checkpoints: bool,
               failed: list[FailedRun]) -> None:
    children = _Children()
    pool = cf.ThreadPoolExecutor(max_workers=workers)  # each run is its own process
    try:
        futures = {pool.submit(run_one, r, out, threads, keep_checkpoints, children): r for r in todo}
        for fut in cf.as_completed(futures):
            _report(fut.result, futures[fut], out, failed)
    except BaseException:  # Ctrl-C, SIGTERM, ...: stop the runs, then let it propagate
        children.stop()
        raise
    finally:
        pool.shutdown(cancel_futures=True)


def _run_ray(todo: list[Run], out: str, threads: int, keep_checkpoints: bool, ray_init: dict[str, Any] | None,
             failed: list[FailedRun]) -> None:
    import ray

    if not ray.is_initialized():
        ray.init(**(ray_init or {}))
    # Never ask for more CPUs per run than the cluster has (the task would never start).
    cpus = max(1, min(threads, int(ray.cluster_resources().get("CPU", 1))))
    remote = ray.remote(num_cpus=cpus)(run_one)
    pending = {remote.remote(r, os.path.abspath(out), cpus, keep_checkpoints): r for r in todo}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            _report(lambda ref=ready[0]: ray.get(ref), pending.pop(ready[0]), out, failed)
    except BaseException:  # killing a task's worker kills its run (parent-death signal)
        for ref in pending:
            ray.cancel(ref, force=True)
        raise


def _report(result: Callable[[], dict[str, Any]], run: Run, out: str, failed: list[FailedRun]) -> None:
    """Print how a run ended (``result()`` returns its summary or raises), note a failure
    in ``failed``, and re-gather the table."""
    try:
        summary = result()
        print(f"done {run.key} ({summary['process_seconds']} s)", flush=True)
    except RunLocked as exc:
        print(f"skipped {run.key}: {exc}", flush=True)
    except Exception as exc:  # keep going; re-running the sweep retries it
        failed.append(FailedRun(run.key, str(exc), os.path.join(run.log_dir(out), "stdout.txt")))
        print(f"FAILED {run.key}: {exc}", flush=True)
    collect(out)


def main(argv: list[str] | None = None) -> str:
    """``diffenvs-train sweep SPEC --out DIR [--backend local|ray] [--workers N] [--dry-run]``.

    Exits with status 1 if the spec is invalid or a run failed (after listing them), and
    130 on Ctrl-C (the runs are stopped; the same command resumes them).
    """
    import argparse

    parser = argparse.ArgumentParser(
        prog="diffenvs-train sweep", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a declarative sweep (algorithms x envs x seeds x variants of a TOML or JSON spec), one "
                    "process per run; resumable, and a raised budget extends finished runs.",
        epilog="example:\n  diffenvs-train sweep benchmarks/sweeps/quadruped.toml --out results/quadruped --workers 2 "
               "--keep-checkpoints")
    parser.add_argument("spec", help="a .toml or .json sweep spec")
    parser.add_argument("--out", required=True, help="results folder (resumable)")
    parser.add_argument("--backend", default="local", choices=["local", "ray"],
                        help="local processes, or Ray tasks (pip install ray) (default: local)")
    parser.add_argument("--workers", type=int, default=None, help="runs at a time (default: half the cores)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per run (default: the cores divided among the workers; use 1 when other "
                             "work shares the machine)")
    parser.add_argument("--keep-checkpoints", action="store_true",
                        help="keep each finished run's checkpoint.pt (for evaluation, and to extend the run later)")
    parser.add_argument("--dry-run", action="store_true", help="check the spec, list the runs and exit")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.spec)
        runs = expand(spec)
    except (OSError, ValueError) as exc:  # a missing or unreadable file, TOML/JSON syntax, the checks
        raise SystemExit(f"diffenvs-train sweep: {args.spec}: {exc}") from None
    if args.dry_run:
        for run in runs:
            print(run.key, run.total_steps, run.preset, run.settings)
        return ""
    try:
        path = run_sweep(spec, args.out, args.backend, args.workers, args.keep_checkpoints, threads=args.threads)
    except SweepFailed as exc:
        print(exc, file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        print("interrupted: the runs were stopped; run the same command again to resume them", file=sys.stderr)
        sys.exit(130)
    print(f"results: {path}")
    return path
