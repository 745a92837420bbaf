"""The benchmarks' matrix-product ceiling counts what an iteration multiplies, forward and backward."""

from __future__ import annotations

import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
timing = pytest.importorskip("timing")


def test_matmul_ceiling_counts_forward_and_backward_products():
    w = torch.randn(32, 16, requires_grad=True)
    x = torch.randn(64, 32, requires_grad=True)

    def step():
        (x @ w).relu().sum().backward()  # one product forward, two backward (for x and for w)

    out = timing.matmul_ceiling(step, seconds_per_call=1.0, min_time=0.01)
    assert out["gflop_per_call"] == pytest.approx(3 * 2 * 64 * 32 * 16 / 1e9)
    assert out["matmul_shapes"] == 3  # (64x32 @ 32x16), (64x16 @ 16x32), (32x64 @ 64x16)
    assert out["sustained_gflops"] == pytest.approx(out["gflop_per_call"])
    assert 0 < out["share"] < 1 and out["ceiling_gflops"] > 0
