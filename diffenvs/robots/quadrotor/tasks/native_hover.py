"""The whole ``DiffQuad-Hover``, ``-Tracking``, ``-Landing`` and ``-Racing`` env step as one native call, forward
and backward.

:func:`make` gives the env a replacement of :meth:`~diffenvs.vector_env.DiffVectorEnv.transition`
(see :meth:`~diffenvs.contract.Task.native_transition`) that does in one pass of
``native_hover.c`` what the generic transition does in about two hundred tensor operations: the
clamped actions, the drone's Euler step (``fused_euler.c``), failure checks, reward terms,
metrics, termination, truncation, the observation, the running return and the autoreset; its
backward is that file's vector-Jacobian product, one more pass. Hover and Tracking share everything
but the reference (Hover's fixed target is Tracking's point on a circle with radius 0 and one
observed point); Landing keeps the step and observation and has its own reward kind (shaped terms
toward the pad, a touch-down bonus that ends the episode, no task state); Racing observes the next two
gates and keeps its integer task state (next gate, gates passed, lap timing) in the kernel, with the
skeleton's terms toward the next gate and the gate bonus as a sixth term (or, with the velocity reward,
approach, away and rate terms and the bonus). It returns the same
tuple, equal to float rounding (``tests/contract/test_contract_native.py`` compares the two, values
and gradients), :meth:`HoverStep.rollout` unrolls several steps in one call, and
:meth:`HoverStep.numpy_step` is the env's Gymnasium ``step()`` itself, the kernel writing into
output buffers kept from call to call (bit for bit the generic ``step()``'s results).

It is used where it covers the configuration exactly: the Hover, Tracking, Landing or Racing task
itself (not a subclass; Racing with either reward, RacingVelocity), the quadrotor's
fused Euler step (CPU, float32/float64, a C compiler; ``fused=False`` turns both off), autoreset on,
no ``grad_decay`` and no detached reward terms, not compiled. Anything else keeps the generic transition.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np
import torch
from torch import Tensor

from .... import native
from ....contract import REWARD_PREFIX
from ....errors import check_finite_flag, to_action_tensor
from .base import POS_SCALE, RATE_SCALE, VEL_SCALE

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "native_hover.c")
_DTYPES = {torch.float32: "f32", torch.float64: "f64"}
_ROBOT = ("pos", "quat", "vel", "omega", "thrust")
# The kernel's output rows (native_hover.c, VEC) hold the new (post-reset) robot fields and
# observation, then the pre-reset ones; then scalar outputs, integer and flag columns in its order.
_ROBOT_SPLIT = (3, 4, 3, 3, 4)
_N_TERMS = 6  # reward-term slots (Racing's six; the others use five)
_N_SCALARS = 7 + _N_TERMS  # new and pre-reset pos_error_sum, reward, the terms, return, final return, 2 metrics
_S_RET = 3 + _N_TERMS  # return, final return and the two metrics follow the terms
_N_FLAGS = 7  # terminated, truncated, diverged, out_of_bounds, done, success, gate passed
_GRAD_SPLIT = (3, 4, 3, 3, 4, 4, 1)  # robot fields, actions, pos_error_sum
_ARGS, _GRAD_ARGS = 52, 52  # 8-byte members of HoverArgs and HoverGradArgs
_SKELETON, _LANDING, _RACING, _RACING_VEL = 0, 1, 2, 3  # the reward kinds of native_hover.c (KIND_*)
_ROLLOUT_ARGS, _ROLLOUT_GRAD_ARGS = _ARGS + 11, _GRAD_ARGS + 11  # HoverRolloutArgs, HoverRolloutGradArgs
_FRESH, _FRESH_TASK = slice(25, 41), 50  # HoverArgs' episode starts: the fields' (and obs) pointers, the task's


def _load() -> dict[torch.dtype, tuple] | None:
    return native.kernels(SOURCE, _DTYPES, {name: [ctypes.c_void_p] for name in (
        "hover_step", "hover_vjp", "hover_rollout", "hover_rollout_vjp")})


def make(env) -> HoverStep | None:
    """The fused transition of ``env``, a Hover, Tracking, Landing or Racing env (the task itself, not a
    subclass: each of these tasks calls this only when ``type(self)`` is its own class), or ``None``
    where the configuration is not covered."""
    robot = env.robot
    if (getattr(robot, "fused_params", None) is None
            or env.grad_decay != 1.0 or env.detach_reward_terms or not env.autoreset or env.compiled
            or env.device.type != "cpu" or env.dtype not in _DTYPES or _load() is None):
        return None
    return HoverStep(env)


def _ptr(x: Tensor | None) -> tuple[int, int]:
    """Data pointer and row stride of a ``(N,)`` or ``(N, k)`` tensor whose columns are contiguous
    (``None``: a null pointer)."""
    return (0, 0) if x is None else (x.data_ptr(), x.stride(0))


def _rows(x: Tensor) -> Tensor:
    """``x`` with contiguous columns (copied only if they are not)."""
    return x if x.dim() == 1 or x.stride(1) == 1 else x.contiguous()


def _steps(x: Tensor | None, vector: bool) -> tuple[Tensor | None, int, int, int]:
    """A ``(steps, N)`` (``vector=False``) or ``(steps, N, k)`` tensor with contiguous columns
    (copied only if they are not), its data pointer, row stride and step stride (``None``: a null pointer)."""
    if x is None:
        return None, 0, 0, 0
    if vector and x.stride(2) != 1:
        x = x.contiguous()
    return x, x.data_ptr(), x.stride(1), x.stride(0)


class HoverStep:
    """The env's transition as one native call (see the module docstring); call it as
    :meth:`~diffenvs.vector_env.DiffVectorEnv.transition`."""

    #: The kernel observes the episode starts it restarts rows from when not given their
    #: observations, so the env need not observe its pool of starts in advance.
    observes_starts = True

    def __init__(self, env):
        task, cfg = env.task, env.task.cfg
        self.env, self.n, self.dtype = env, env.num_envs, env.dtype
        self.params = env.robot.fused_params
        limits = task._limits_sq.double().tolist()
        if hasattr(task, "gates"):  # Racing, with its position or velocity reward
            self.kind = _RACING if cfg.reward == "position" else _RACING_VEL
        else:
            self.kind = _LANDING if task.name == "landing" else _SKELETON
        self.has_pes = "pos_error_sum" in task.state_fields
        #: Racing's integer task-state fields, kept in the kernel's integer columns.
        self.task_keys = tuple(task.state_fields) if self.kind in (_RACING, _RACING_VEL) else ()
        extra = []
        if self.task_keys:  # the next two gates (their offsets unused), then count, radius, bonus, centres
            reference = [0.0, 0.0, 0.0, 0.0, 0.0, env.dt, 0.0, 0.0]
            extra = [task.num_gates, cfg.gate_radius, task.gate_reward, *task.gates.double().flatten().tolist()]
        elif hasattr(task, "offsets"):  # Tracking: K points on a circle, at their time offsets
            reference = [*cfg.center, cfg.radius, cfg.angular_speed, env.dt, *task.offsets.double().tolist()]
        elif self.kind == _LANDING:  # Landing: the pad, one fixed point
            reference = [*cfg.pad, 0.0, 0.0, env.dt, env.dt]
            extra = [cfg.xy_scale, cfg.z_min, cfg.z_max, cfg.success_height, cfg.success_speed]
        else:  # Hover: one fixed point
            reference = [*cfg.target, 0.0, 0.0, env.dt, env.dt]
        if self.kind == _LANDING:
            weights = [cfg.w_xy * task.eta_norm, cfg.w_z * task.eta_norm, task.log_eta, cfg.success_reward,
                       cfg.failure_reward, cfg.success_xy]
            self.metric_order = (2, 0, 1)  # success, xy_error, height
        elif self.task_keys:
            if self.kind == _RACING:
                weights = [cfg.c, cfg.k_pos, cfg.k_quat, cfg.k_vel, cfg.k_rate, 0.0]
            else:
                weights = [cfg.k_approach, -cfg.k_away, -cfg.k_rate_vel, cfg.max_approach_speed, 0.0, 0.0]
            self.metric_order = (0, 1, 3, 2)  # gates_passed, lap_time, gate_passed, success
        else:
            weights = [cfg.c, cfg.k_pos, cfg.k_quat, cfg.k_vel, cfg.k_rate, cfg.success_radius]
            self.metric_order = (0, 1, 2)  # pos_error, mean_pos_error, success
        self.points = len(reference) - 6
        obs = 3 * self.points + 10
        self.vec_split = (*_ROBOT_SPLIT, obs) * 2
        self.obs_cols = (slice(17, 17 + obs), slice(34 + obs, 34 + 2 * obs))  # new and pre-reset obs
        self.consts = torch.tensor([*reference[:3], *task._arena_center.double().tolist(),
                                    *task._arena_half.double().tolist(), *limits, *weights, POS_SCALE, VEL_SCALE,
                                    RATE_SCALE, *reference[3:], *extra], dtype=self.dtype)
        self.fwd, self.vjp, self.fwd_steps, self.vjp_steps = _load()[self.dtype]
        self.head = (self.n, int(env.robot.motor_lag), env.max_episode_steps, self.points, self.kind,
                     self.params.data_ptr(), self.consts.data_ptr())
        self.args = (ctypes.c_int64 * _ARGS)()
        self.grad_args = (ctypes.c_int64 * _GRAD_ARGS)()
        self.rollout_args = (ctypes.c_int64 * _ROLLOUT_ARGS)()
        self.rollout_grad_args = (ctypes.c_int64 * _ROLLOUT_GRAD_ARGS)()
        self.ti = len(self.task_keys)
        self.n_ints = 2 + 2 * self.ti  # step counts, new and pre-reset task fields
        # Steps per rollout call: about 128k drone-steps, whose buffers (about 30 MB in float32)
        # the allocator reuses; a larger buffer is mapped afresh at every call, page by page, which
        # made a 96-step unroll of 16384 drones with its backward 2.5x slower than in chunks of 8.
        self.rollout_steps = max(1, 131072 // self.n)
        self.term_keys = tuple(REWARD_PREFIX + t for t in task.reward_term_names)
        # Terms the task declares non-differentiable (a bonus, a penalty) leave the step detached,
        # as the generic step leaves them; the kernel gives them no gradient either way.
        self.detached_terms = tuple(not t.differentiable for t in task.reward_terms)
        self.metric_keys = tuple(task.metric_names)
        # The Gymnasium step's state (numpy_step): its two sets of buffers, the one the env's tensors
        # are in, the actions buffer and the episode starts' arguments for the env's current pool.
        self.slots: list[_Slot | None] = [None, None]
        self.cur: int | None = None
        self.actions = torch.empty(self.n, 4, dtype=self.dtype)
        self.np_actions = self.actions.numpy()
        self._table: tuple = (None, None, None)

    def _covers(self, actions: Tensor, fresh, fresh_obs, counters, shape: tuple) -> bool:
        """Whether a call's arguments and the env's settings now (some may change after
        construction) are what the kernel covers; the generic code handles the rest."""
        env = self.env
        return not (fresh is None or counters is None or actions.dtype != self.dtype
                    or actions.shape != shape or actions.device.type != "cpu" or env.detach_reward_terms
                    or env.grad_decay != 1.0)

    def __call__(self, state, actions, episode_return, fresh=None, fresh_obs=None, counters=None):
        if not self._covers(actions, fresh, fresh_obs, counters, (self.n, 4)):
            return self.env.transition(state, actions, episode_return, fresh, fresh_obs, counters)
        xs, side = self._inputs(state, _rows(actions), episode_return, fresh, fresh_obs, counters)
        if torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in xs):
            diff = _HoverStepFn.apply(self, side, *xs)
        else:
            diff = self.forward(xs, side)
        return self._assemble(diff, side)

    def _inputs(self, state, actions: Tensor, episode_return: Tensor, fresh, fresh_obs, counters) -> tuple[list, list]:
        """The kernel's differentiable inputs ``xs`` (robot fields with contiguous columns,
        pos_error_sum, ``actions``) and the others, ``side``."""
        xs = [_rows(state[k]) for k in _ROBOT]
        xs += [state["pos_error_sum"] if self.has_pes else None, actions]
        return xs, [state["step"], episode_return, fresh, fresh_obs, counters, self._task_ints(state)]

    def _task_ints(self, state, dim: int = 0) -> Tensor | None:
        """Racing's integer task fields of ``state`` stacked along ``dim`` (``None`` for the other tasks)."""
        return torch.stack([state[k] for k in self.task_keys], dim) if self.ti else None

    def _task_args(self, task: Tensor | None, fresh_task: Tensor | None) -> tuple[int, ...]:
        """The kernel's TI, the task fields' and the starts' task fields' pointers and column strides."""
        if task is None:
            return (0, 0, 0, 0, 0)
        return (self.ti, task.data_ptr(), task.stride(-2), fresh_task.data_ptr(), fresh_task.stride(-2))

    def _buffers(self, *lead: int) -> tuple[Tensor, ...]:
        """New output buffers for one kernel call (``lead``: a rollout's steps): the robot fields and
        observations, the scalar outputs, the integer columns, the flags and the counters."""
        n, dtype = self.n, self.dtype
        return (torch.empty(*lead, n, sum(self.vec_split), dtype=dtype),
                torch.empty(*lead, _N_SCALARS, n, dtype=dtype),
                torch.empty(*lead, self.n_ints, n, dtype=torch.int64),
                torch.empty(*lead, _N_FLAGS * n + 1, dtype=torch.bool),
                torch.empty(*lead, 2, dtype=torch.int64))

    def _args(self, xs: list[Tensor | None], side: list, outs: tuple[Tensor, ...]) -> tuple[list[int], list]:
        """The kernel's arguments (``HoverArgs``): the inputs ``xs`` and ``side``, the buffers ``outs``;
        and the tensors made for them here, to keep alive until the kernel has run."""
        step, ret, fresh, fresh_obs, counters, task = side
        f = [_rows(fresh[k]) for k in _ROBOT]
        fresh_obs = None if fresh_obs is None else _rows(fresh_obs)
        fresh_task = self._task_ints(fresh)
        return [
            *self.head, *_ptr(xs[0]), *_ptr(xs[1]), *_ptr(xs[2]), *_ptr(xs[3]), *_ptr(xs[4]), *_ptr(xs[5]),
            *_ptr(step), *_ptr(xs[6]), *_ptr(ret),
            *_ptr(f[0]), *_ptr(f[1]), *_ptr(f[2]), *_ptr(f[3]), *_ptr(f[4]), *_ptr(fresh.get("pos_error_sum")),
            *_ptr(fresh["step"]), *_ptr(fresh_obs), counters.data_ptr(),
            *(x.data_ptr() for x in outs), *self._task_args(task, fresh_task)], [f, fresh_obs, fresh_task]

    def forward(self, xs: list[Tensor], side: list) -> tuple[Tensor, ...]:
        """Run the kernel; returns the differentiable outputs and leaves the others in ``side``."""
        outs = self._buffers()
        self.args[:], _made = self._args(xs, side, outs)  # (_made: alive until the kernel has run)
        self.fwd(ctypes.addressof(self.args))
        return self._views(outs, side)

    def _views(self, outs: tuple[Tensor, ...], side: list) -> tuple[Tensor, ...]:
        """The differentiable outputs as views of a call's buffers ``outs``; the others go into ``side``."""
        vec, sca, ints, flags, counters_out = outs
        v = vec.split(self.vec_split, 1)
        s = sca.unbind(0)
        side[:] = [v[6:11], s[1], ints.unbind(0), flags[:-1].view(_N_FLAGS, self.n).unbind(0), flags[-1],
                   *s[_S_RET:_S_RET + 4], counters_out, vec, flags, ints]
        # new robot fields, new pos_error_sum, new obs, pre-reset obs, reward, terms
        return (*v[:5], s[0], v[5], v[11], s[2], *s[3:3 + len(self.term_keys)])

    def backward(self, saved: tuple[Tensor, ...], vec: Tensor, flags: Tensor, ints: Tensor,
                 grads) -> tuple[Tensor, ...]:
        """Gradients of the inputs (robot fields, pos_error_sum, actions) from those of the outputs."""
        n = self.n
        quat, vel, omega, thrust, actions = saved
        out = torch.empty(n, sum(_GRAD_SPLIT), dtype=self.dtype)
        g = [None if x is None else _rows(x) for x in grads]
        ptrs = [(0, 0) if x is None else _ptr(x) for x in g]
        g_new, g_pes, g_obs, g_final, g_reward, g_terms = ptrs[:5], ptrs[5], ptrs[6], ptrs[7], ptrs[8], ptrs[9:]
        g_terms += [(0, 0)] * (_N_TERMS - len(g_terms))
        self.grad_args[:] = [
            n, self.head[1], self.points, self.kind, self.head[5], self.head[6], *_ptr(quat), *_ptr(vel), *_ptr(omega),
            *_ptr(thrust), *_ptr(actions), vec.data_ptr(), flags.data_ptr(), ints[1].data_ptr(),
            *(p for p, _ in g_new), *(s for _, s in g_new),
            *g_pes, *g_obs, *g_final, *g_reward, *(p for p, _ in g_terms), *(s for _, s in g_terms),
            out.data_ptr(), self.ti, ints[2 + self.ti].data_ptr() if self.ti else 0]
        self.vjp(ctypes.addressof(self.grad_args))
        gp, gq, gv, gw, gf, ga, gpes = out.split(_GRAD_SPLIT, 1)
        return gp, gq, gv, gw, gf, gpes.squeeze(1) if self.has_pes else None, ga

    def _terms(self, diff: tuple[Tensor, ...]) -> list[Tensor]:
        terms = diff[9:9 + len(self.term_keys)]
        return [t.detach() if d else t for t, d in zip(terms, self.detached_terms)]

    def _assemble(self, diff: tuple[Tensor, ...], side: list):
        (next_robot, next_pes, (new_step, next_step, *task_cols), flag_cols, actions_finite, ret, ret_final,
         err, mean_err, counters, _, _, _) = side
        terminated, truncated, diverged, out_of_bounds, done, success, gate = flag_cols
        *new_robot, new_pes, new_obs, final_obs, reward = diff[:9]
        terms = self._terms(diff)
        new_state = dict(zip(_ROBOT, new_robot))
        new_state["step"] = new_step
        next_state = dict(zip(_ROBOT, next_robot))
        next_state["step"] = next_step
        if self.has_pes:
            new_state["pos_error_sum"] = new_pes
            next_state["pos_error_sum"] = next_pes
        new_state.update(zip(self.task_keys, task_cols[:self.ti]))
        next_state.update(zip(self.task_keys, task_cols[self.ti:]))
        values = (err, mean_err, success, gate)
        metrics = dict(zip(self.metric_keys, (values[i] for i in self.metric_order)))
        info = dict(metrics)
        info.update(zip(self.term_keys, terms))
        info["diverged"] = diverged
        info["out_of_bounds"] = out_of_bounds
        final_info = dict(metrics)
        final_info["episode_return"] = ret_final
        final_info["episode_length"] = next_step
        info["final_obs"] = final_obs
        info["_final_obs"] = done
        info["final_info"] = final_info
        info["_final_info"] = done
        return (new_state, new_obs, reward, terminated, truncated, info, ret, next_state, counters, actions_finite)

    # ----------------------------------------------------------------- the Gymnasium step
    def numpy_step(self, actions):
        """The env's Gymnasium :meth:`~diffenvs.vector_env.DiffVectorEnv.step` (numpy in and out, no graph) in one
        kernel call that writes into buffers kept from call to call.

        Two sets of output buffers (:class:`_Slot`) are written in turn, each with the views the env
        and the step's numpy outputs take of it made once (making and viewing five new tensors was
        about half of a step's time at small batches), and with the kernel's arguments for a call that
        reads the other set prepared once. The env's current state, observation, returns and counters
        are the last call's buffers until something reads them (``diffenvs.vector_env._current``), which
        hands that set over for good (:meth:`release`). The results are those of the generic step, bit
        for bit. Returns ``None`` where the call is not covered (the env's settings changed since
        construction): the env then steps the generic way.
        """
        env = self.env
        if env.detach_reward_terms or env.grad_decay != 1.0 or not env.autoreset:
            return None
        a = self.np_actions
        if type(actions) is np.ndarray and actions.shape == a.shape and actions.dtype.kind == "f":
            np.copyto(a, actions, casting="same_kind")
        else:  # anything else is checked and converted as the generic step does
            self.actions.copy_(to_action_tensor(actions, env))
        cur = self.cur
        out_i = 0 if cur is None else 1 - cur
        slot = self.slots[out_i] or self._new_slot(out_i)
        state, ret, counters = env._peek()
        inp = None if cur is None else self.slots[cur]
        if inp is not None and state is inp.state and ret is inp.ret and counters is inp.counters:
            args = slot.after.get(cur) or slot.reading(cur, self._slot_args(slot, inp))
        else:  # the env's tensors came from elsewhere (a reset, set_state, a differentiable step)
            # (the state itself stands in for the episode starts, whose pointers are set below;
            # xs and side stay alive until the kernel has run)
            xs, side = self._inputs(state, self.actions, ret, state, None, counters)
            args = slot.reading(None, self._args(xs, side, slot.outs)[0])
        before = env._pool_next
        i = env._next_start()
        fresh, fresh_task = self._fresh_table(env._pool_stack)
        args[0][_FRESH] = fresh[i]
        if fresh_task is not None:
            args[0][_FRESH_TASK] = fresh_task[i]
        self.fwd(args[1])
        if env.check_inputs and not slot.finite[0]:
            env._unuse_start(before)  # as if this call never happened
            check_finite_flag(slot.finite_t, self.actions)
        env._lend(self, slot.state, slot.obs, slot.ret, slot.counters)
        self.cur = out_i
        obs, reward, terminated, truncated, info = slot.gym
        return obs.astype(np.float32), reward.astype(np.float32), terminated.copy(), truncated.copy(), _copy(info)

    def release(self) -> None:
        """The env's current tensors (the last :meth:`numpy_step`'s buffers) were read: leave them to
        their reader; the next call makes a new set in their place."""
        self.slots[self.cur] = None
        self.cur = None
        for slot in self.slots:
            if slot is not None:
                slot.after.clear()

    def _new_slot(self, i: int) -> _Slot:
        self.slots[i] = slot = _Slot(self)
        for other in self.slots:
            if other is not None:
                other.after.clear()  # (they read set i's old buffers)
        return slot

    def _slot_args(self, slot: _Slot, inp: _Slot) -> list[int]:
        """The kernel's arguments for a call reading set ``inp`` and writing set ``slot`` (the
        episode starts' pointers are filled in at each call)."""
        state = inp.state
        xs = [*(state[k] for k in _ROBOT), state.get("pos_error_sum"), self.actions]
        task = inp.outs[2][2:2 + self.ti] if self.ti else None  # the task fields' rows, in place
        # (the episode starts' pointers, the only temporaries, are replaced at every call)
        return self._args(xs, [state["step"], inp.ret, state, None, inp.counters, task], slot.outs)[0]

    def _fresh_table(self, stack) -> tuple[np.ndarray, np.ndarray | None]:
        """The kernel's episode-start arguments for each batch of the env's pool ``stack`` (made once
        per pool): ``(batches, 16)`` pointers and strides, and the task fields' pointers (Racing)."""
        if self._table[0] is stack:
            return self._table[1]
        starts, starts_obs = stack
        kept, cols = [], []
        for k in (*_ROBOT, "pos_error_sum", "step"):
            v = starts.get(k)
            if v is None:
                cols += [np.zeros(1, np.int64)] * 2
                continue
            if v.dim() > 2 and v.stride(2) != 1:
                v = v.contiguous()
            kept.append(v)
            cols += [_batch_ptrs(v), np.full(1, v.stride(1), np.int64)]
        if starts_obs is None:
            cols += [np.zeros(1, np.int64)] * 2
        else:
            v = starts_obs if starts_obs.stride(2) == 1 else starts_obs.contiguous()
            kept.append(v)
            cols += [_batch_ptrs(v), np.full(1, v.stride(1), np.int64)]
        batches = max(len(c) for c in cols)
        table = np.stack([np.broadcast_to(c, (batches,)) for c in cols], 1)
        task = None
        if self.ti:
            t = torch.stack([starts[k] for k in self.task_keys], 1)  # (batches, TI, N)
            kept.append(t)
            task = _batch_ptrs(t)
        self._table = (stack, (table, task), kept)
        return self._table[1]

    # ----------------------------------------------------------------- several steps
    def rollout(self, state, obs, actions, episode_return, fresh=None, fresh_obs=None, counters=None):
        """``actions.shape[0]`` steps under the given ``(steps, N, 4)`` actions in one native call
        (and one for their backward): what the env's step-by-step rollout returns, ``(state, obs,
        stacked info, episode_return, counters, actions_finite)``."""
        steps = actions.shape[0]
        if not self._covers(actions, fresh, fresh_obs, counters, (steps, self.n, 4)):
            return self.env._rollout_steps(state, obs, actions, None, steps, episode_return, fresh, fresh_obs,
                                           counters)
        xs, side = self._inputs(state, actions, episode_return, fresh, fresh_obs, counters)
        if torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in xs):
            diff = _HoverRolloutFn.apply(self, side, *xs)
        else:
            diff = self.forward_steps(xs, side)
        return self._assemble_steps(diff, side, actions)

    def forward_steps(self, xs: list[Tensor], side: list) -> tuple[Tensor, ...]:
        """:meth:`forward` for a rollout: one kernel call for every step."""
        step, ret, fresh, fresh_obs, counters, task = side
        steps = xs[6].shape[0]
        fresh_task = self._task_ints(fresh, 1)  # (steps, TI, N)
        actions, a_ptr, a_row, a_step = _steps(xs[6], True)
        vec, sca, ints, flags, counters_out = self._buffers(steps)
        f = [_steps(fresh[k], True) for k in _ROBOT]
        f += [_steps(fresh.get("pos_error_sum"), False), _steps(fresh["step"], False),
              (None, 0, 0, 0) if fresh_obs is None else _steps(fresh_obs, True)]
        self.rollout_args[:] = [
            *self.head, *_ptr(xs[0]), *_ptr(xs[1]), *_ptr(xs[2]), *_ptr(xs[3]), *_ptr(xs[4]), *_ptr(xs[5]),
            *_ptr(step), a_ptr, a_row, *_ptr(ret), *(v for x in f for v in x[1:3]), counters.data_ptr(),
            vec.data_ptr(), sca.data_ptr(), ints.data_ptr(), flags.data_ptr(), counters_out.data_ptr(),
            *self._task_args(task, fresh_task), steps, a_step, *(x[3] for x in f),
            fresh_task.stride(0) if self.ti else 0]
        self.fwd_steps(ctypes.addressof(self.rollout_args))
        side[:] = [sca, ints, flags, counters_out, vec, actions]
        last = vec[-1]
        # final robot fields and pos_error_sum, then per step: obs, pre-reset obs, reward, terms
        new_obs, final_obs = self.obs_cols
        return (*last[:, :17].split(_ROBOT_SPLIT, 1), sca[-1, 0], vec[:, :, new_obs], vec[:, :, final_obs], sca[:, 2],
                *sca[:, 3:3 + len(self.term_keys)].unbind(1))

    def backward_steps(self, saved: tuple[Tensor, ...], vec: Tensor, flags: Tensor, ints: Tensor,
                       grads) -> tuple[Tensor, ...]:
        """:meth:`backward` for a rollout: one kernel call for every step, last step first."""
        n = self.n
        quat, vel, omega, thrust, actions = saved
        steps = actions.shape[0]
        out = torch.empty(steps, n, sum(_GRAD_SPLIT), dtype=self.dtype)
        kept = [None if x is None else _rows(x) for x in grads[:5]]  # (alive until the kernel has run)
        g_new = [(0, 0) if x is None else _ptr(x) for x in kept]
        g_pes = (0, 0) if grads[5] is None else _ptr(grads[5])
        per_step = [(None, 0, 0, 0) if x is None else _steps(x, i < 2) for i, x in enumerate(grads[6:])]
        (_, *g_obs), (_, *g_final), (_, *g_reward) = per_step[:3]
        g_terms = per_step[3:] + [(None, 0, 0, 0)] * (_N_TERMS - len(per_step[3:]))
        self.rollout_grad_args[:] = [
            n, self.head[1], self.points, self.kind, self.head[5], self.head[6], *_ptr(quat), *_ptr(vel), *_ptr(omega),
            *_ptr(thrust), actions.data_ptr(), actions.stride(1), vec.data_ptr(), flags.data_ptr(),
            ints[0, 1].data_ptr(),
            *(p for p, _ in g_new), *(s for _, s in g_new), *g_pes, *g_obs[:2], *g_final[:2], *g_reward[:2],
            *(t[1] for t in g_terms), *(t[2] for t in g_terms), out.data_ptr(),
            self.ti, ints[0, 2 + self.ti].data_ptr() if self.ti else 0,
            steps, actions.stride(0), g_obs[2], g_final[2], g_reward[2], *(t[3] for t in g_terms)]
        self.vjp_steps(ctypes.addressof(self.rollout_grad_args))
        gp, gq, gv, gw, gf, _, gpes = out[0].split(_GRAD_SPLIT, 1)
        return gp, gq, gv, gw, gf, gpes.squeeze(1) if self.has_pes else None, out[:, :, 17:21]

    def _assemble_steps(self, diff: tuple[Tensor, ...], side: list, actions: Tensor):
        sca, ints, flags, counters_out, _, _ = side
        n = self.n
        *new_robot, new_pes, obs, final_obs, reward = diff[:9]
        terms = self._terms(diff)
        terminated, truncated, diverged, out_of_bounds, done, success, gate = flags[:, :-1].unflatten(
            1, (_N_FLAGS, n)).unbind(1)
        state = dict(zip(_ROBOT, new_robot))
        state["step"] = ints[-1, 0]
        if self.has_pes:
            state["pos_error_sum"] = new_pes
        state.update(zip(self.task_keys, ints[-1, 2:2 + self.ti]))
        values = (sca[:, _S_RET + 2], sca[:, _S_RET + 3], success, gate)
        metrics = dict(zip(self.metric_keys, (values[i] for i in self.metric_order)))
        info = dict(metrics)
        info.update(zip(self.term_keys, terms))
        info["diverged"] = diverged
        info["out_of_bounds"] = out_of_bounds
        final_info = dict(metrics)
        final_info["episode_return"] = sca[:, _S_RET + 1]
        final_info["episode_length"] = ints[:, 1]
        info["final_obs"] = final_obs
        info["_final_obs"] = done
        info["final_info"] = final_info
        info["_final_info"] = done
        info.update(obs=obs, reward=reward, terminated=terminated, truncated=truncated, actions=actions)
        return state, obs[-1], info, sca[-1, _S_RET], counters_out[-1], flags[:, -1].all()


class _Slot:
    """One set of the kernel's output buffers for :meth:`HoverStep.numpy_step`, with every view of
    them the env and the Gymnasium outputs take, made once."""

    def __init__(self, owner: HoverStep):
        self.outs = owner._buffers()
        side = [None] * 6
        diff = owner._views(self.outs, side)
        self.state, self.obs, reward, terminated, truncated, info, self.ret, _, self.counters, _ = \
            owner._assemble(diff, side)
        self.gym = (self.obs.numpy(), reward.numpy(), terminated.numpy(), truncated.numpy(), _numpy(info))
        self.finite_t = self.outs[3][-1]  # the actions were finite
        self.finite = self.finite_t.view(1).numpy()
        #: The kernel's arguments, a numpy array and its address, for a call reading the set with this
        #: index (``None``: the env's tensors of the moment, rebuilt at each call).
        self.after: dict[int | None, tuple[np.ndarray, int]] = {}

    def reading(self, key: int | None, args: list[int]) -> tuple[np.ndarray, int]:
        arr = np.array(args, dtype=np.int64)
        self.after[key] = entry = (arr, arr.ctypes.data)
        return entry


def _batch_ptrs(v: Tensor) -> np.ndarray:
    """The data pointers of ``v[i]`` for every ``i`` (its batches of episode starts)."""
    return v.data_ptr() + np.arange(v.shape[0], dtype=np.int64) * (v.stride(0) * v.element_size())


def _numpy(tree):
    """A (nested) dict of host tensors without graph as numpy views of them."""
    return {k: _numpy(v) for k, v in tree.items()} if isinstance(tree, dict) else tree.numpy()


def _copy(tree):
    """Copies of the arrays of a (nested) dict of numpy arrays."""
    return {k: v.copy() if type(v) is np.ndarray else _copy(v) for k, v in tree.items()}


class _HoverStepFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, owner: HoverStep, side: list, pos, quat, vel, omega, thrust, pes, actions):
        outs = owner.forward([pos, quat, vel, omega, thrust, pes, actions], side)
        ctx.owner, ctx.vec, ctx.flags, ctx.ints = owner, side[-3], side[-2], side[-1]
        ctx.save_for_backward(quat, vel, omega, thrust, actions)
        ctx.set_materialize_grads(False)
        return outs

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grads):
        return (None, None, *ctx.owner.backward(ctx.saved_tensors, ctx.vec, ctx.flags, ctx.ints, grads))


class _HoverRolloutFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, owner: HoverStep, side: list, pos, quat, vel, omega, thrust, pes, actions):
        outs = owner.forward_steps([pos, quat, vel, omega, thrust, pes, actions], side)
        ctx.owner, ctx.vec, ctx.flags, ctx.ints = owner, side[4], side[2], side[1]
        ctx.save_for_backward(quat, vel, omega, thrust, side[5])
        ctx.set_materialize_grads(False)
        return outs

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grads):
        return (None, None, *ctx.owner.backward_steps(ctx.saved_tensors, ctx.vec, ctx.flags, ctx.ints, grads))
