"""Perceptive quadruped navigation: ANYmal C among random obstacles with the depth camera on
its base, trotting in place (the open-loop trot reference); prints what the camera sees and
saves one env's picture (top-down view, camera rays, nose, depth inset).

    python docs/examples/quadruped_nav.py --out docs/_static/quadruped_nav_frame.png --steps 50
"""

import argparse

import gymnasium as gym
import numpy as np
import torch
from PIL import Image

import diffenvs  # noqa: F401  (registers the ids)
from diffenvs.registry import classical_controller

parser = argparse.ArgumentParser()
parser.add_argument("--out", default="quadruped_nav_frame.png")
parser.add_argument("--steps", type=int, default=5)
args = parser.parse_args()

env = gym.make_vec("DiffQuadruped-Nav-v0", num_envs=1, render_mode="rgb_array").unwrapped
obs, _ = env.reset(seed=1)
print({k: v.shape for k, v in obs.items()})  # {"depth": (1, 12, 16), "state": (1, 68)}
trot = classical_controller(env)  # the trot reference as PD targets, read from obs["state"]
with torch.no_grad():
    for _ in range(args.steps):
        obs, reward, terminated, truncated, info = env.step_differentiable(trot(env.obs))
    depth = env.task.depth(env.get_state())[0]
print(f"nearest obstacle pixel above the horizon: {float(depth[:6].min()):.2f} m; collisions:",
      int(info["collision"].sum()))
frame = env.render()[0]  # one picture per env: 640x480 for a single env
Image.fromarray(np.asarray(frame)).save(args.out)
print("saved", args.out, frame.shape)
