"""Input validation at the API boundary: errors that name the problem and the fix."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def check_action_tensor(actions, env, *, stacked: bool = False) -> None:
    """Validate a ``step_differentiable`` action tensor's type, shape, dtype and device
    (``stacked``: a ``(steps, num_envs, action_dim)`` tensor for :meth:`~diffenvs.vector_env.DiffVectorEnv.rollout`).

    Finiteness is checked by the step itself (see :func:`check_finite_flag`), so that
    the check fuses into the compiled step.
    """
    who, layout = ("rollout()", "(steps, num_envs, action_dim)") if stacked else \
        ("step_differentiable()", "(num_envs, action_dim)")
    expected = (env.num_envs, env.action_dim)
    if not isinstance(actions, Tensor):
        raise TypeError(
            f"{who} expects a torch.Tensor of shape {layout}, got {type(actions).__name__}"
            + ("" if stacked else "; use step() for numpy actions")
        )
    if stacked:
        if actions.dim() != 3 or tuple(actions.shape[1:]) != expected or actions.shape[0] < 1:
            raise ValueError(f"actions must have shape (steps, {expected[0]}, {expected[1]}) {layout} with "
                             f"steps >= 1, got {tuple(actions.shape)}")
    elif tuple(actions.shape) != expected:
        raise ValueError(f"actions must have shape {expected} {layout}, got {tuple(actions.shape)}")
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
            bad = (~torch.isfinite(actions)).any(-1).nonzero()
            if actions.dim() == 3:  # a rollout's (steps, num_envs, action_dim) actions
                where = "(step, env row) " + ", ".join(str(tuple(p)) for p in bad[:10].tolist())
            else:
                where = f"env row(s) {bad.flatten()[:10].tolist()}"
            raise ValueError(f"actions contain NaN or inf in {where}; check the policy output")
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
    expected = (env.num_envs, env.action_dim)
    if tuple(a.shape) != expected:
        raise ValueError(f"actions must have shape {expected} (num_envs, action_dim), got {tuple(a.shape)}")
    return a


def check_state(state, env, mask: Tensor | None = None) -> dict[str, Tensor]:
    """Validate a state passed to ``set_state`` / ``reset(options={"state": ...})``.

    It must be a dict with exactly the env's fields (``env.state_spec``), each of shape
    ``(num_envs, *field.shape)`` and finite; the rows ``mask`` selects (all by default)
    must also be valid robot states and within the task's limits
    (:meth:`~diffenvs.contract.Task.limits`: a state beyond them, such as a position of
    1e20 m, would end its episode at once). Values are moved to the env's device and
    dtypes. Returns the validated (converted) state.
    """
    spec = env.state_spec
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict of tensors with fields {list(spec)} (take it from env.get_state()), "
                        f"got {type(state).__name__}")
    missing, extra = sorted(set(spec) - set(state)), sorted(set(state) - set(spec))
    if missing or extra:
        raise ValueError(f"state fields do not match the env: missing {missing}, unknown {extra}; "
                         f"take states from env.get_state()")
    out = {}
    for name, field in spec.items():
        value = state[name]
        if not isinstance(value, Tensor):
            value = torch.as_tensor(np.asarray(value))
        expected = (env.num_envs, *field.shape)
        if tuple(value.shape) != expected:
            raise ValueError(f"state[{name!r}] must have shape {expected} (num_envs, *{field.shape}), "
                             f"got {tuple(value.shape)}; take states from env.get_state()")
        dtype = field.torch_dtype(env.dtype)
        if field.dtype != "float" and value.is_floating_point():
            if not bool((value == value.round()).all()):
                raise ValueError(f"state[{name!r}] holds integers ({field.doc}); got non-integer values")
        if value.device != env.device or value.dtype != dtype:
            value = value.to(device=env.device, dtype=dtype)
        if field.dtype == "float" and not bool(torch.isfinite(value).all()):
            raise ValueError(f"state[{name!r}] contains NaN or inf")
        out[name] = value
    limit = env.max_episode_steps
    if bool((out["step"] < 0).any()) or (limit and bool((out["step"] > limit).any())):
        raise ValueError(f"state['step'] (steps taken in the episode) must lie in [0, max_episode_steps = {limit}]"
                         if limit else "state['step'] (steps taken in the episode) must be >= 0")
    used = out if mask is None else {k: v[mask] for k, v in out.items()}
    env.robot.validate_state(used)
    diverged, out_of_bounds = env.task.failure(out)
    failed = diverged | out_of_bounds
    if mask is not None:
        failed = failed & mask
    if bool(failed.any()):
        rows = failed.nonzero().flatten().tolist()
        shown = f"{rows[:8]}{' ...' if len(rows) > 8 else ''}"
        raise ValueError(f"state row(s) {shown} already fail the {env.task.name} task's limits ({env.task.limits()}); "
                         f"an episode cannot start there. Give states within the limits (e.g. from env.get_state())")
    return out


def check_seed(seed):
    """An ``int`` seed (numpy integers too), ``None``, or a one-element list of one.

    A batched diffenvs env draws every row from one generator, so a list of per-env seeds
    (as Gymnasium's ``SyncVectorEnv`` takes) cannot be honoured and is rejected rather than
    reduced to its first element.
    """
    if isinstance(seed, list | tuple):
        if len(seed) != 1:
            raise ValueError(f"seed must be one int for the whole batch (a diffenvs vector env draws every row from "
                             f"one generator), got a list of {len(seed)}; pass seed=<int>")
        seed = seed[0]
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int or None, got {seed!r}")
    return int(seed)


def check_reset_mask(mask, env) -> Tensor:
    """``reset(options={"reset_mask": ...})``: ``num_envs`` booleans (or 0/1 integers)."""
    if isinstance(mask, str | bytes):
        raise TypeError(f"reset_mask must be {env.num_envs} booleans, got a string {mask!r}")
    t = mask if isinstance(mask, Tensor) else torch.as_tensor(np.asarray(mask))
    if t.dtype != torch.bool:
        if t.is_complex() or not bool(((t == 0) | (t == 1)).all()):
            raise ValueError(f"reset_mask must hold booleans (or 0/1), got values other than 0 and 1 ({t.dtype})")
    t = t.to(device=env.device, dtype=torch.bool).reshape(-1)
    if t.shape != (env.num_envs,):
        raise ValueError(f"reset_mask must have shape ({env.num_envs},), got {tuple(np.shape(mask))}")
    return t
