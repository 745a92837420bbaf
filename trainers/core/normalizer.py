"""Running observation normalisation (a module, so it is saved with the policy)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class RunningNorm(nn.Module):
    """``(x - mean) / sqrt(var + eps)`` with statistics updated from batches (no gradient
    flows into the statistics; gradients flow through the normalised value)."""

    def __init__(self, dim: int, eps: float = 1e-5, clip: float = 10.0):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("var", torch.ones(dim))
        self.register_buffer("count", torch.tensor(1e-4))
        self.eps, self.clip = eps, clip

    @torch.no_grad()
    def update(self, x: Tensor) -> None:
        """Merge the statistics of a ``(..., dim)`` batch (parallel-variance formula)."""
        x = x.reshape(-1, x.shape[-1]).to(self.mean.dtype)
        b_mean, b_var, b_count = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        delta = b_mean - self.mean
        total = self.count + b_count
        self.mean.add_(delta * b_count / total)
        m2 = self.var * self.count + b_var * b_count + delta.square() * self.count * b_count / total
        self.var.copy_(m2 / total)
        self.count.copy_(total)

    def forward(self, x: Tensor) -> Tensor:
        return ((x - self.mean) / torch.sqrt(self.var + self.eps)).clamp(-self.clip, self.clip)
