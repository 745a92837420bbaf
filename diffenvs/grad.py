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
    """Identity forward; the backward zeroes every row of the gradient that is not finite."""

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        pass

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        bad = ~torch.isfinite(grad.reshape(grad.shape[0], -1)).all(-1)
        return grad.masked_fill(bad.view(-1, *([1] * (grad.dim() - 1))), 0.0)


def finite_rows_grad(x: Tensor) -> Tensor:
    """Identity in the forward pass; rows (first dimension) of the incoming gradient that
    hold a NaN or inf become 0, the others pass through bit for bit.

    The env applies it to the actions and state entering every step: rows are independent
    there, so a row whose step blew up (``0 * inf`` in its backward) contributes no
    gradient instead of turning a shared policy's gradient into NaN.
    """
    if not x.requires_grad:
        return x
    return _FiniteRowsGrad.apply(x)
