"""Gradient-shaping helpers used on the differentiable path."""

from __future__ import annotations

import torch
from torch import Tensor


def straight_through_clamp(x: Tensor, low: float, high: float) -> Tensor:
    """Clamp the value to ``[low, high]`` but pass the gradient through unchanged.

    A plain clamp has zero gradient wherever it is active, which would silently stop
    first-order learning for saturated actions. The forward value is exactly the clamped
    one for every finite ``x``: it is ``clamp(x) + (x - x)``, and ``x - x`` is exactly 0
    (the form ``x + (clamp(x) - x)`` loses the clamped value to rounding once ``|x|`` is
    large, e.g. an action of 1e8 in float32 would act as 0).
    """
    clamped = x.clamp(low, high)
    if not x.requires_grad:
        return clamped
    return clamped.detach() + (x - x.detach())


def scale_grad(x: Tensor, factor: float) -> Tensor:
    """Identity in the forward pass; multiplies the incoming gradient by ``factor``.

    Applied to the state once per step this is the "gradient decay" remedy for
    exploding gradients over long horizons (a factor of 1 disables it).
    """
    if factor == 1.0:
        return x
    d = x.detach()
    return d + factor * (x - d)


class _FiniteRowsGrad(torch.autograd.Function):
    """Identity forward on several ``(N, ...)`` tensors; the backward zeroes, in all of
    them, every row in which any incoming gradient is not finite."""

    # The forward takes ``ctx`` (no ``setup_context``): torch.compile traces a variadic
    # forward only in this form (with ``setup_context`` it binds the first tensor as
    # ``ctx`` and breaks the graph, which sent compiled steps with gradients back to eager).
    @staticmethod
    def forward(ctx, *xs: Tensor) -> tuple[Tensor, ...]:
        return tuple(x.view_as(x) for x in xs)

    @staticmethod
    def backward(ctx, *grads: Tensor) -> tuple[Tensor, ...]:
        present = [g for g in grads if g is not None]
        if not present:
            return grads
        n = present[0].shape[0]
        ok = torch.isfinite(torch.cat([g.reshape(n, -1) for g in present], 1)).all(-1)
        # The usual case, tested on the host at no cost on CPU (not while compiling: a
        # data-dependent branch would split the compiled backward; the selects run instead).
        if ok.device.type == "cpu" and not torch.compiler.is_compiling() and bool(ok.all()):
            return grads
        return tuple(None if g is None else torch.where(ok.view(-1, *([1] * (g.dim() - 1))), g, 0.0) for g in grads)


def finite_rows_grad(*xs: Tensor) -> tuple[Tensor, ...]:
    """Identity in the forward pass on ``(N, ...)`` tensors; in the backward, a row (first
    dimension) in which any of their gradients holds a NaN or inf gets a zero gradient in
    all of them; the other rows pass through bit for bit.

    The env applies it to the actions and the state entering every step: rows are
    independent there, so a row whose step blew up (``0 * inf`` in its backward)
    contributes no gradient instead of turning a shared policy's gradient into NaN.
    Tensors that do not require grad pass through untouched.
    """
    idx = [i for i, x in enumerate(xs) if x.requires_grad]
    if not idx:
        return xs
    out = list(xs)
    for i, y in zip(idx, _FiniteRowsGrad.apply(*(xs[i] for i in idx))):
        out[i] = y
    return tuple(out)
