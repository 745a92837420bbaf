"""ANYmal C trotting in place open loop: the trot task's kinematic reference sent as PD
targets; prints how upright the robots stay and saves one env's picture.

    python docs/examples/quadruped_trot.py --out docs/_static/quadruped_frame.png --seconds 5
"""

import argparse

import gymnasium as gym
import numpy as np
import torch
from PIL import Image

import diffenvs  # noqa: F401  (registers the ids)

parser = argparse.ArgumentParser()
parser.add_argument("--out", default="quadruped_frame.png")
parser.add_argument("--seconds", type=float, default=0.4)
parser.add_argument("--envs", type=int, default=4)
args = parser.parse_args()

env = gym.make_vec("DiffQuadruped-Trot-v0", num_envs=args.envs, render_mode="rgb_array").unwrapped
env.reset(seed=0)
task, robot = env.task, env.robot
lowest, tilt = np.inf, 0.0
with torch.no_grad():
    for _ in range(round(args.seconds / env.dt)):
        state = env.get_state()
        # The reference of the coming step, as an action: target = nominal + action_scale * action.
        phase = task.phases(state, step_offset=1)
        action = (task.reference(phase) / robot.cfg.action_scale).clamp(-1, 1)
        obs, reward, terminated, truncated, info = env.step_differentiable(action)
        state = env.get_state()
        lowest = min(lowest, float(state["base_pos"][:, 2].min()))
        _, gravity = task.base_frame(state)
        tilt = max(tilt, float(torch.arccos((-gravity[:, 2]).clamp(-1, 1)).max()))
print(f"{args.seconds:g} s of open-loop trot in {args.envs} envs: lowest base {lowest:.3f} m, "
      f"largest tilt {np.degrees(tilt):.1f} deg, episodes ended: {int(terminated.sum())}")
frame = env.render()[0]
Image.fromarray(np.asarray(frame)).save(args.out)
print("saved", args.out, frame.shape)
