"""BPTT: backpropagation through time of the discounted return (ABPT paper eq. 6).

Each iteration unrolls the stochastic policy ``horizon`` steps through
``step_differentiable``, maximises ``J = mean_envs sum_t γ^t r_t`` (the discount restarts
when an episode ends inside the horizon) by one Adam step, and cuts the graph.
Non-differentiable reward terms add value but no gradient, which is what makes BPTT's
gradient biased on partially differentiable rewards.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .core.first_order import FirstOrderConfig, FirstOrderTrainer
from .core.returns import discounted_return


@dataclass
class BPTTConfig(FirstOrderConfig):
    """BPTT settings (defaults: paper Table 4, hovering).

    Attributes:
        horizon: steps per unroll (256; 512 for racing).
    """

    horizon: int = 256


class BPTT(FirstOrderTrainer):
    """BPTT trainer (see the module docstring); build with :class:`BPTTConfig`."""

    algo = "bptt"
    Config = BPTTConfig

    def train_iteration(self) -> dict[str, float]:
        ro = self.rollout()
        objective = discounted_return(ro.rewards, ro.dones, torch.zeros_like(ro.rewards), self.cfg.gamma)
        loss = -objective.mean() / self.cfg.horizon
        grad_norm = self.step_actor(loss)
        stats = self.after_rollout(ro)
        entropy = -ro.log_probs.detach().mean()
        return {**stats, "actor_loss": float(loss.detach()), "entropy": float(entropy), "grad_norm": grad_norm,
                "lr": self.actor_opt.param_groups[0]["lr"]}
