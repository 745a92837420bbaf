"""The quadrotor's explicit Euler step as one native call, forward and backward.

:func:`euler_step` advances the five state fields under normalised actions exactly as
:func:`~diffenvs.robots.quadrotor.dynamics.integrate` does with ``integrator="euler"`` (the same
equations, equal to float rounding), in one pass of ``fused_euler.c`` over the drones instead of
about a hundred tensor operations, and its backward is that file's hand-written vector-Jacobian
product, one more pass. It takes CPU float32/float64 tensors; :func:`available` says whether the
kernel can be used (a C compiler is needed once, see :mod:`diffenvs.native`). Gradients flow to
the state fields and the actions; the vehicle parameters are constants.
"""

from __future__ import annotations

import ctypes
import os

import torch
from torch import Tensor

from ... import native
from .dynamics import OMEGA, POS, QUAT, THRUST, VEL
from .params import ParamTensors

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fused_euler.c")
_DTYPES = {torch.float32: ("f32", ctypes.c_float), torch.float64: ("f64", ctypes.c_double)}
# The state fields in the column order of dynamics.py's flat state, with their widths.
_FIELDS = tuple((k, sl.stop - sl.start) for k, sl in (("pos", POS), ("quat", QUAT), ("vel", VEL), ("omega", OMEGA),
                                                      ("thrust", THRUST)))
_NAMES = tuple(k for k, _ in _FIELDS)
_WIDTHS = tuple(w for _, w in _FIELDS)
_kernels: dict[torch.dtype, tuple] | None = None


def _load() -> dict[torch.dtype, tuple] | None:
    global _kernels
    ptr, long, i32 = ctypes.c_void_p, ctypes.c_long, ctypes.c_int
    _kernels = native.kernels(SOURCE, {dtype: suffix for dtype, (suffix, _) in _DTYPES.items()}, {
        "quad_euler_fwd": [long, ptr, i32] + [ptr, long] * 6 + [ptr] * 5 + [long],
        "quad_euler_vjp": [long, ptr, i32] + [ptr, long] * 10 + [ptr] * 6 + [long]})
    return _kernels


def available() -> bool:
    """Whether the native kernel is built and loadable (it is built on the first call)."""
    return native.enabled() and _load() is not None


def params_vector(P: ParamTensors, dt: float) -> Tensor:
    """The parameters in the order ``fused_euler.c`` reads them, in ``P``'s dtype (CPU)."""
    p = P.params
    values = [P.thrust_scale, P.thrust_offset, *P.mixer_t.double().flatten().tolist(), *p.drag, P.inv_mass,
              *P.gravity.double().tolist(), *p.inertia, *P.inv_inertia.double().tolist(), dt,
              dt * P.inv_motor_tau]
    return torch.tensor(values, dtype=P.mixer_t.dtype)


def _forward(params: Tensor, lag: bool, ins: list[tuple[Tensor, int]]) -> tuple[Tensor, ...]:
    n, dtype = ins[0][0].shape[0], ins[0][0].dtype
    outs = torch.empty(n, 17, dtype=dtype).split(_WIDTHS, 1)  # one allocation; contiguous rows of 17
    _kernels[dtype][0](n, params.data_ptr(), int(lag), *(v for t, s in ins for v in (t.data_ptr(), s)),
                       *(o.data_ptr() for o in outs), 17)
    return outs


class _EulerStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, params: Tensor, lag: bool, pos, quat, vel, omega, thrust, action):
        ins = [native.rows(t) for t in (pos, quat, vel, omega, thrust, action)]
        ctx.save_for_backward(params, *(t for t, _ in ins[1:]))
        ctx.lag = lag
        return _forward(params, lag, ins)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grads):
        params, quat, vel, omega, thrust, action = ctx.saved_tensors
        n = quat.shape[0]
        _, vjp = _kernels[quat.dtype]
        g_in = [(None, 0) if g is None else native.rows(g) for g in grads]
        g_out = torch.empty(n, 21, dtype=quat.dtype).split((*_WIDTHS, 4), 1)
        vjp(n, params.data_ptr(), int(ctx.lag),
            *(v for t in (quat, vel, omega, thrust, action) for v in (t.data_ptr(), t.stride(0))),
            *(v for g, s in g_in for v in (None if g is None else g.data_ptr(), s)),
            *(g.data_ptr() for g in g_out), 21)
        return (None, None, *g_out)


def supports(state: dict[str, Tensor], action: Tensor, params: Tensor) -> bool:
    """Whether :func:`euler_step` can take these tensors: CPU tensors of ``params``' dtype
    (float32/float64) shaped ``(N, width)`` field by field, outside ``torch.compile`` (which
    traces the PyTorch ops instead). The kernel reads raw memory, so nothing else may reach it."""
    dtype, n = params.dtype, action.shape[0]
    if torch.compiler.is_compiling() or action.shape != (n, 4) or action.dtype != dtype or action.is_cuda:
        return False
    for k, width in _FIELDS:
        x = state[k]
        if x.shape != (n, width) or x.dtype != dtype or x.device != action.device:
            return False
    return action.device.type == "cpu"


def euler_step(state: dict[str, Tensor], action: Tensor, params: Tensor, motor_lag: bool) -> dict[str, Tensor]:
    """One explicit Euler step of the quadrotor fields of ``state`` under normalised ``action``
    (``params`` from :func:`params_vector`); the kernel must be :func:`available` and the tensors
    pass :func:`supports`. Without gradients to track it is one kernel call."""
    xs = [state[k] for k in _NAMES]
    xs.append(action)
    if torch.is_grad_enabled() and any(x.requires_grad for x in xs):
        outs = _EulerStep.apply(params, bool(motor_lag), *xs)
    else:
        outs = _forward(params, bool(motor_lag), [native.rows(x) for x in xs])
    return dict(zip(_NAMES, outs))
