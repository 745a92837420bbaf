"""Depth navigation: a batch of robots among random obstacles, driven by the reactive
depth controller; saves one env's picture (top-down view, camera rays, nose, depth inset).

    python docs/examples/nav_depth.py --out docs/_static/nav_frame.png
"""

import argparse

import gymnasium as gym
import numpy as np
import torch
from PIL import Image

import diffenvs  # noqa: F401  (registers the ids)
from diffenvs.registry import classical_controller

parser = argparse.ArgumentParser()
parser.add_argument("--out", default="nav_frame.png")
parser.add_argument("--steps", type=int, default=60)
args = parser.parse_args()

env = gym.make_vec("DiffNav-PointMass-v0", num_envs=1, render_mode="rgb_array").unwrapped
obs, _ = env.reset(seed=3)
print({k: v.shape for k, v in obs.items()})  # {"depth": (1, 12, 16), "state": (1, 3)}
controller = classical_controller(env)  # steers away from near pixels, slows down in front of obstacles
with torch.no_grad():
    for _ in range(args.steps):
        obs, reward, terminated, truncated, info = env.step_differentiable(controller(env.obs))
print("collisions:", int(info["collision"].sum()), "| reward terms:",
      {k: round(float(v.mean()), 3) for k, v in info.items() if k.startswith("reward/")})
frame = env.render()[0]  # one picture per env: 640x480 for a single env, 320x240 for more
Image.fromarray(np.asarray(frame)).save(args.out)
print("saved", args.out, frame.shape)
