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
from torch import Tensor

from .core.critic import CriticConfig, CriticTrainer
from .core.first_order import Rollout
from .core.networks import VCritic, adam
from .core.returns import bootstrap_rows, discounted_return, scatter_values, td_lambda_targets


@dataclass
class SHACConfig(CriticConfig):
    """SHAC settings (defaults: paper Table 2, hovering); the critic settings are
    :class:`trainers.core.critic.CriticConfig`'s."""


class SHAC(CriticTrainer):
    """SHAC trainer (see the module docstring); build with :class:`SHACConfig`."""

    algo = "shac"
    Config = SHACConfig

    def build(self) -> None:
        self.critic = VCritic(self.obs_dim, self.cfg.net).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.critic_opt = adam(self.critic.parameters(), lr=self.critic_lr, weight_decay=self.cfg.weight_decay)

    def modules(self):
        return {**super().modules(), "critic": self.critic, "critic_target": self.critic_target}

    def optimizers(self):
        return {**super().optimizers(), "critic": self.critic_opt}

    def train_iteration(self) -> dict[str, float]:
        ro = self.rollout()
        loss = self.actor_loss(ro)
        grad_norm = self.step_actor(loss)
        critic_loss = self.fit_critic(ro)
        stats = self.after_rollout(ro)
        return {**stats, "actor_loss": float(loss.detach()), "critic_loss": critic_loss, "grad_norm": grad_norm,
                "entropy": float(-ro.log_probs.detach().mean()), "lr": self.actor_opt.param_groups[0]["lr"]}

    def actor_loss(self, ro: Rollout) -> Tensor:
        """The actor's loss, minus the mean discounted return per step, with terminal values
        differentiable in the next states (through the simulator), evaluated only where the
        return bootstraps (the segment ends)."""
        rows = bootstrap_rows(ro.dones, ro.terminated)
        next_values = scatter_values(rows, self.critic_target(ro.next_obs[rows]), ro.dones.shape)
        objective = discounted_return(ro.rewards, ro.dones, next_values, self.cfg.gamma)
        return -objective.mean() / self.cfg.horizon

    def fit_critic(self, ro: Rollout) -> float:
        cfg = self.cfg
        with torch.no_grad():
            next_values = self.critic_target(ro.next_obs.detach()) * (~ro.terminated)
            targets = td_lambda_targets(ro.rewards.detach(), ro.dones, next_values, cfg.gamma, cfg.lam)
        obs = ro.obs.detach().reshape(-1, self.obs_dim)
        return self.regress_critic(lambda idx: self.critic(obs[idx]), targets)
