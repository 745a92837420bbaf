"""ABPT: amended backpropagation through time (Li et al.; eqs. 9–15, Algorithm 1).

The actor maximises the mean of the N-step return and the 0-step return (eqs. 9–10)::

    J = 1/2 (J^N + J^0)
    J^N = sum_{k<N} γ^k r_k + (1 - d) γ^N V(s_N)        (bootstrapping at every episode end)
    J^0 = V(s_0)

where the value is entropy-regularised and computed from twin action-value critics
(eq. 15), ``V(s) = min_j Q_j(s, a) - κ log π(a|s)`` with ``a ~ π_θ(s)`` reparameterised,
so that J^0 is differentiable in θ even where rewards are not (Appendix A: its gradient
is the value gradient, and the mean with J^N averages value and first-order gradients).
κ adapts as in SAC toward a target entropy. The critics regress TD(λ) targets
(eqs. 12–14) computed with soft-updated target critics. Visited states are stored in a
replay buffer and used only to start new episodes (Algorithm 1).

Ablations (Appendix D.1): ``zero_step=False`` (no 0-step return), ``entropy=False``
(κ = 0), ``state_replay=False``. Beyond the paper, for the studies of the Results page:
``zero_step_weight`` w mixes ``J = (1 - w) J^N + w J^0`` (the paper's w = 1/2),
``critic_reduce`` combines the twin critics by their minimum (the paper), their mean or
uses one critic only, ``critic_warmup`` fits the critic for some iterations before the
actor's first step, and ``entropy_of="gaussian"`` regularises the entropy of the Gaussian
before the tanh instead of the squashed action's.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .core.critic import CriticConfig, CriticTrainer
from .core.networks import QCritic, adam
from .core.returns import bootstrap_rows, discounted_return, scatter_values, td_lambda_targets

#: ``critic_reduce`` choices: how twin action values ``(k, N)`` become one ``(N,)``.
CRITIC_REDUCE = {"min": lambda q: q.min(0).values, "mean": lambda q: q.mean(0), "one": lambda q: q[0]}


@dataclass
class ABPTConfig(CriticConfig):
    """ABPT settings (defaults: paper Table 5, hovering), on top of the critic settings of
    :class:`trainers.core.critic.CriticConfig`.

    Attributes:
        zero_step: include the 0-step return J^0 in the actor objective.
        entropy: entropy-regularised values with adaptive κ (``False``: κ = 0).
        state_replay: start new episodes from replayed visited states.
        replay_size: capacity of the visited-state buffer.
        replay_prob: fraction of the envs that start each iteration from a random visited
            state (Algorithm 1, line 10); the others continue their episodes, which begin at
            the task's own start distribution.
        init_alpha: initial entropy temperature κ.
        target_entropy: entropy target of κ's adaptation (``None``: minus the action
            dimension, as in SAC).
        alpha_lr: learning rate of log κ (one Adam step per iteration, so κ has to follow
            the policy's entropy within about a hundred iterations; see the Hover results
            page in the docs for 0.1 vs 0.01). ``0``: κ stays at ``init_alpha``.
        alpha_optimizer: how log κ takes its step each iteration: ``"adam"`` (as SAC; a step
            of about ``alpha_lr`` whatever the entropy's error, carried on by momentum) or
            ``"sgd"`` (plain gradient descent, no momentum: a step of ``alpha_lr`` times the
            entropy's error in nats, which shrinks as the entropy nears its target).
        alpha_from: when κ starts adapting: ``"start"`` (the first iteration, as SAC) or
            ``"target"`` (κ stays at ``init_alpha`` until the rollout's entropy first falls to
            the target, so that it does not decay while the initial policy's entropy is high).
        actor_critic: which critic values the actor's returns J^N and J^0: ``"online"``
            (the critic being fitted, default) or ``"target"`` (its soft-updated copy, as
            SHAC does for its terminal values; both are held fixed in the actor step).
        zero_step_weight: weight w of the 0-step return, ``J = (1 - w) J^N + w J^0``
            (eq. 9 is w = 0.5; used only with ``zero_step``).
        critic_reduce: how the action values combine into ``Q(s, a)`` everywhere (the
            actor's returns and the critic's targets): ``"min"`` of the twin critics (eq. 15,
            default), their ``"mean"``, or ``"one"`` (a single critic is built and fitted).
        entropy_of: which distribution's entropy the values regularise and κ adapts to:
            ``"action"`` (default), the tanh-squashed action's, as SAC (its log-density
            includes the tanh Jacobian, so a larger bonus also pulls the mean command toward
            the middle of the action range); ``"gaussian"``, the Gaussian's before the tanh
            (a bonus that only widens the noise; κ's target then refers to that entropy).
        critic_warmup: iterations at the start in which rollouts fill the critic's data
            and the replay buffer and the critic (and κ) are fitted, but the actor is not
            stepped (0: the actor learns from the first iteration, as in the paper). The
            warm-up's env steps count toward the budget.
    """

    zero_step: bool = True
    entropy: bool = True
    state_replay: bool = True
    replay_size: int = 1_000_000
    replay_prob: float = 0.25
    init_alpha: float = 0.005
    target_entropy: float | None = None
    alpha_lr: float = 0.1
    actor_critic: str = "online"
    zero_step_weight: float = 0.5
    critic_reduce: str = "min"
    critic_warmup: int = 0
    entropy_of: str = "action"
    alpha_from: str = "start"
    alpha_optimizer: str = "adam"

    def __post_init__(self):
        if self.actor_critic not in ("online", "target"):
            raise ValueError(f"unknown actor_critic {self.actor_critic!r}; choose 'online' or 'target'")
        if self.critic_reduce not in CRITIC_REDUCE:
            raise ValueError(f"unknown critic_reduce {self.critic_reduce!r}; choose one of {sorted(CRITIC_REDUCE)}")
        if self.alpha_from not in ("start", "target"):
            raise ValueError(f"unknown alpha_from {self.alpha_from!r}; choose 'start' or 'target'")
        if self.alpha_optimizer not in ("adam", "sgd"):
            raise ValueError(f"unknown alpha_optimizer {self.alpha_optimizer!r}; choose 'adam' or 'sgd'")
        if self.entropy_of not in ("action", "gaussian"):
            raise ValueError(f"unknown entropy_of {self.entropy_of!r}; choose 'action' or 'gaussian'")


class StateBuffer:
    """Ring buffer of visited env states (only states, used to initialise episodes).

    States are the env's named fields (:attr:`diffenvs.vector_env.DiffVectorEnv.state_spec`); the
    buffer holds one ``(capacity, *shape)`` tensor per field.
    """

    def __init__(self, capacity: int, example: dict[str, Tensor]):
        self.states = {k: v.new_zeros(capacity, *v.shape[1:]) for k, v in example.items()}
        self.capacity, self.size, self.pos = capacity, 0, 0

    def add(self, states: dict[str, Tensor]) -> None:
        """Add ``(..., *shape)`` states (e.g. ``(H, N, *shape)`` from a rollout), oldest first."""
        flat = {k: v.reshape(-1, *self.states[k].shape[1:])[-self.capacity:] for k, v in states.items()}
        n = next(iter(flat.values())).shape[0]
        idx = (self.pos + torch.arange(n, device=next(iter(flat.values())).device)) % self.capacity
        for k, v in flat.items():
            self.states[k][idx] = v
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.capacity, self.size + n)

    def sample(self, n: int) -> dict[str, Tensor]:
        first = next(iter(self.states.values()))
        idx = torch.randint(0, self.size, (n,), device=first.device)
        return {k: v[idx] for k, v in self.states.items()}


class ABPT(CriticTrainer):
    """ABPT trainer (see the module docstring); build with :class:`ABPTConfig`."""

    algo = "abpt"
    Config = ABPTConfig

    def build(self) -> None:
        cfg = self.cfg
        heads = 1 if cfg.critic_reduce == "one" else 2
        self.actor.squash_jacobian = cfg.entropy_of == "action"
        self.critic = QCritic(self.obs_dim, self.act_dim, cfg.net, heads=heads).to(self.device)
        self.reduce_q = CRITIC_REDUCE[cfg.critic_reduce]
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.critic_opt = adam(self.critic.parameters(), lr=self.critic_lr, weight_decay=cfg.weight_decay)
        self.log_alpha = torch.nn.Parameter(torch.tensor(math.log(cfg.init_alpha), device=self.device))
        self.alpha_opt = (adam([self.log_alpha], lr=cfg.alpha_lr) if cfg.alpha_optimizer == "adam"
                          else torch.optim.SGD([self.log_alpha], lr=cfg.alpha_lr))
        self.target_entropy = cfg.target_entropy if cfg.target_entropy is not None else -float(self.act_dim)
        self.buffer = StateBuffer(cfg.replay_size, self.env.get_state()) if cfg.state_replay else None
        #: Whether κ adapts yet (``alpha_from="target"``: from the first rollout at or below the target entropy).
        self.alpha_adapting = cfg.alpha_from == "start"

    def modules(self):
        return {**super().modules(), "critic": self.critic, "critic_target": self.critic_target,
                "alpha": _ParamModule(self.log_alpha)}

    def optimizers(self):
        return {**super().optimizers(), "critic": self.critic_opt, "alpha": self.alpha_opt}

    def extra_state(self):
        out = {"alpha_adapting": self.alpha_adapting}
        if self.buffer is None:
            return out
        return {**out, "buffer": {k: v[: self.buffer.size].clone() for k, v in self.buffer.states.items()},
                "buffer_pos": self.buffer.pos}

    def load_extra_state(self, state):
        self.alpha_adapting = bool(state.get("alpha_adapting", self.cfg.alpha_from == "start"))
        if self.buffer is not None and "buffer" in state:
            for k, v in state["buffer"].items():
                n = v.shape[0]
                self.buffer.states[k][:n] = v.to(self.device)
            self.buffer.size, self.buffer.pos = n, state["buffer_pos"]

    @property
    def alpha(self) -> Tensor:
        return self.log_alpha.exp().detach() if self.cfg.entropy else torch.zeros((), device=self.device)

    def soft_value(self, obs: Tensor, critic, noise: Tensor | None = None) -> Tensor:
        """``V(s) = min_j Q_j(s, a) - κ log π(a|s)`` with one reparameterised ``a ~ π(s)`` (eq. 15;
        the minimum is ``critic_reduce``; ``noise``: the action noise, drawn if ``None``)."""
        action, log_prob = self.actor(obs, noise=noise)
        return self.reduce_q(critic(obs, action)) - self.alpha * log_prob

    def warming_up(self) -> bool:
        """Whether the actor is still held fixed (the first ``critic_warmup`` iterations)."""
        return self.env_steps < self.cfg.critic_warmup * self.steps_per_iteration

    def replay_starts(self) -> None:
        """Start a ``replay_prob`` fraction of the envs from random visited states (Algorithm 1,
        line 10). A replayed state keeps its step counter and task state, so its time limit
        runs from where it was visited."""
        if self.buffer is None or self.buffer.size == 0:
            return
        n = self.env.num_envs
        pick = torch.rand(n, device=self.device) < self.cfg.replay_prob
        self.env.set_state(self.buffer.sample(n), pick)

    def train_iteration(self) -> dict[str, float]:
        cfg = self.cfg
        self.replay_starts()
        ro = self.rollout(record_states=self.buffer is not None)
        if self.warming_up():
            loss, grad_norm = torch.zeros(()), 0.0
        else:
            objective = self.actor_objective(ro)["objective"]
            loss = -objective.mean() / cfg.horizon
            grad_norm = self.step_actor(loss)

        if cfg.entropy and not self.alpha_adapting:
            self.alpha_adapting = bool(-ro.log_probs.detach().mean() <= self.target_entropy)
        if cfg.entropy and cfg.alpha_lr > 0 and self.alpha_adapting:
            self.set_lr(self.alpha_opt, cfg.alpha_lr)
            a_loss = -(self.log_alpha * (ro.log_probs.detach() + self.target_entropy)).mean()
            self.alpha_opt.zero_grad(set_to_none=True)
            if torch.isfinite(a_loss):
                a_loss.backward()
                self.alpha_opt.step()
            else:
                self.skipped_updates += 1
        critic_loss = self.fit_q(ro)
        if self.buffer is not None:
            self.buffer.add(ro.states)
        stats = self.after_rollout(ro)
        return {**stats, "actor_loss": float(loss.detach()), "critic_loss": critic_loss, "grad_norm": grad_norm,
                "entropy": float(-ro.log_probs.detach().mean()), "alpha": float(self.alpha),
                "lr": self.actor_opt.param_groups[0]["lr"]}

    def actor_objective(self, ro) -> dict[str, Tensor]:
        """Per-env ``J^N``, ``J^0`` and the objective ``(1 - w) J^N + w J^0`` (w = 1/2 in the
        paper; ``J^N`` alone without the 0-step return)."""
        # N-step return with differentiable terminal values from the current critics.
        critic = self.critic if self.cfg.actor_critic == "online" else self.critic_target
        # Only the next values that the return bootstraps from are evaluated (the segment
        # ends, about one row in a horizon), with the action noise every row would have drawn.
        noise = torch.randn(*ro.next_obs.shape[:-1], self.act_dim, dtype=ro.next_obs.dtype, device=self.device)
        rows = bootstrap_rows(ro.dones, ro.terminated)
        values = self.soft_value(ro.next_obs[rows], critic, noise[rows])
        next_values = scatter_values(rows, values, ro.dones.shape)
        j_n = discounted_return(ro.rewards, ro.dones, next_values, self.cfg.gamma)
        out = {"j_n": j_n, "next_values": next_values}
        if self.cfg.zero_step:
            out["j_0"] = self.reduce_q(critic(ro.obs[0], ro.actions[0])) - self.alpha * ro.log_probs[0]
            w = self.cfg.zero_step_weight
            out["objective"] = (1 - w) * j_n + w * out["j_0"]  # w = 0.5: bit for bit 0.5 (J^N + J^0)
        else:
            out["objective"] = j_n
        return out

    def fit_q(self, ro) -> float:
        cfg = self.cfg
        with torch.no_grad():
            next_obs = ro.next_obs.detach()
            next_values = self.soft_value(next_obs, self.critic_target) * (~ro.terminated)
            targets = td_lambda_targets(ro.rewards.detach(), ro.dones, next_values, cfg.gamma, cfg.lam)
        obs = ro.obs.detach().reshape(-1, self.obs_dim)
        actions = ro.actions.detach().reshape(-1, self.act_dim)
        return self.regress_critic(lambda idx: self.critic(obs[idx], actions[idx]), targets)


class _ParamModule(torch.nn.Module):
    """Wraps a lone parameter so it checkpoints like the other modules."""

    def __init__(self, param: torch.nn.Parameter):
        super().__init__()
        self.param = param
