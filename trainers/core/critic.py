"""Critic fitting shared by the actor-critic first-order trainers (SHAC's V, ABPT's twin Q).

:class:`CriticConfig` holds the settings both use (TD(λ), critic learning rate, updates,
minibatches, soft target updates) and :func:`fit_regression` the minibatch regression with
soft target updates after each step (ABPT Algorithm 1, lines 15–17; SHAC's critic step).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .first_order import FirstOrderConfig, FirstOrderTrainer
from .networks import soft_update


@dataclass
class CriticConfig(FirstOrderConfig):
    """Critic settings shared by SHAC and ABPT (on top of :class:`trainers.core.first_order.FirstOrderConfig`).

    Attributes:
        lam: λ of the TD(λ) critic targets.
        critic_lr: critic learning rate (``None``: same as ``lr``).
        critic_updates: critic gradient steps per iteration ("training critic steps per
            minibatch").
        critic_minibatches: the iteration's samples are split into this many minibatches,
            used in turn by the critic updates.
        tau: soft-update rate of the target critic, applied after every critic step.
    """

    lam: float = 0.95
    critic_lr: float | None = None
    critic_updates: int = 10
    critic_minibatches: int = 4
    tau: float = 0.005


def critic_lr(cfg: CriticConfig) -> float:
    return cfg.critic_lr if cfg.critic_lr is not None else cfg.lr


def fit_regression(net: torch.nn.Module, opt: torch.optim.Optimizer, predict: Callable[[Tensor], Tensor],
                   targets: Tensor, cfg: CriticConfig, lr: float, target: torch.nn.Module) -> tuple[float, int]:
    """``cfg.critic_updates`` Adam steps of MSE regression on minibatches, with a soft
    target update after each step (ABPT Algorithm 1, lines 15–17).

    ``predict(idx)`` returns predictions ``(..., len(idx))`` for sample indices ``idx``;
    ``target`` is the target network that follows ``net``. Non-finite values never reach
    the networks: if any target is not finite, no step is taken at all; a step whose loss
    or gradient is not finite is skipped. Returns ``(last loss, steps skipped)`` (the loss
    is NaN when every step was skipped).
    """
    if not bool(torch.isfinite(targets).all()):
        return math.nan, cfg.critic_updates
    for group in opt.param_groups:
        group["lr"] = lr
    n = targets.shape[0]
    perm = torch.randperm(n, device=targets.device)
    batches = perm.chunk(max(1, cfg.critic_minibatches))
    last, skipped = math.nan, 0
    max_norm = cfg.max_grad_norm if cfg.max_grad_norm > 0 else math.inf
    for i in range(cfg.critic_updates):
        idx = batches[i % len(batches)]
        loss = (predict(idx) - targets[idx]).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if not torch.isfinite(torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm)):
            opt.zero_grad(set_to_none=True)
            skipped += 1
            continue
        opt.step()
        soft_update(target, net, cfg.tau)
        last = float(loss.detach())
    return last, skipped


class CriticTrainer(FirstOrderTrainer):
    """A first-order trainer with a learned critic (``critic``, ``critic_opt``,
    ``critic_target``, built in :meth:`build`): SHAC and ABPT."""

    @property
    def critic_lr(self) -> float:
        return critic_lr(self.cfg)

    def regress_critic(self, predict: Callable[[Tensor], Tensor], targets: Tensor) -> float:
        """:func:`fit_regression` of the critic on ``targets`` at the (decayed) critic
        learning rate, counting skipped steps in ``skipped_updates``; returns the loss."""
        loss, skipped = fit_regression(self.critic, self.critic_opt, predict, targets.reshape(-1), self.cfg,
                                       self.critic_lr * self.lr_factor(), self.critic_target)
        self.skipped_updates += skipped
        return loss
