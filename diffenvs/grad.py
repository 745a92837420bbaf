"""Gradient-shaping helpers used on the differentiable path."""

from __future__ import annotations

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
