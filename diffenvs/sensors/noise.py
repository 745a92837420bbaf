"""Counter-based random numbers: noise that is a pure function of the env state.

An env's observation is a function of its state (:meth:`diffenvs.contract.Task.observe`),
so sensor noise cannot come from a stateful generator without breaking ``set_state``,
replays and pure (compiled) steps. Instead each env carries an integer key in its state
and the noise of a reading is a hash of (key, counter, element): the same state always
sees the same noise, different steps and envs see independent noise.

The hash is SplitMix64's finaliser on wrapping ``int64`` arithmetic; normals come from
the Box-Muller transform of two 53-bit uniforms.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15 as int64
_M1 = -4658895280553007687  # 0xBF58476D1CE4E5B9
_M2 = -7723592293110705685  # 0x94D049BB133111EB


def _shift_right(z: Tensor, s: int) -> Tensor:
    """Logical right shift of int64 (torch's ``>>`` is arithmetic)."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def mix64(z: Tensor) -> Tensor:
    """SplitMix64's finaliser: a bijective scramble of ``int64`` values."""
    z = (z ^ _shift_right(z, 30)) * _M1
    z = (z ^ _shift_right(z, 27)) * _M2
    return z ^ _shift_right(z, 31)


def hashed_uniform(key: Tensor, counter: Tensor, n: int) -> Tensor:
    """``(N, n)`` float64 uniforms in ``[0, 1)`` for ``(N,)`` int64 ``key`` and ``counter``."""
    seed = mix64(key ^ mix64(counter * _GOLDEN + 1))
    index = torch.arange(1, n + 1, device=key.device, dtype=torch.int64)
    bits = mix64(seed.unsqueeze(-1) + index * _GOLDEN)
    return _shift_right(bits, 11).to(torch.float64) * 2.0**-53


def hashed_normal(key: Tensor, counter: Tensor, shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> Tensor:
    """``(N, *shape)`` standard normal values, a pure function of ``(key, counter)``."""
    n = math.prod(shape)
    m = (n + 1) // 2  # Box-Muller pairs: each gives two independent normals
    u = hashed_uniform(key, counter, 2 * m)
    radius = torch.sqrt(-2.0 * torch.log1p(-u[:, :m]))  # 1 - u in (0, 1]
    angle = 2.0 * math.pi * u[:, m:]
    z = torch.cat([radius * torch.cos(angle), radius * torch.sin(angle)], -1)[:, :n]
    return z.to(dtype).reshape(key.shape[0], *shape)
