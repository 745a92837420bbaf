"""SHAC: short-horizon actor-critic (Xu et al. 2022; ABPT paper eq. 7, eqs. 13–14).

Each iteration unrolls ``horizon`` steps and maximises the short-horizon return plus a
terminal value, ``sum_t γ^t r_t + γ^H V_target(s_H)`` (bootstrapping at every episode end
inside the horizon too, with the pre-reset observation, and not at all after a
termination). The critic ``V_φ`` is then fitted to TD(λ) targets computed with a target
critic, which follows ``φ`` by soft updates.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from .core.first_order import FirstOrderConfig, FirstOrderTrainer, Rollout, rollout
from .core.networks import VCritic, soft_update
from .core.returns import discounted_return, td_lambda_targets


@dataclass
class SHACConfig(FirstOrderConfig):
    """SHAC settings (defaults: paper Table 2, hovering).

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


class SHAC(FirstOrderTrainer):
    """SHAC trainer (see the module docstring); build with :class:`SHACConfig`."""

    algo = "shac"
    Config = SHACConfig

    def build(self) -> None:
        self.critic = VCritic(self.obs_dim, self.cfg.net).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=self.critic_lr,
                                           weight_decay=self.cfg.weight_decay)

    @property
    def critic_lr(self) -> float:
        return self.cfg.critic_lr if self.cfg.critic_lr is not None else self.cfg.lr

    def modules(self):
        return {**super().modules(), "critic": self.critic, "critic_target": self.critic_target}

    def optimizers(self):
        return {**super().optimizers(), "critic": self.critic_opt}

    def train_iteration(self) -> dict[str, float]:
        cfg = self.cfg
        ro = rollout(self.env, self.actor, self.norm, cfg.horizon)
        # Terminal values: differentiable in the next states (through the simulator).
        next_values = self.critic_target(ro.next_obs) * (~ro.terminated)
        objective = discounted_return(ro.rewards, ro.dones, next_values, cfg.gamma)
        loss = -objective.mean() / cfg.horizon
        grad_norm = self.step_actor(loss)
        critic_loss = self.fit_critic(ro)
        stats = self.after_rollout(ro)
        return {**stats, "actor_loss": float(loss.detach()), "critic_loss": critic_loss, "grad_norm": grad_norm,
                "entropy": float(-ro.log_probs.detach().mean()), "lr": self.actor_opt.param_groups[0]["lr"]}

    def fit_critic(self, ro: Rollout) -> float:
        cfg = self.cfg
        with torch.no_grad():
            next_values = self.critic_target(ro.next_obs.detach()) * (~ro.terminated)
            targets = td_lambda_targets(ro.rewards.detach(), ro.dones, next_values, cfg.gamma, cfg.lam)
        obs = ro.obs.detach().reshape(-1, self.obs_dim)
        return fit_regression(self.critic, self.critic_opt, lambda idx: self.critic(obs[idx]), targets.reshape(-1),
                              cfg, self.critic_lr * self.lr_factor(), self.critic_target)


def fit_regression(net, opt, predict, targets, cfg, lr: float, target) -> float:
    """``cfg.critic_updates`` Adam steps of MSE regression on minibatches, with a soft
    target update after each step (ABPT Algorithm 1, lines 15–17); returns the last loss.

    ``predict(idx)`` returns predictions ``(..., len(idx))`` for sample indices ``idx``;
    ``target`` is the target network that follows ``net``.
    """
    for group in opt.param_groups:
        group["lr"] = lr
    n = targets.shape[0]
    perm = torch.randperm(n, device=targets.device)
    batches = perm.chunk(max(1, cfg.critic_minibatches))
    loss = torch.zeros(())
    for i in range(cfg.critic_updates):
        idx = batches[i % len(batches)]
        loss = (predict(idx) - targets[idx]).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.max_grad_norm)
        opt.step()
        soft_update(target, net, cfg.tau)
    return float(loss.detach())
