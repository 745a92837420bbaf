"""Small C kernels compiled on first use and called through :mod:`ctypes`.

A kernel is one C file shipped with the package (no PyTorch headers, no Python API), built with
the system's C compiler (``$CC``, else ``cc``) into a shared library in a per-user cache folder
(``$DIFFENVS_CACHE``, else ``$XDG_CACHE_HOME/diffenvs`` or ``~/.cache/diffenvs``), named by a
hash of the source (with the local files it includes), the flags and the platform, so that a
changed file is rebuilt and processes share the build. Building takes well under a second; it
is written to a temporary file and renamed, so concurrent processes (e.g. sweep workers)
never load a half-written library.

Where no compiler works, or with ``DIFFENVS_NATIVE=0`` in the environment, :func:`load` returns
``None`` and the callers use their PyTorch ops instead (same equations, same results to float
rounding); :func:`status` says which, and why.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import torch

from .fileio import atomic_path

FLAGS = ("-O3", "-shared", "-fPIC", "-fno-math-errno", "-std=c99")
_LOADED: dict[str, ctypes.CDLL | None] = {}
_WHY: dict[str, str] = {}
_BOUND: dict[tuple, dict] = {}
_POOLS: dict[tuple[int, int], ThreadPoolExecutor] = {}  # by (process id, threads): a forked child makes its own


def enabled() -> bool:
    """Whether native kernels may be used (``DIFFENVS_NATIVE=0`` turns them off)."""
    return os.environ.get("DIFFENVS_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def cache_root() -> str:
    """diffenvs' per-user cache folder (``$DIFFENVS_CACHE``, else ``$XDG_CACHE_HOME/diffenvs`` or
    ``~/.cache/diffenvs``)."""
    return os.environ.get("DIFFENVS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "diffenvs")


def cache_dir() -> str:
    return os.path.join(cache_root(), "native")


def _compiler() -> str | None:
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc.split()[0]):
            return cc
    return None


def _read_with_includes(source: str, seen: set[str] | None = None) -> bytes:
    """The file's bytes followed by those of the local files it includes (recursively), so
    that the build's hash changes when any of them does."""
    seen = set() if seen is None else seen
    seen.add(os.path.abspath(source))
    with open(source, "rb") as fh:
        code = fh.read()
    # (``#define IMPL "file"``: a file that each_float_type.h includes for the including source)
    for name in re.findall(rb'^\s*#\s*(?:include|define\s+IMPL)\s+"([^"]+)"', code, flags=re.M):
        path = os.path.abspath(os.path.join(os.path.dirname(source), name.decode()))
        if path not in seen:
            code += _read_with_includes(path, seen)
    return code


def _build(source: str, cc: str) -> str:
    code = _read_with_includes(source)
    key = hashlib.sha256(code + " ".join((cc, *FLAGS, platform.machine(), sys.platform)).encode()).hexdigest()[:16]
    stem = os.path.splitext(os.path.basename(source))[0]
    out = os.path.join(cache_dir(), f"{stem}-{key}.so")
    if os.path.exists(out):
        return out
    with atomic_path(out, suffix=".so") as tmp:  # built beside the target, then renamed onto it at once
        subprocess.run([*cc.split(), *FLAGS, "-I", os.path.dirname(os.path.abspath(source)), "-o", tmp, source, "-lm"],
                       check=True, capture_output=True, text=True)
    return out


def load(source: str) -> ctypes.CDLL | None:
    """The shared library built from the C file ``source`` (cached), or ``None`` where native
    kernels are turned off or cannot be built (:func:`status` gives the reason)."""
    if not enabled():
        _WHY[source] = "turned off (DIFFENVS_NATIVE=0)"
        return None
    if source in _LOADED:
        return _LOADED[source]
    lib = None
    cc = _compiler()
    if cc is None:
        _WHY[source] = "no C compiler found (set CC, or install cc/gcc/clang)"
    else:
        try:
            lib = ctypes.CDLL(_build(source, cc))
            _WHY[source] = "built"
        except subprocess.CalledProcessError as err:
            _WHY[source] = f"{cc} failed: {err.stderr.strip()[-500:]}"
        except OSError as err:
            _WHY[source] = f"could not build or load: {err}"
        if lib is None:  # a compiler is there but the build failed: say so once, then use the PyTorch ops
            warnings.warn(f"diffenvs: native kernel {os.path.basename(source)} unavailable ({_WHY[source]}); "
                          "using PyTorch ops instead (set DIFFENVS_NATIVE=0 to silence)", RuntimeWarning, stacklevel=3)
    _LOADED[source] = lib
    return lib


def kernels(source: str, suffixes: dict, signatures: dict[str, list]) -> dict | None:
    """The functions of ``source``'s library, bound once: for every ``key: suffix`` of ``suffixes``
    (e.g. a dtype and ``"f32"``) the tuple of functions ``f"{name}_{suffix}"`` for the names of
    ``signatures``, each with its ``argtypes`` from there and no return value; ``None`` as
    :func:`load`."""
    if not enabled():
        return None
    cache_key = (source, tuple(signatures))
    if cache_key not in _BOUND:
        lib = load(source)
        if lib is None:
            return None
        bound = {}
        for key, suffix in suffixes.items():
            functions = []
            for name, argtypes in signatures.items():
                fn = getattr(lib, f"{name}_{suffix}")
                fn.argtypes, fn.restype = argtypes, None
                functions.append(fn)
            bound[key] = tuple(functions)
        _BOUND[cache_key] = bound
    return _BOUND[cache_key]


def status(source: str) -> str:
    """Why ``source``'s kernels are or are not in use (after :func:`load`)."""
    if not enabled():
        return "turned off (DIFFENVS_NATIVE=0)"
    return _WHY.get(source, "not loaded yet")


def rows(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``x`` as ``(N, k)`` rows with contiguous columns (a copy only if they are not) and its row
    stride in elements: the layout the kernels read through a data pointer and a row stride."""
    x = x.reshape(x.shape[0], -1)
    if x.stride(1) != 1 and x.shape[1] > 1:
        x = x.contiguous()
    return x, x.stride(0)


def row_address(t: torch.Tensor, start: int) -> int:
    """The address of row ``start`` of ``t`` (for a kernel called on rows ``[start, stop)``)."""
    return t.data_ptr() + start * t.stride(0) * t.element_size()


def parallel_rows(n: int, run, min_rows: int) -> None:
    """``run(start, stop)`` over the rows ``[0, n)``: on the calling thread, or split into equal
    chunks over up to ``torch.get_num_threads()`` threads with at least ``min_rows`` rows each.
    For kernels whose rows are independent (each row's result is the same however the rows are
    split); ctypes releases the GIL during a call, so the chunks run in parallel."""
    threads = min(torch.get_num_threads(), n // max(1, min_rows))
    if threads <= 1:
        run(0, n)
        return
    key = (os.getpid(), threads)  # (a pool's threads do not survive a fork: a child that used the parent's would hang)
    pool = _POOLS.get(key) or _POOLS.setdefault(key, ThreadPoolExecutor(threads, "diffenvs-native"))
    bounds = [n * i // threads for i in range(threads + 1)]
    for job in [pool.submit(run, bounds[i], bounds[i + 1]) for i in range(threads)]:
        job.result()
