"""Quaternion helpers.

Convention (stated once, used everywhere in diffenvs):

* A quaternion is stored as ``(w, x, y, z)`` with the scalar part first.
* Products are Hamilton products.
* A unit quaternion ``q`` describes the attitude of the body frame in the world
  frame: it rotates vectors from the body frame to the world frame,
  ``v_world = q ⊗ (0, v_body) ⊗ q*``.
* Frames: world is ENU-like with ``z`` up (gravity along ``-z``); body is FLU
  (``x`` forward, ``y`` left, ``z`` up along the collective thrust).

All functions are batched over leading dimensions, differentiable and free of
in-place writes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .consts import const


def quat_mul(a: Tensor, b: Tensor) -> Tensor:
    """Hamilton product ``a ⊗ b`` of ``(..., 4)`` quaternions."""
    aw, av = a[..., :1], a[..., 1:]
    bw, bv = b[..., :1], b[..., 1:]
    w = aw * bw - (av * bv).sum(-1, keepdim=True)
    v = aw * bv + bw * av + torch.linalg.cross(av, bv, dim=-1)
    return torch.cat([w, v], dim=-1)


def quat_conj(q: Tensor) -> Tensor:
    """Conjugate (the inverse of a unit quaternion)."""
    return torch.cat([q[..., :1], -q[..., 1:]], dim=-1)


def quat_rotate(q: Tensor, v: Tensor) -> Tensor:
    """Rotate ``(..., 3)`` vectors from body to world frame by unit quaternions ``q``."""
    w, u = q[..., :1], q[..., 1:]
    t = torch.linalg.cross(u, v, dim=-1)
    t = t + t  # 2 u x v (exactly; without a Python number's dtype copy)
    return v + w * t + torch.linalg.cross(u, t, dim=-1)


def quat_rotate_inverse(q: Tensor, v: Tensor) -> Tensor:
    """Rotate ``(..., 3)`` vectors from world to body frame (inverse of :func:`quat_rotate`)."""
    w, u = q[..., :1], q[..., 1:]
    t = torch.linalg.cross(u, v, dim=-1)
    t = t + t
    return v - w * t + torch.linalg.cross(u, t, dim=-1)


_EYE3 = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
_ROTMAT_SIGN = (-1.0, 1.0, 1.0, 1.0, -1.0, 1.0, 1.0, 1.0, -1.0)


def quat_to_rotmat(q: Tensor) -> Tensor:
    """Rotation matrix ``R`` (``(..., 3, 3)``) with ``v_world = R @ v_body``."""
    w, x, y, z = q.unbind(-1)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    # R = I + S * 2 (...) entrywise, with S = -1 on the diagonal: the same values as writing
    # 1 - 2 (yy + zz), 2 (xy - wz), ... out, in a few tensor operations.
    half = torch.stack([yy + zz, xy - wz, xz + wy, xy + wz, xx + zz, yz - wx, xz - wy, yz + wx, xx + yy], -1)
    m = const(_EYE3, q) + const(_ROTMAT_SIGN, q) * (half + half)
    return m.unflatten(-1, (3, 3))


def quat_normalize(q: Tensor) -> Tensor:
    """Project onto the unit sphere (differentiable)."""
    return q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)


def quat_from_axis_angle(axis: Tensor, angle: Tensor) -> Tensor:
    """Quaternion for a rotation of ``angle`` (rad, ``(...,)``) about unit ``axis`` (``(..., 3)``)."""
    half = 0.5 * angle.unsqueeze(-1)
    return torch.cat([torch.cos(half), torch.sin(half) * axis], dim=-1)


def quat_from_euler(roll: Tensor, pitch: Tensor, yaw: Tensor) -> Tensor:
    """Quaternion from intrinsic Z-Y-X (yaw, then pitch, then roll) Euler angles in rad."""
    cr, sr = torch.cos(0.5 * roll), torch.sin(0.5 * roll)
    cp, sp = torch.cos(0.5 * pitch), torch.sin(0.5 * pitch)
    cy, sy = torch.cos(0.5 * yaw), torch.sin(0.5 * yaw)
    return torch.stack(
        [
            cr * cp * cy + sr * sp * sy,
            sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
        ],
        dim=-1,
    )


def identity_quat(n: int, *, dtype: torch.dtype, device: torch.device | str) -> Tensor:
    """``(n, 4)`` identity quaternions."""
    q = torch.zeros(n, 4, dtype=dtype, device=device)
    q[:, 0] = 1.0
    return q
