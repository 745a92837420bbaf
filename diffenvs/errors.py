"""Input validation at the API boundary: errors that name the problem and the fix."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def check_action_tensor(actions, env) -> None:
    """Validate a ``step_differentiable`` action tensor's type, shape, dtype and device.

    Finiteness is checked by the step itself (see :func:`check_finite_flag`), so that
    the check fuses into the compiled step.
    """
    if not isinstance(actions, Tensor):
        raise TypeError(
            f"step_differentiable() expects a torch.Tensor of shape ({env.num_envs}, 4), got "
            f"{type(actions).__name__}; use step() for numpy actions"
        )
    expected = (env.num_envs, 4)
    if tuple(actions.shape) != expected:
        raise ValueError(f"actions must have shape {expected} (num_envs, rotors), got {tuple(actions.shape)}")
    if actions.dtype != env.dtype:
        raise TypeError(
            f"actions have dtype {actions.dtype} but the env runs in {env.dtype}; cast with actions.to(env.dtype)"
        )
    if actions.device != env.device:
        raise ValueError(
            f"actions are on device {actions.device} but the env runs on {env.device}; move them with "
            f"actions.to(env.device)"
        )


def check_finite_flag(finite: Tensor, actions: Tensor) -> None:
    """Raise if the step found non-finite actions (``finite`` is a 0-dim bool tensor).

    On CPU this is a host-side check, which involves no device synchronisation. On an
    accelerator it is a device-side assertion, so the step never waits for the device.
    """
    if finite.device.type == "cpu":
        if not finite:
            rows = (~torch.isfinite(actions)).any(-1).nonzero().flatten().tolist()
            raise ValueError(f"actions contain NaN or inf in env row(s) {rows[:10]}; check the policy output")
    else:
        torch._assert_async(finite, "actions contain NaN or inf")


def to_action_tensor(actions, env) -> Tensor:
    """Convert Gymnasium-style numpy actions to a validated tensor on the env's device."""
    if isinstance(actions, Tensor):
        a = actions.detach()
        if a.dtype != env.dtype or a.device != env.device:
            a = a.to(device=env.device, dtype=env.dtype)
    else:
        arr = np.asarray(actions)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"actions must be a numeric array, got dtype {arr.dtype}")
        a = torch.as_tensor(arr, device=env.device).to(env.dtype)
    expected = (env.num_envs, 4)
    if tuple(a.shape) != expected:
        raise ValueError(f"actions must have shape {expected} (num_envs, rotors), got {tuple(a.shape)}")
    return a


def check_state_tensor(state, env) -> Tensor:
    """Validate states passed to ``set_state`` / ``reset(options={"state": ...})``."""
    if not isinstance(state, Tensor):
        state = torch.as_tensor(np.asarray(state))
    expected = (env.num_envs, env.state_dim)
    if tuple(state.shape) != expected:
        raise ValueError(
            f"state must have shape {expected} (num_envs, state_dim), got {tuple(state.shape)}; "
            f"take states from env.get_state()"
        )
    if state.device != env.device or state.dtype != env.dtype:
        state = state.to(device=env.device, dtype=env.dtype)
    if not bool(torch.isfinite(state).all()):
        raise ValueError("state contains NaN or inf")
    q = state[:, 3:7]
    qn = torch.linalg.vector_norm(q, dim=-1)
    if not bool(((qn - 1).abs() < 1e-3).all()):
        raise ValueError("state quaternions (columns 3:7) must be unit length (w, x, y, z)")
    return state
