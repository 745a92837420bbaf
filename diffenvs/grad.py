"""Gradient-shaping helpers used on the differentiable path."""

from __future__ import annotations

from torch import Tensor


def straight_through_clamp(x: Tensor, low: float, high: float) -> Tensor:
    """Clamp the value to ``[low, high]`` but pass the gradient through unchanged.

    A plain clamp has zero gradient wherever it is active, which would silently stop
    first-order learning for saturated actions. The forward value is exactly the
    clamped one.
    """
    return x + (x.clamp(low, high) - x).detach()


def scale_grad(x: Tensor, factor: float) -> Tensor:
    """Identity in the forward pass; multiplies the incoming gradient by ``factor``.

    Applied to the state once per step this is the "gradient decay" remedy for
    exploding gradients over long horizons (a factor of 1 disables it).
    """
    if factor == 1.0:
        return x
    d = x.detach()
    return d + factor * (x - d)
