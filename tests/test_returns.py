"""Returns math against hand-computed cases and a literal implementation of eq. 13."""

import pytest
import torch

from trainers.core.returns import discounted_return, td_lambda_targets, td_lambda_targets_naive

F64 = torch.float64


def col(*values):
    return torch.tensor(values, dtype=F64).unsqueeze(-1)  # (H, 1)


def flags(*values):
    return torch.tensor(values, dtype=torch.bool).unsqueeze(-1)


def test_discounted_return_hand_computed():
    r = col(1.0, 2.0, 3.0)
    no_end = flags(False, False, False)
    zeros = col(0.0, 0.0, 0.0)
    g = 0.5
    assert discounted_return(r, no_end, zeros, g).item() == pytest.approx(1 + 0.5 * 2 + 0.25 * 3)
    # Terminal value V(s_3) = 8 enters with γ^3.
    v = col(100.0, 100.0, 8.0)  # only the last entry is used without episode ends
    assert discounted_return(r, no_end, v, g).item() == pytest.approx(2.75 + 0.125 * 8)
    # Episode ends after step 1 with a truncation bootstrap V = 4: the discount restarts.
    ends = flags(False, True, False)
    v = col(100.0, 4.0, 8.0)
    expected = (1 + 0.5 * 2 + 0.25 * 4) + (3 + 0.5 * 8)
    assert discounted_return(r, ends, v, g).item() == pytest.approx(expected)


def test_td_lambda_hand_computed_and_limits():
    r = col(1.0, 2.0, 3.0)
    v_next = col(10.0, 20.0, 30.0)  # V(s_1), V(s_2), V(s_3)
    no_end = flags(False, False, False)
    g = 0.9
    # λ = 0: one-step TD targets.
    torch.testing.assert_close(td_lambda_targets(r, no_end, v_next, g, 0.0), r + g * v_next)
    # λ = 1: Monte Carlo returns bootstrapped at the horizon end.
    mc = torch.tensor([[1 + g * 2 + g**2 * 3 + g**3 * 30], [2 + g * 3 + g**2 * 30], [3 + g * 30]], dtype=F64)
    torch.testing.assert_close(td_lambda_targets(r, no_end, v_next, g, 1.0), mc)
    # λ = 0.5 by hand at t = 1: (1-λ) G^1 + λ G^2.
    lam = 0.5
    g1, g2 = 2 + g * 20, 2 + g * 3 + g**2 * 30
    assert td_lambda_targets(r, no_end, v_next, g, lam)[1, 0].item() == pytest.approx((1 - lam) * g1 + lam * g2)


def test_td_lambda_with_termination_and_truncation_inside_horizon():
    r = col(1.0, 1.0, 1.0, 1.0)
    g, lam = 0.9, 0.7
    # Step 1 terminates (next value masked to 0 by the caller); step 2 starts a new episode.
    dones = flags(False, True, False, False)
    v_next = col(5.0, 0.0, 6.0, 7.0)
    out = td_lambda_targets(r, dones, v_next, g, lam)
    assert out[1, 0].item() == pytest.approx(1.0)  # terminal: just the reward
    assert out[0, 0].item() == pytest.approx(1 + g * ((1 - lam) * 5 + lam * 1.0))
    # Nothing leaks across the episode boundary: steps 2-3 ignore steps 0-1.
    torch.testing.assert_close(out[2:], td_lambda_targets(r[2:], dones[2:], v_next[2:], g, lam))
    # A truncation bootstraps with the pre-reset value instead.
    v_trunc = col(5.0, 9.0, 6.0, 7.0)
    assert td_lambda_targets(r, dones, v_trunc, g, lam)[1, 0].item() == pytest.approx(1 + g * 9)


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.95, 1.0])
def test_td_lambda_matches_literal_eq13(lam):
    gen = torch.Generator().manual_seed(0)
    H, N = 12, 6
    r = torch.randn(H, N, generator=gen, dtype=F64)
    dones = torch.rand(H, N, generator=gen) < 0.15
    v = torch.randn(H, N, generator=gen, dtype=F64)
    torch.testing.assert_close(td_lambda_targets(r, dones, v, 0.97, lam), td_lambda_targets_naive(r, dones, v, 0.97,
                                                                                                       lam))


def test_discounted_return_matches_a_naive_loop_and_is_differentiable():
    gen = torch.Generator().manual_seed(1)
    H, N, g = 10, 5, 0.95
    r = torch.randn(H, N, generator=gen, dtype=F64, requires_grad=True)
    dones = torch.rand(H, N, generator=gen) < 0.2
    v = torch.randn(H, N, generator=gen, dtype=F64)
    out = discounted_return(r, dones, v, g)
    for n in range(N):
        total, disc = 0.0, 1.0
        for t in range(H):
            total += disc * r[t, n].item()
            if dones[t, n] or t == H - 1:
                total += disc * g * v[t, n].item()
            disc = 1.0 if dones[t, n] else disc * g
        assert out[n].item() == pytest.approx(total)
    grad = torch.autograd.grad(out.sum(), r)[0]
    assert grad[0, 0].item() == 1.0


def test_bootstrap_rows_are_the_values_the_return_uses():
    """Evaluating next values only at bootstrap_rows gives the same return and gradient as
    evaluating every row: the other rows are multiplied by zero."""
    from trainers.core.returns import bootstrap_rows, scatter_values

    dones = torch.tensor([[False, True, False], [True, False, False], [False, False, True]])
    terminated = torch.tensor([[False, True, False], [False, False, False], [False, False, True]])
    t, n = bootstrap_rows(dones, terminated)
    # Episode ends that were not terminated, and the horizon's last step unless terminated there.
    assert list(zip(t.tolist(), n.tolist())) == [(1, 0), (2, 0), (2, 1)]
    rewards = torch.rand(3, 3, dtype=torch.float64)
    values = torch.rand(3, 3, dtype=torch.float64, requires_grad=True)
    full = discounted_return(rewards, dones, values * ~terminated, 0.9)
    part = discounted_return(rewards, dones, scatter_values((t, n), values[t, n], dones.shape), 0.9)
    torch.testing.assert_close(part, full)
    g_full, = torch.autograd.grad(full.sum(), values)
    g_part, = torch.autograd.grad(part.sum(), values)
    torch.testing.assert_close(g_part, g_full)
    assert g_full[0].abs().sum() == 0 and g_full[2, 1] > 0
