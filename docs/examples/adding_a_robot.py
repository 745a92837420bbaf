"""Adding a robot: an inverted pendulum written outside the package, registered, checked and trained.

This file is a robot module (it defines ``ROBOT`` and ``ENVS``, exactly like a folder under
``diffenvs/robots/``) followed by what a user does with the new id. It runs
in seconds (a tiny training run); ``--steps 200000`` trains for real.

Run: python docs/examples/adding_a_robot.py [--steps N]
"""

import argparse
import sys
import tempfile
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

import diffenvs
from diffenvs.contract import EnvSpec, RewardTerm, Robot, State, StateField, Task, TaskStep


# [robot-start]
@dataclass(frozen=True)
class PendulumConfig:
    """Robot options: keyword arguments of the env (``gym.make_vec(id, N, max_torque=3.0)``)."""

    length: float = 1.0  # m
    mass: float = 1.0  # kg
    gravity: float = 9.81  # m/s^2
    damping: float = 0.1  # 1/s
    max_torque: float = 5.0  # N m at action +-1


class Pendulum(Robot):
    """A pole on a motorised pivot, angle measured from upright (semi-implicit Euler)::

        omega' = omega + dt (g/l sin(theta) + tau / (m l^2) - damping omega)
        theta' = theta + dt omega'
    """

    name = "pendulum"
    Config = PendulumConfig
    state_fields = {
        "theta": StateField((), "float", "angle from upright, rad, counter-clockwise"),
        "omega": StateField((), "float", "angular velocity, rad/s"),
    }
    action_dim = 1
    action_doc = "torque at the pivot, normalised to [-1, 1] (+-max_torque)"
    differentiable = True
    default_dt = 0.02

    def step(self, state: State, action: Tensor) -> State:  # (N,) fields, action (N, 1)
        c = self.cfg
        torque = c.max_torque * action[:, 0]
        acc = (c.gravity / c.length * torch.sin(state["theta"]) + torque / (c.mass * c.length**2)
               - c.damping * state["omega"])
        omega = state["omega"] + self.dt * acc
        return {"theta": state["theta"] + self.dt * omega, "omega": omega}

    def position(self, state: State) -> Tensor:  # (N, 3): the tip, pivot 1.5 m above the ground
        theta, length = state["theta"], self.cfg.length
        return torch.stack([-length * torch.sin(theta), torch.zeros_like(theta), 1.5 + length * torch.cos(theta)], -1)
# [robot-end]


# [task-start]
@dataclass(frozen=True)
class BalanceConfig:
    """Task options (``task_options={...}``)."""

    start_angle: float = 0.3  # episodes start at rest with |theta| <= this, rad
    k_angle: float = 1.0  # weight of (1 - cos theta)
    k_rate: float = 0.01  # weight of omega^2
    success_angle: float = 0.05  # |theta| below this at the end counts as balanced, rad


class BalanceTask(Task):
    name = "balance"
    label = "Pendulum: balance"
    robot = "pendulum"
    Config = BalanceConfig
    default_episode_steps = 200
    reward_terms = (
        RewardTerm("upright", True, "-k_angle (1 - cos theta)"),
        RewardTerm("rate", True, "-k_rate omega^2"),
    )
    metric_names = ("angle", "success")
    main_metric = ("angle", True)  # lower is better

    @property
    def observation_space(self) -> gym.Space:
        return gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)

    def sample_initial(self, n: int, gen: torch.Generator) -> State:
        u = torch.rand(n, generator=gen, dtype=self.dtype, device=self.device)
        return {"theta": (2 * u - 1) * self.cfg.start_angle, "omega": torch.zeros_like(u)}

    def observe(self, s: State) -> Tensor:  # (N, 3), differentiable in the state
        return torch.stack([torch.sin(s["theta"]), torch.cos(s["theta"]), 0.1 * s["omega"]], -1)

    def evaluate(self, s: State, failed: Tensor) -> TaskStep:
        terms = {"upright": -self.cfg.k_angle * (1 - torch.cos(s["theta"])),
                 "rate": -self.cfg.k_rate * s["omega"].square()}
        angle = torch.atan2(torch.sin(s["theta"]), torch.cos(s["theta"])).abs().detach()  # wrapped to [0, pi]
        metrics = {"angle": angle, "success": angle < self.cfg.success_angle}
        return TaskStep(terms, {}, torch.zeros_like(failed), metrics)  # no task fields, never terminates
# [task-end]


# [register-start]
ROBOT = Pendulum
ENVS = (EnvSpec("DiffPendulum-Balance-v0", "pendulum", BalanceTask, 200, label="Pendulum: balance"),)

# This script is the robot module; in a package of your own this is
# diffenvs.register_robot("my_robots.pendulum").
print("registered", diffenvs.register_robot(sys.modules[__name__]))
# [register-end]

def main(steps: int) -> None:
    # [check-start]
    venv = gym.make_vec("DiffPendulum-Balance-v0", num_envs=8)
    diffenvs.check_vector_env(venv, need_autoreset=True)  # the contract's members and spaces
    print(venv)
    print("state fields", {k: (f.shape, f.dtype) for k, f in venv.state_spec.items()})

    venv.reset(seed=0)
    theta0 = venv.get_state()["theta"].clone()  # (8,) start angles, rad
    actions = [torch.zeros(8, 1, requires_grad=True) for _ in range(20)]
    total = torch.zeros(())
    for a in actions:  # 20 steps with the graph kept
        obs, reward, terminated, truncated, info = venv.step_differentiable(a)
        total = total + reward.sum()
    total.backward()  # d return / d actions through 20 pendulum steps
    grad = actions[0].grad[:, 0]
    print("d return / d first torque", [round(g, 4) for g in grad.tolist()])
    # Pushing towards upright helps: the first torque's gradient opposes the lean of the
    # pole (a positive theta leans left; gravity pulls it further, torque < 0 saves it).
    assert bool((grad * theta0 < 0).all())
    venv.detach()
    venv.close()
    # [check-end]

    # [train-start]
    from trainers import make_trainer

    with tempfile.TemporaryDirectory() as log_dir:
        trainer = make_trainer(
            "bptt",
            env_id="DiffPendulum-Balance-v0",
            preset=None,  # the id has no presets: the config defaults plus the settings below
            seed=0,
            num_envs=16,
            horizon=50,
            lr=0.003,
            total_steps=steps,
            eval_every=max(steps // 4, 1),
            eval_envs=16,
            progress=False,
            tensorboard=False,
            log_dir=log_dir,
        )
        before = trainer.evaluate()
        after = trainer.learn()
    print(f"{trainer.env_steps} env steps: final |theta| {before['eval_metric']:.3f} -> {after['eval_metric']:.3f} "
          f"rad, balanced {before['eval_success']:.2f} -> {after['eval_success']:.2f}")
    # [train-end]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="define, register, check and train a pendulum robot")
    parser.add_argument("--steps", type=int, default=1600, help="training env steps (1600: two iterations)")
    main(parser.parse_args().steps)
