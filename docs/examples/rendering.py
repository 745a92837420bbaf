"""Pictures and animations of any diffenvs env: per-env frames, the overview of a batch,
one env's own frame with its camera, and animations of a policy.

    python docs/examples/rendering.py --out docs/_static/rendering --steps 120

(the tests run it with the defaults: a few steps, into the working directory).
"""

import argparse
import os

import gymnasium as gym
import numpy as np
from PIL import Image

import diffenvs  # noqa: F401  (registers the ids)
from diffenvs.registry import classical_controller
from diffenvs.render import record_episode

parser = argparse.ArgumentParser()
parser.add_argument("--out", default="rendering")
parser.add_argument("--steps", type=int, default=6)
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)

# [frames-start]
env = gym.make_vec("DiffQuad-Racing-v0", num_envs=4, render_mode="rgb_array")
env.reset(seed=0)
controller = classical_controller(env)            # any policy(obs) -> action works here
for _ in range(args.steps):
    env.step(controller(env.obs).numpy())
frames = env.render()                             # Gymnasium's vector convention: one picture per env
print(len(frames), frames[0].shape, frames[0].dtype)   # 4 (240, 320, 3) uint8
overview = env.unwrapped.render_overview()        # the first (up to 16) envs together: (480, 640, 3)
# [frames-end]
Image.fromarray(np.concatenate([np.concatenate(frames[:2], 1), np.concatenate(frames[2:], 1)], 0)).save(
    os.path.join(args.out, "frames.png"))
Image.fromarray(overview).save(os.path.join(args.out, "overview.png"))

# [single-start]
one = gym.make("DiffQuad-Hover-v0", render_mode="rgb_array")   # one env: render() is one 640x480 picture
one.reset(seed=0)
picture = one.render()
# [single-end]
print(picture.shape)

# [record-start]
nav = gym.make_vec("DiffNav-PointMass-v0", num_envs=2, render_mode="rgb_array")
nav.reset(seed=2)
reactive = classical_controller(nav)              # the unicycle's depth-reactive controller
record_episode(nav, reactive, os.path.join(args.out, "nav_env0.gif"), env_index=0,   # env 0's own frame:
               max_steps=args.steps, every=3, fps=12, size=(320, 240))              # its obstacles, camera rays, depth
record_episode(env, controller, os.path.join(args.out, "racing.gif"),                 # the overview, continuing
               max_steps=args.steps // 2, every=4, fps=10, size=(320, 240))         # from the current state
# [record-end]
print(sorted(os.listdir(args.out)))
