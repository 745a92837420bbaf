"""Racing: fly through four gates in order, lap after lap (partially differentiable reward)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ....consts import const, const_like
from ....contract import Marker, StateField
from .base import (
    POS_SCALE,
    SKELETON_TERMS,
    QuadrotorTask,
    RewardTerm,
    SkeletonWeights,
    TaskConfig,
    TaskStep,
    norm,
    skeleton_terms,
    state_features,
)

GATES = ((4.0, 4.0, 1.0), (8.0, 0.0, 2.0), (5.0, -4.0, 1.0), (1.0, -1.0, 1.0))
# Spawn clusters: cluster i lies on the way from gate i-1 to gate i, so gate i is next.
SPAWNS = ((2.0, 2.0, 1.0), (6.0, 2.0, 1.5), (6.0, -2.0, 1.5), (2.0, 0.0, 1.0))


@dataclass(frozen=True)
class RacingConfig(TaskConfig, SkeletonWeights):
    """Racing options.

    Attributes:
        gates: gate centres flown in this order, forever, m (world).
        gate_radius: a gate counts as passed when the drone comes within this distance
            of its centre, m.
        spawn_points: start clusters; cluster ``i`` starts with gate ``i`` next.
        spawn_half_extent: half size of each start cluster, m.
        reward: ``"position"`` (hover-like skeleton toward the next gate, paper Table 1)
            or ``"velocity"`` (approach velocity toward the gate, paper Appendix D.2).
        gate_reward: bonus per gate passed (non-differentiable); ``None`` uses 20 for
            the position reward and 5 for the velocity reward.
        k_approach: velocity reward: weight of the approach speed toward the gate.
        k_away: velocity reward: weight of the speed across the gate direction,
            divided by ``distance + 1``.
        k_rate_vel: velocity reward: weight of the body-rate norm.
        max_approach_speed: velocity reward: the approach speed is capped here, m/s.
    """

    gates: tuple[tuple[float, float, float], ...] = GATES
    gate_radius: float = 0.3
    spawn_points: tuple[tuple[float, float, float], ...] = SPAWNS
    spawn_half_extent: tuple[float, float, float] = (0.2, 0.2, 0.2)
    reward: str = "position"
    gate_reward: float | None = None
    k_approach: float = 0.02
    k_away: float = 0.02
    k_rate_vel: float = 0.001
    max_approach_speed: float = 15.0


class RacingTask(QuadrotorTask):
    name = "racing"
    label = "Racing"
    Config = RacingConfig
    default_episode_steps = 512
    obs_dim = 16
    state_fields = {
        "next_gate": StateField((), "int", "index of the gate to pass next"),
        "gates_passed": StateField((), "int", "gates passed in this episode"),
        "lap_start_step": StateField((), "int", "step at which the current lap started"),
        "lap_gates": StateField((), "int", "gates passed in the current lap (0: no lap started)"),
        "last_lap_steps": StateField((), "int", "steps of the latest complete lap (-1: none yet)"),
    }
    metric_names = ("gates_passed", "lap_time", "gate_passed", "success")
    metric_units = {"gates_passed": "gates", "lap_time": "s", "gate_passed": "%", "success": "%"}
    main_metric = ("gates_passed", False)

    def __init__(self, options, **kw):
        super().__init__(options, **kw)
        c = self.cfg
        if c.reward not in ("position", "velocity"):
            raise ValueError(f"unknown racing reward {c.reward!r}; choose 'position' or 'velocity'")
        if len(c.spawn_points) != len(c.gates):
            raise ValueError("racing needs one spawn cluster per gate (spawn_points and gates differ in length)")
        self.gates = self.tensor(c.gates)
        self.num_gates = len(c.gates)
        self.spawns = self.tensor(c.spawn_points)
        self.half = self.tensor(c.spawn_half_extent)
        self.gate_reward = c.gate_reward if c.gate_reward is not None else (20.0 if c.reward == "position" else 5.0)
        bonus = RewardTerm("gate", False, f"+{self.gate_reward:g} per gate passed")
        if c.reward == "position":
            self.reward_terms = SKELETON_TERMS + (bonus,)
        else:
            self.reward_terms = (
                RewardTerm("approach", True, "k_approach * (velocity toward the next gate), capped"),
                RewardTerm("away", True, "-k_away * |velocity across the gate direction| / (distance + 1)"),
                RewardTerm("rate", True, "-k_rate_vel * |ω|"),
                bonus,
            )

    def sample_initial(self, n, gen):
        kw = dict(dtype=self.dtype, device=self.device)
        cluster = torch.randint(0, self.num_gates, (n,), generator=gen, device=self.device)
        u = torch.rand(n, 3, generator=gen, **kw)
        pos = self.spawns[cluster] + (2.0 * u - 1.0) * self.half
        zeros = torch.zeros_like(cluster)
        return {**self.at_rest(pos), "next_gate": cluster, "gates_passed": zeros, "lap_start_step": zeros.clone(),
                "lap_gates": zeros.clone(), "last_lap_steps": zeros - 1}

    def _next_two(self, gate_idx: Tensor) -> tuple[Tensor, Tensor]:
        return self.gates[gate_idx], self.gates[(gate_idx + 1) % self.num_gates]

    def observe(self, s):
        g1, g2 = self._next_two(s["next_gate"])
        p = s["pos"]
        return torch.cat([(g1 - p) * const(POS_SCALE, p), (g2 - p) * const(POS_SCALE, p), *state_features(s)], dim=-1)

    def evaluate(self, s, failed):
        c = self.cfg
        step = s["step"]
        gate_idx, lap_start, lap_gates, last_lap = s["next_gate"], s["lap_start_step"], s["lap_gates"], \
            s["last_lap_steps"]
        p = s["pos"]
        gate = self.gates[gate_idx]
        passed = (norm(p.detach() - gate) <= const(c.gate_radius, p)) & ~failed
        pi = passed.long()
        new_idx = torch.remainder(gate_idx + pi, self.num_gates)
        passed_count = s["gates_passed"] + pi
        # Lap timing: a lap is num_gates consecutive passes; it starts at the first pass.
        first = passed & (lap_gates == 0)
        lap_start = torch.where(first, step, lap_start)
        lap_gates = lap_gates + pi
        lap_done = lap_gates > self.num_gates
        last_lap = torch.where(lap_done, step - lap_start, last_lap)
        lap_start = torch.where(lap_done, step, lap_start)
        lap_gates = torch.where(lap_done, torch.ones_like(lap_gates), lap_gates)

        target = self.gates[new_idx]
        if c.reward == "position":
            terms = skeleton_terms(norm(p - target), s, c)
        else:
            terms = self._velocity_terms(s, target)
        terms["gate"] = passed.to(p.dtype) * const(self.gate_reward, p)
        new_task = {"next_gate": new_idx, "gates_passed": passed_count, "lap_start_step": lap_start,
                    "lap_gates": lap_gates, "last_lap_steps": last_lap}
        # Seconds of the latest completed lap; -1 until one is complete (not NaN: NaN would
        # make identical infos compare unequal).
        lap_time = torch.where(last_lap >= 0, last_lap.to(p.dtype) * const(self.dt, p), torch.full_like(p[:, 0], -1.0))
        metrics = {"gates_passed": passed_count.to(p.dtype), "lap_time": lap_time, "gate_passed": passed,
                   "success": passed_count >= self.num_gates}  # a full lap in this episode
        return TaskStep(terms, new_task, torch.zeros_like(failed), metrics)

    def native_transition(self, env):
        if type(self) not in (RacingTask, RacingVelocityTask):  # a subclass may change what the kernel restates
            return None
        from .native_hover import make

        return make(env)

    def markers(self):
        gates = self.gates.detach().cpu().double().numpy().reshape(-1, 3)
        return (Marker("gates", gates, self.cfg.gate_radius, "gates"),)

    def marker_state(self, s):
        return {"next_gate": s["next_gate"]}

    def _velocity_terms(self, s, target: Tensor) -> dict[str, Tensor]:
        c = self.cfg
        rel = target - s["pos"]

        k = const_like(rel)  # the constants as tensors of its dtype: no per-call dtype copies

        dist = norm(rel)
        direction = rel / (dist.unsqueeze(-1) + k(1e-6))
        vel = s["vel"]
        approach = (vel * direction).sum(-1).clamp_max(c.max_approach_speed)
        across = vel - approach.unsqueeze(-1) * direction
        return {
            "approach": k(c.k_approach) * approach,
            "away": k(-c.k_away) * norm(across) / (dist + k(1.0)),
            "rate": k(-c.k_rate_vel) * norm(s["omega"]),
        }

    def setpoint(self, obs: Tensor):
        g1 = obs[:, 0:3] / POS_SCALE  # next gate relative to the drone
        g2 = obs[:, 3:6] / POS_SCALE
        dist = norm(g1).unsqueeze(-1)
        # Aim at the gate centre at a speed that grows with distance, and carry some
        # speed through the gate toward the one after it.
        through = g2 - g1
        through = through / (norm(through).unsqueeze(-1) + 1e-6)
        direction = g1 / (dist + 1e-6)
        speed = (2.0 * dist).clamp(1.5, 5.0)
        vel_ref = speed * direction + 1.0 * through * (dist < 1.0)
        zeros = torch.zeros_like(g1)
        return g1, vel_ref, zeros, zeros


@dataclass(frozen=True)
class RacingVelocityConfig(RacingConfig):
    """Racing options with the velocity-based reward (paper Appendix D.2) as the default."""

    reward: str = "velocity"


class RacingVelocityTask(RacingTask):
    """Racing with the velocity-based reward by default (``DiffQuad-RacingVelocity-v0``)."""

    name = "racing_velocity"
    label = "Racing (velocity reward)"
    Config = RacingVelocityConfig
