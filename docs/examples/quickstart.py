"""Quickstart: single env, batched env, differentiable step, graph cut, classical controller.

Run: python docs/examples/quickstart.py
"""

# [single-start]
import gymnasium as gym
import numpy as np
import torch

import diffenvs  # importing registers the DiffQuad-* ids

env = gym.make("DiffQuad-Hover-v0")  # one drone, numpy in / numpy out
obs, info = env.reset(seed=0)  # obs: float32 array of shape (13,)
hover = env.unwrapped.vehicle.hover_action  # normalised action that balances gravity
for _ in range(20):
    obs, reward, terminated, truncated, info = env.step(np.full(4, hover, dtype=np.float32))
    if terminated or truncated:
        obs, info = env.reset()
print("single env: reward", reward, "position error", info["pos_error"])
env.close()
# [single-end]

# [vector-start]
venv = gym.make_vec("DiffQuad-Hover-v0", num_envs=8)  # natively batched, no wrappers
obs, info = venv.reset(seed=0)  # obs: float32 array of shape (8, 13)
actions = venv.action_space.sample()  # (8, 4) in [-1, 1]
obs, reward, terminated, truncated, info = venv.step(actions)  # numpy, no autograd graph
print("vector env: obs", obs.shape, "reward", reward.shape, "terms", sorted(info["reward_terms"]))
# [vector-end]

# [diff-start]
actions = torch.zeros(8, 4, requires_grad=True)  # tensors on venv.device, dtype venv.dtype
total = torch.zeros(())
for _ in range(10):
    obs, reward, terminated, truncated, info = venv.step_differentiable(actions)
    total = total + reward.sum()
total.backward()  # d(sum of rewards)/d(actions): gradients flow through the physics
print("d return / d actions:", actions.grad.shape, "finite:", bool(torch.isfinite(actions.grad).all()))
venv.detach()  # cut the graph: the current state becomes a leaf (call at every horizon boundary)
# [diff-end]

# [controller-start]
venv = gym.make_vec("DiffQuad-Tracking-v0", num_envs=8)
controller = diffenvs.CascadedController(venv)  # takes the task, vehicle, dtype and device from the env
venv.reset(seed=0)
with torch.no_grad():
    for _ in range(50):
        obs, reward, terminated, truncated, info = venv.step_differentiable(controller(venv.obs))
print("controller: mean tracking error after 50 steps [m]", float(info["pos_error"].mean()))
venv.close()
# [controller-end]
