"""Returns math, in one place: discounted returns and TD(λ) targets (ABPT eqs. 6, 13–14).

Conventions for a horizon of ``H`` steps and ``N`` envs (all tensors ``(H, N)``):

* ``rewards[t]`` is the reward of the transition ``s_t -> s_{t+1}``;
* ``dones[t]`` is true when that transition ended the episode (terminated or truncated);
  the env then continued with a fresh episode, so nothing flows across ``t``;
* ``next_values[t]`` is the value of the true next state ``s_{t+1}`` (for a finished row,
  of its pre-reset state, ``info["final_obs"]``), already multiplied by zero where the
  episode *terminated* (no bootstrap), but kept where it was *truncated* (time limit).

With these, the one-step target is ``rewards[t] + γ next_values[t]`` and the k-step
return G_t^k stops at an episode end, bootstrapping there.
"""

from __future__ import annotations

import torch
from torch import Tensor


def bootstrap_rows(dones: Tensor, terminated: Tensor) -> tuple[Tensor, Tensor]:
    """``(t, n)`` indices of the ``(H, N)`` steps whose next value :func:`discounted_return`
    uses: where a segment ends (an episode end, or the horizon's last step) and the episode
    was not terminated (a terminated episode has no value after its end)."""
    ends = dones.clone()
    ends[-1] = True
    return (ends & ~terminated).nonzero(as_tuple=True)


def scatter_values(rows: tuple[Tensor, Tensor], values: Tensor, shape: torch.Size) -> Tensor:
    """``(H, N)`` zeros with ``values`` at ``rows`` (differentiable in ``values``)."""
    return values.new_zeros(shape).index_put(rows, values)


def discounted_return(rewards: Tensor, dones: Tensor, next_values: Tensor, gamma: float) -> Tensor:
    """``(N,)`` differentiable objective of one horizon, as SHAC/ABPT maximise it (eqs. 7, 10).

    ``sum_t γ^t r_t`` with the discount restarting at 0 after an episode end, plus, for
    every segment, ``γ^k V(s_end)`` at its end: at an episode end inside the horizon
    (``next_values[t]`` of that row, zero if terminated) and at the horizon's last step.
    Pass ``next_values = 0`` for plain BPTT (eq. 6).
    """
    H = rewards.shape[0]
    total = torch.zeros_like(rewards[0])
    discount = torch.ones_like(rewards[0])
    for t in range(H):
        total = total + discount * rewards[t]
        # Bootstrap where the segment ends: an episode end, or the horizon end.
        seg_end = dones[t] if t < H - 1 else torch.ones_like(dones[t])
        total = total + torch.where(seg_end, discount * gamma * next_values[t], torch.zeros_like(total))
        discount = torch.where(dones[t], torch.ones_like(discount), discount * gamma)
    return total


def td_lambda_targets(rewards: Tensor, dones: Tensor, next_values: Tensor, gamma: float, lam: float) -> Tensor:
    """``(H, N)`` TD(λ) value targets for ``s_0 .. s_{H-1}`` (eqs. 13–14), no gradient.

    Computed with the recursion ``G^λ_t = r_t + γ [(1-λ) V(s_{t+1}) + λ G^λ_{t+1}]``,
    where the bracket is just ``V(s_{t+1})`` at an episode end and at the horizon's end,
    which equals the exponentially weighted average of k-step returns of eq. 13.
    λ = 0 gives one-step TD targets, λ = 1 Monte-Carlo returns bootstrapped at the end.
    """
    H = rewards.shape[0]
    targets = torch.empty_like(rewards)
    nxt = next_values[H - 1]
    for t in range(H - 1, -1, -1):
        if t == H - 1:
            blend = next_values[t]
        else:
            blend = torch.where(dones[t], next_values[t], (1.0 - lam) * next_values[t] + lam * nxt)
        targets[t] = rewards[t] + gamma * blend
        nxt = targets[t]
    return targets


def td_lambda_targets_naive(rewards: Tensor, dones: Tensor, next_values: Tensor, gamma: float,
                            lam: float) -> Tensor:
    """Eq. 13 written literally (a weighted sum of k-step returns); for tests."""
    H, N = rewards.shape
    out = torch.zeros_like(rewards)
    for n in range(N):
        for t in range(H):
            # k-step returns G_t^k for k = 1 .. until the episode or horizon ends
            returns, g, disc = [], 0.0, 1.0
            for k in range(1, H - t + 1):
                i = t + k - 1
                g = g + disc * rewards[i, n]
                disc *= gamma
                returns.append(g + disc * next_values[i, n])
                if dones[i, n]:
                    break
            K = len(returns)
            # Eq. 13: (1 - λ) Σ_{k<K} λ^{k-1} G^k + λ^{K-1} G^K
            val = sum((1 - lam) * lam ** (k - 1) * returns[k - 1] for k in range(1, K)) + lam ** (K - 1) * returns[-1]
            out[t, n] = val
    return out
