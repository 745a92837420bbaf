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
    def update(self, x: Tensor) -> bool:
        """Merge the statistics of a ``(..., dim)`` batch (parallel-variance formula).

        Returns ``False``, leaving the statistics unchanged, when the merged ones would not
        be finite (a NaN, inf or overflowing value in the batch, e.g. one far-away robot).
        """
        x = x.reshape(-1, x.shape[-1]).to(self.mean.dtype)
        b_mean, b_var, b_count = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        delta = b_mean - self.mean
        total = self.count + b_count
        mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta.square() * self.count * b_count / total
        var = m2 / total
        if not bool(torch.isfinite(torch.cat([mean, var])).all()):
            return False
        self.mean.copy_(mean)
        self.var.copy_(var)
        self.count.copy_(total)
        return True

    def forward(self, x: Tensor) -> Tensor:
        return ((x - self.mean) / torch.sqrt(self.var + self.eps)).clamp(-self.clip, self.clip)
