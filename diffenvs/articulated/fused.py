"""An articulated robot's whole control step as one native call, with a native backward.

:func:`control_step` holds hinge PD targets for ``substeps`` semi-implicit Euler steps with soft
foot contact (what :func:`~diffenvs.articulated.dynamics.actuator_forces` and
:func:`~diffenvs.articulated.dynamics.euler_step` do with implicit damping, one substep at a
time) in one pass of ``euler_step.c`` over the robots: the recursive forms of the same
algorithms (composite-rigid-body mass matrix, Newton-Euler bias forces, a Cholesky solve), equal
to the PyTorch ops to float rounding, instead of hundreds of small tensor operations per
substep. Where a gradient is tracked, the call records each robot's state before every substep
(and, up to :data:`KEEP_BYTES` per call, each substep's intermediates), and the backward is one more
native pass (``euler_vjp_impl.h``) that takes each substep's intermediates from that record (or
recomputes them from its state) and walks its operations in reverse: the same gradient as autograd through the
PyTorch ops, to float rounding. Gradients reach the state and the targets, not the model's
constants (mass, inertia, gains: use the PyTorch ops, ``fused=False``, to differentiate those).
A robot whose mass matrix stops being positive definite (a state that has blown up) comes out
NaN in its own row only, its gradient too, for the env to end that episode. :func:`feet` gives
the foot positions from the same kernel's kinematics, its backward the kinematics' reverse pass.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from .. import native
from .dynamics import ContactParams
from .model import ArticulatedModel, ModelTensors

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "euler_step.c")
_SUFFIXES = {torch.float32: "f32", torch.float64: "f64"}
#: Robots per thread below which a call stays on the calling thread.
MIN_ROWS_PER_THREAD = 16
#: A control step with gradients keeps every substep's intermediates for its backward (which then
#: skips recomputing them) while they take at most this many bytes per call; above, it recomputes.
KEEP_BYTES = 32 << 20


#: Positions of the kernels in each dtype's tuple of :func:`_kernels` (the order of its signatures).
_STEP, _FEET, _STEP_VJP, _FEET_VJP = range(4)


def _kernels() -> dict | None:
    ptr, long, i32 = ctypes.c_void_p, ctypes.c_long, ctypes.c_int
    return native.kernels(SOURCE, _SUFFIXES, {
        "articulated_euler": [long, ptr, ptr, ptr, ptr, i32] + [ptr, long] * 9 + [i32],
        "articulated_feet": [long, ptr, ptr, ptr] + [ptr, long] * 2,
        "articulated_euler_vjp": [long, ptr, ptr, ptr, ptr, i32] + [ptr, long] * 10 + [i32],
        "articulated_feet_vjp": [long, ptr, ptr, ptr] + [ptr, long] * 3})


def available() -> bool:
    """Whether the native kernel is built and loadable (it is built on the first call)."""
    return native.enabled() and _kernels() is not None


class StepModel(NamedTuple):
    """A model's constants and the step's settings packed as ``euler_step.c`` reads them (CPU)."""

    ints: Tensor  # int32
    reals: Tensor  # the kernel's dtype
    anc: Tensor  # uint8 (nb, nv)
    consts: Tensor  # the contact constants, h / 2, h, the torque smoothing width
    substeps: int
    work: int  # numbers per substep the kernel keeps for the backward (its work_size)
    nq: int
    nv: int
    nf: int


def pack(model: ArticulatedModel, mt: ModelTensors, contact: ContactParams, substeps: int, dt: float,
         torque_smoothing: float) -> StepModel:
    """The kernel's view of ``model`` with the gains, limits and constants of ``mt`` (its dtype;
    the robot's own kp/kv), ``substeps`` steps of ``dt`` each per call."""
    nb, nh, nf, nv = model.nb, model.nh, model.nf, model.nv
    hinge_of_body = np.full(nb, -1, dtype=np.int64)
    hinge_of_body[1:] = mt.hinge_of_body.cpu().numpy()
    dof_body = mt.dof_body.cpu().numpy()
    ints = np.concatenate([[nb, nh, nf], model.parent, hinge_of_body, dof_body, mt.foot_body.cpu().numpy()])

    def rows(x: Tensor, width: int, pad_base: bool = False) -> np.ndarray:
        x = x.detach().cpu().to(torch.float64).reshape(-1, width).numpy()
        return np.concatenate([np.zeros((1, width)), x]) if pad_base else x

    parts = [rows(mt.body_pos, 3), rows(mt.body_rot, 9), rows(mt.mass, 1), rows(mt.com, 3), rows(mt.inertia, 9),
             rows(mt.hinge_axis, 3, True), rows(mt.hinge_k, 9, True), rows(mt.hinge_k2, 9, True),
             rows(mt.damping, 1), rows(mt.armature, 1), rows(mt.foot_pos, 3), rows(mt.foot_radius, 1),
             rows(mt.kp, 1), rows(mt.kv, 1), rows(mt.force_limit, 1), rows(mt.gravity, 1)]
    reals = np.concatenate([p.reshape(-1) for p in parts])
    c = contact
    consts = [c.stiffness, c.damping, c.smoothing, c.force_smoothing, c.friction, c.tangential_stiffness,
              c.tangential_damping, c.stick, 1.0 - c.stick, 0.5 * dt, dt, torque_smoothing]
    dtype = mt.dtype
    work_size = native.load(SOURCE).articulated_work_size
    work_size.argtypes, work_size.restype = [ctypes.c_int] * 3, ctypes.c_long
    return StepModel(torch.as_tensor(ints, dtype=torch.int32), torch.as_tensor(reals, dtype=dtype),
                     torch.as_tensor(model.ancestors(), dtype=torch.uint8),
                     torch.tensor(consts, dtype=dtype), int(substeps), int(work_size(nb, nv, nf)), model.nq, nv, nf)


def _untracked(*xs: Tensor) -> bool:
    """No gradient to track through ``xs`` and not inside ``torch.compile`` (which traces the ops)."""
    return not (torch.compiler.is_compiling() or (torch.is_grad_enabled() and any(x.requires_grad for x in xs)))


def supports(sm: StepModel, qpos: Tensor, qvel: Tensor, anchor: Tensor, target: Tensor) -> bool:
    """Whether :func:`control_step` can take these tensors: CPU tensors of the packed dtype shaped
    ``(N, nq)``, ``(N, nv)``, ``(N, nf, 2)``, ``(N, nh)``, outside ``torch.compile`` (which traces
    the PyTorch ops instead). The kernel reads raw memory, so nothing else may reach it."""
    if torch.compiler.is_compiling():
        return False
    dtype, n = sm.reals.dtype, qpos.shape[0]
    shapes = ((n, sm.nq), (n, sm.nv), (n, sm.nf, 2), (n, sm.nv - 6))
    return all(x.shape == s and x.dtype == dtype and x.device.type == "cpu"
               for x, s in zip((qpos, qvel, anchor, target), shapes))


def feet_supported(sm: StepModel, qpos: Tensor) -> bool:
    """Whether :func:`feet` can take ``qpos``: a CPU tensor of the packed dtype shaped ``(N, nq)``,
    outside ``torch.compile``."""
    return (not torch.compiler.is_compiling() and qpos.dim() == 2 and qpos.shape[1] == sm.nq
            and qpos.dtype == sm.reals.dtype and qpos.device.type == "cpu")


def _model(sm: StepModel) -> tuple:
    """The packed model's arguments that every kernel call starts with (after the row count)."""
    return sm.ints.data_ptr(), sm.reals.data_ptr(), sm.anc.data_ptr()


def _feet(sm: StepModel, qpos: Tensor) -> Tensor:
    n = qpos.shape[0]
    out = torch.empty(n, sm.nf, 3, dtype=qpos.dtype)
    x, stride = native.rows(qpos)
    _kernels()[qpos.dtype][_FEET](n, *_model(sm), x.data_ptr(), stride, out.data_ptr(), 3 * sm.nf)
    return out


class _Feet(torch.autograd.Function):
    """:func:`feet` with its backward as one native pass (the reverse of the forward kinematics)."""

    @staticmethod
    def forward(ctx, sm: StepModel, qpos: Tensor):
        qpos = native.rows(qpos)[0]
        ctx.sm = sm
        ctx.save_for_backward(qpos)
        return _feet(sm, qpos)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        sm, (qpos,) = ctx.sm, ctx.saved_tensors
        n = qpos.shape[0]
        g, sg = native.rows(grad)  # (N, nf * 3)
        out = torch.empty(n, sm.nq, dtype=qpos.dtype)
        _kernels()[qpos.dtype][_FEET_VJP](n, *_model(sm), qpos.data_ptr(), qpos.stride(0), g.data_ptr(), sg,
                                          out.data_ptr(), out.stride(0))
        return None, out


def feet(sm: StepModel, qpos: Tensor) -> Tensor:
    """``(N, nf, 3)`` world positions of the foot sphere centres at ``qpos`` (forward kinematics,
    as :func:`~diffenvs.articulated.dynamics.point_positions` of
    :func:`~diffenvs.articulated.dynamics.kinematics`, equal to float rounding); where a gradient
    is tracked, its backward is one native pass too. ``qpos`` must pass :func:`feet_supported`."""
    return _Feet.apply(sm, qpos) if not _untracked(qpos) else _feet(sm, qpos)


def _tape_width(sm: StepModel, keep: bool) -> int:
    """Numbers per robot of the record a control step with gradients leaves for its backward: the
    state before each substep, and with ``keep`` each substep's intermediates and the final state."""
    state = sm.nq + sm.nv + 2 * sm.nf
    return sm.substeps * (state + sm.work) + state if keep else sm.substeps * state


def _head(sm: StepModel) -> tuple:
    """The arguments that every call of the step's kernels starts with: the model's, the step's constants."""
    return *_model(sm), sm.consts.data_ptr(), sm.substeps


def _forward(sm: StepModel, xs: tuple[Tensor, ...], outs: tuple[Tensor, ...], tape: Tensor | None,
             keep: bool = False) -> None:
    """The kernel over the rows of ``xs`` = (qpos, qvel, anchor, target) into ``outs`` = (qpos,
    qvel, anchor, normal force) as 2-D row views, recording into ``tape`` unless ``None`` (with
    ``keep``, the intermediates too)."""
    ins = [native.rows(x)[0] for x in xs]
    kernel, head, at = _kernels()[xs[0].dtype][_STEP], _head(sm), native.row_address

    def run(start: int, stop: int) -> None:  # rows [start, stop): the robots are independent
        kernel(stop - start, *head, *(v for t in (*ins, *outs) for v in (at(t, start), t.stride(0))),
               *((None, 0) if tape is None else (at(tape, start), tape.stride(0))), int(keep))

    native.parallel_rows(xs[0].shape[0], run, MIN_ROWS_PER_THREAD)


class TapeCache:
    """The records of control steps with gradients, kept for reuse once their backward is done.

    A record is large (about 77 KB per robot at the default ten substeps, so 20 MB for 256
    robots) and an unroll keeps one per step until its backward; allocated afresh, each came back
    from the OS page by page at every step (glibc returns freed memory at the top of its heap),
    which cost a tenth of a differentiable step at 256 robots. A record is reused once nothing
    but this cache holds it (its graph was freed), up to :attr:`max_bytes` of records per thread
    (beyond that, records are allocated and freed as before). Each thread keeps its own records, so
    two threads stepping at once never take the same one. :meth:`clear` frees the unused ones.
    """

    #: The most bytes of records kept (per thread); past it, unused records of other shapes are freed first.
    max_bytes = 1 << 30

    def __init__(self):
        self._local = threading.local()
        # (the count of references to a tensor's implementation: 1 means only this cache holds it)
        self._reuse = hasattr(Tensor, "_use_count")

    @property
    def _tapes(self) -> list[Tensor]:
        """This thread's records."""
        return self._local.__dict__.setdefault("tapes", [])

    def take(self, n: int, width: int, dtype: torch.dtype) -> Tensor:
        """An ``(n, width)`` record no one else holds: a kept one, or a new one (kept if it fits)."""
        if not self._reuse:
            return torch.empty(n, width, dtype=dtype)
        for tape in self._tapes:
            if tape.shape == (n, width) and tape.dtype == dtype and tape._use_count() == 1:
                return tape
        tape = torch.empty(n, width, dtype=dtype)
        size = tape.nbytes
        if self.nbytes + size > self.max_bytes:
            self.clear()
        if self.nbytes + size <= self.max_bytes:
            self._tapes.append(tape)
        return tape

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self._tapes)

    def clear(self) -> None:
        """Free this thread's kept records that no graph holds any more."""
        self._local.tapes = [t for t in self._tapes if t._use_count() > 1]


#: The process's :class:`TapeCache` (control steps of every model and batch size share it).
TAPES = TapeCache()


class _ControlStep(torch.autograd.Function):
    """:func:`control_step` with its backward as one native pass (module docstring)."""

    @staticmethod
    def forward(ctx, sm: StepModel, qpos: Tensor, qvel: Tensor, anchor: Tensor, target: Tensor):
        n, dtype = qpos.shape[0], qpos.dtype
        outs = tuple(torch.empty(n, k, dtype=dtype) for k in (sm.nq, sm.nv, 2 * sm.nf, sm.nf))
        keep = n * _tape_width(sm, True) * qpos.element_size() <= KEEP_BYTES
        tape = TAPES.take(n, _tape_width(sm, keep), dtype)
        target = native.rows(target)[0]
        _forward(sm, (qpos, qvel, anchor, target), outs, tape, keep)
        ctx.sm, ctx.keep = sm, keep
        ctx.save_for_backward(tape, target)
        return outs[0], outs[1], outs[2].unflatten(1, (sm.nf, 2)), outs[3]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grads: Tensor):
        sm, (tape, target) = ctx.sm, ctx.saved_tensors
        n, dtype = tape.shape[0], tape.dtype
        widths = (sm.nq, sm.nv, 2 * sm.nf, sm.nf)
        gs = [torch.zeros(n, k, dtype=dtype) if g is None else native.rows(g)[0] for g, k in zip(grads, widths)]
        outs = tuple(torch.empty(n, k, dtype=dtype) for k in (sm.nq, sm.nv, 2 * sm.nf, sm.nv - 6))
        kernel, head, at = _kernels()[dtype][_STEP_VJP], _head(sm), native.row_address

        def run(start: int, stop: int) -> None:
            kernel(stop - start, *head, *(v for t in (tape, target, *gs, *outs) for v in (at(t, start), t.stride(0))),
                   int(ctx.keep))

        native.parallel_rows(n, run, MIN_ROWS_PER_THREAD)
        return None, outs[0], outs[1], outs[2].unflatten(1, (sm.nf, 2)), outs[3]


def control_step(sm: StepModel, qpos: Tensor, qvel: Tensor, anchor: Tensor, target: Tensor
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``sm.substeps`` steps under the hinge PD ``target``: the new ``qpos``, ``qvel``, feet
    anchors and the feet's normal contact forces at the last substep ``(N, nf)``. The kernel must
    be :func:`available` and the tensors pass :func:`supports`. Where a gradient is tracked the
    result has the native backward; otherwise nothing is recorded."""
    if not _untracked(qpos, qvel, anchor, target):
        return _ControlStep.apply(sm, qpos, qvel, anchor, target)
    n = qpos.shape[0]
    out = torch.empty(n, sm.nq + sm.nv + 3 * sm.nf, dtype=qpos.dtype)  # one allocation, its columns the outputs
    q, v, a, f = out.split((sm.nq, sm.nv, 2 * sm.nf, sm.nf), 1)
    _forward(sm, (qpos, qvel, anchor, target), (q, v, a, f), None)
    return q, v, a.unflatten(1, (sm.nf, 2)), f
