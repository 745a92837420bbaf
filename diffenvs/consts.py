"""Numbers as tensors of an operand's dtype and device, made once.

Arithmetic between a tensor and a Python number (``x * 0.5``) makes PyTorch wrap the number
in a double tensor and, on CPU, convert it to the operand's dtype on every call: a dtype
copy that costs a few microseconds, often as much as the operation itself at the batch
sizes a simulator steps. :func:`const` gives the number as a tensor of the operand's dtype
and device instead, made on first use and cached, so that a step makes no such copies.
The values are those the conversion would have produced, so results are bit for bit the
same. Inside ``torch.compile`` a number is returned as it is (the compiler folds it into its
kernels) and a tuple as a fresh graph constant, so that compiled graphs do not guard on the
cache.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

_CACHE: dict[tuple, Tensor] = {}


def const(value: float | tuple[float, ...], like: Tensor) -> Tensor | float:
    """``value`` (a number or a tuple of numbers) as a tensor of ``like``'s dtype and device."""
    if torch.compiler.is_compiling():  # a number stays a number, which the compiler folds into its kernels
        return value if not isinstance(value, tuple) else torch.tensor(value, dtype=like.dtype, device=like.device)
    key = (value, like.dtype, like.device)
    out = _CACHE.get(key)
    if out is None:
        # made outside inference mode: an inference tensor could not be saved for a backward pass later
        with torch.inference_mode(False), torch.no_grad():
            out = _CACHE[key] = torch.tensor(value, dtype=like.dtype, device=like.device)
    return out


def const_like(like: Tensor) -> Callable[[float], Tensor | float]:
    """:func:`const` bound to ``like``: ``k = const_like(x)``, then ``k(0.5) * x`` (for a function with
    many constants of one dtype and device)."""
    return lambda value: const(value, like)
