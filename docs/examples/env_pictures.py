"""The animations at the top of the environment pages: each id flown by its robot's
classical controller (the quadrotor's cascaded controller, the point mass's PD law), a few
envs in one overview picture with their trails and the task's markers, scaled to 320x240.

    python docs/examples/env_pictures.py --out docs/_static/envs --steps 200

(the tests run it with the defaults: 4 steps per id, into the working directory).
"""

import argparse
import os

import gymnasium as gym

import diffenvs  # noqa: F401  (registers the ids)
from diffenvs.registry import classical_controller
from diffenvs.render import record_episode

IDS = ("DiffQuad-Hover-v0", "DiffQuad-Tracking-v0", "DiffQuad-Landing-v0", "DiffQuad-Racing-v0",
       "DiffPointMass-Reach-v0")

parser = argparse.ArgumentParser()
parser.add_argument("--out", default="env_pictures")
parser.add_argument("--steps", type=int, default=4, help="env steps per animation")
parser.add_argument("--num-envs", type=int, default=4)
parser.add_argument("--ids", nargs="+", default=IDS)
args = parser.parse_args()

os.makedirs(args.out, exist_ok=True)
for env_id in args.ids:
    env = gym.make_vec(env_id, num_envs=args.num_envs, render_mode="rgb_array")
    env.reset(seed=3)
    path = os.path.join(args.out, f"{env_id}.gif")
    record_episode(env, classical_controller(env), path, max_steps=args.steps, every=4, fps=12, size=(320, 240))
    print(f"{env_id}: {path} ({os.path.getsize(path) / 1024:.0f} KiB)")
