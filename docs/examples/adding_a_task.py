"""Adding a task: the point mass chases a target that moves on a circle.

The task is written outside the package and registered for the existing ``pointmass``
robot under a new id. The script then checks the env, flies it with the robot's PD
controller, differentiates a rollout and trains BPTT for two tiny iterations;
``--steps 100000`` trains for real, ``--gif chase.gif`` saves an animation.

Run: python docs/examples/adding_a_task.py [--steps N] [--gif PATH]
"""

import argparse
import math
import tempfile
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

import diffenvs
from diffenvs.contract import EnvSpec, Marker, RewardTerm, State, StateField, Task, TaskStep, reward_terms
from diffenvs.registry import classical_controller, register_env


# [task-start]
@dataclass(frozen=True)
class ChaseConfig:
    """Chase options (``task_options={...}``)."""

    radius: float = 1.5  # the target circles the origin at this radius, m
    angular_speed: float = 0.5  # counter-clockwise, rad/s (0.75 m/s on the circle)
    spawn_half_extent: float = 2.0  # episodes start at rest uniformly in [-this, this]^2, m
    arena_half_extent: float = 5.0  # leaving |x|, |y| <= this ends the episode, m
    k_dist: float = 0.1  # weight of |p - target|^2
    k_vel: float = 0.01  # weight of |v - v_target|^2
    close_radius: float = 0.2  # within this of the target counts as caught, m
    close_bonus: float = 0.05  # reward per step while caught (an indicator: no gradient)


class ChaseTask(Task):
    """Follow a target moving on a circle. Observation ``(target - p, v)`` (4 values, the
    layout of ``reach``, so the point mass's PD controller can chase it)."""

    name = "chase"
    label = "Point mass: chase"
    robot = "pointmass"  # the robot this task is written for
    Config = ChaseConfig
    default_episode_steps = 200
    state_fields = {"target_angle": StateField((), "float", "angle of the target on its circle, rad")}
    reward_terms = (
        RewardTerm("distance", True, "-k_dist |p - target|^2"),
        RewardTerm("velocity", True, "-k_vel |v - v_target|^2"),
        RewardTerm("close", False, "+close_bonus while |p - target| < close_radius"),
    )
    metric_names = ("distance", "success")
    main_metric = ("distance", True)  # (metric, lower is better): what evaluations report

    def setpoint(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """For the point mass's PD controller: position error ``target - p``, velocity error ``-v``."""
        return obs[:, 0:2], -obs[:, 2:4]

    def target(self, angle: Tensor) -> tuple[Tensor, Tensor]:
        """Target position and velocity ``(N, 2)`` for target angles ``(N,)``."""
        c, s = torch.cos(angle), torch.sin(angle)
        r, w = self.cfg.radius, self.cfg.angular_speed
        return r * torch.stack([c, s], -1), r * w * torch.stack([-s, c], -1)

    @property
    def observation_space(self) -> gym.Space:
        return gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)

    def sample_initial(self, n: int, gen: torch.Generator) -> State:
        u = torch.rand(n, 3, generator=gen, dtype=self.dtype, device=self.device)
        pos = (2 * u[:, :2] - 1) * self.cfg.spawn_half_extent
        return {"pos": pos, "vel": torch.zeros_like(pos), "target_angle": 2 * math.pi * u[:, 2]}

    def observe(self, s: State) -> Tensor:
        target, _ = self.target(s["target_angle"])
        return torch.cat([target - s["pos"], s["vel"]], -1)

    def evaluate(self, s: State, failed: Tensor) -> TaskStep:
        # s: the robot fields after the step, the task fields before it, the new step count.
        angle = s["target_angle"] + self.cfg.angular_speed * self.dt  # the target moves too
        target, target_vel = self.target(angle)
        d2 = (s["pos"] - target).square().sum(-1)
        dist = d2.detach().sqrt()
        close = dist < self.cfg.close_radius
        terms = {
            "distance": -self.cfg.k_dist * d2,
            "velocity": -self.cfg.k_vel * (s["vel"] - target_vel).square().sum(-1),
            "close": self.cfg.close_bonus * close.to(d2.dtype),  # computed from detached values
        }
        metrics = {"distance": dist, "success": close}
        return TaskStep(terms, {"target_angle": angle}, torch.zeros_like(failed), metrics)

    def failure(self, s: State) -> tuple[Tensor, Tensor]:
        diverged = self.robot_model.diverged(s)  # non-finite state
        out = (s["pos"].detach().abs() > self.cfg.arena_half_extent).any(-1)
        return diverged, out

    def markers(self) -> tuple[Marker, ...]:
        a = np.linspace(0.0, 2 * np.pi, 65)
        circle = np.stack([self.cfg.radius * np.cos(a), self.cfg.radius * np.sin(a), np.zeros_like(a)], -1)
        return (Marker("path", circle, 0.0, "target's circle"),)

    def marker_state(self, s: State) -> dict[str, Tensor]:
        target, _ = self.target(s["target_angle"])
        return {"reference": torch.cat([target, torch.zeros_like(target[:, :1])], -1)}  # (N, 3)
# [task-end]


# [register-start]
SPEC = EnvSpec(
    "DiffPointMass-Chase-v0", robot="pointmass", task="chase", max_episode_steps=200, label="Point mass: chase",
    presets={"default": {"bptt": {"num_envs": 64, "horizon": 32, "lr": 0.01}}},
)
register_env(SPEC, task=ChaseTask)  # registers the task for the robot, then the id with Gymnasium
assert diffenvs.env_spec("DiffPointMass-Chase-v0") == SPEC
# [register-end]


def main(steps: int, gif: str | None) -> None:
    # [use-start]
    venv = gym.make_vec("DiffPointMass-Chase-v0", num_envs=8)
    diffenvs.check_vector_env(venv, need_autoreset=True)
    venv.reset(seed=0)
    pd = classical_controller(venv)  # the robot's PD controller, through ChaseTask.setpoint
    with torch.no_grad():
        for _ in range(100):
            obs, reward, terminated, truncated, info = venv.step_differentiable(pd(venv.obs))
    print("PD controller after 100 steps: distance", [round(d, 2) for d in info["distance"].tolist()])
    print("next target angles", [round(a, 2) for a in venv.get_state()["target_angle"].tolist()])

    actions = torch.zeros(8, 2, requires_grad=True)
    obs, reward, terminated, truncated, info = venv.step_differentiable(actions)
    terms = reward_terms(info)  # {name: info["reward/<name>"]}
    for term in venv.reward_terms:  # the indicator term carries no gradient
        assert terms[term.name].requires_grad == term.differentiable, term.name
    reward.sum().backward()
    print("d reward / d action", actions.grad.shape, "finite:", bool(torch.isfinite(actions.grad).all()))
    venv.detach()
    venv.close()
    # [use-end]

    if gif:
        from diffenvs.render import record_episode

        renv = gym.make_vec("DiffPointMass-Chase-v0", num_envs=4, render_mode="rgb_array")
        print("animation:", record_episode(renv, classical_controller(renv), gif, max_steps=150, every=3))

    # [train-start]
    from trainers import make_trainer

    with tempfile.TemporaryDirectory() as log_dir:
        trainer = make_trainer("bptt", env_id="DiffPointMass-Chase-v0", seed=0, total_steps=steps,
                               eval_every=max(steps // 4, 1), eval_envs=16, progress=False, tensorboard=False,
                               log_dir=log_dir)  # preset "default": the row's presets (64 envs, horizon 32)
        before = trainer.evaluate()
        after = trainer.learn()
    print(f"{trainer.env_steps} env steps: final distance {before['eval_metric']:.3f} -> "
          f"{after['eval_metric']:.3f} m, caught {before['eval_success']:.2f} -> {after['eval_success']:.2f}")
    # [train-end]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="define, register, check and train a point-mass task")
    parser.add_argument("--steps", type=int, default=4096, help="training env steps (4096: two iterations)")
    parser.add_argument("--gif", default=None, help="save an animation of the PD controller here")
    args = parser.parse_args()
    main(args.steps, args.gif)
