"""Quickstart: single env, batched env, differentiable step, graph cut, named state, classical controllers.

Run: python docs/examples/quickstart.py
"""

# [single-start]
import gymnasium as gym
import numpy as np
import torch

from diffenvs.contract import reward_terms
from diffenvs.registry import classical_controller

env = gym.make("DiffQuad-Hover-v0")  # one drone, numpy in / numpy out
obs, info = env.reset(seed=0)  # obs: float32 array of shape (13,)
hover = env.unwrapped.robot.vehicle.hover_action  # normalised action that balances gravity
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
print("vector env: obs", obs.shape, "reward", reward.shape, "terms", sorted(reward_terms(info)))
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

# [state-start]
state = venv.get_state()  # a dict of named (8, *shape) tensors
for name, field in venv.state_spec.items():  # robot fields, the step counter, task fields
    print(f"  {name:14s} {tuple(state[name].shape)!s:8s} {state[name].dtype}  {field.doc}")
# [state-end]
venv.close()

# [controller-start]
for env_id in ("DiffQuad-Tracking-v0", "DiffPointMass-Reach-v0"):
    venv = gym.make_vec(env_id, num_envs=8)
    controller = classical_controller(venv)  # the robot's controller: cascaded (quadrotor), PD (point mass)
    venv.reset(seed=0)
    with torch.no_grad():
        for _ in range(50):
            obs, reward, terminated, truncated, info = venv.step_differentiable(controller(venv.obs))
    metric, lower_is_better = venv.task.main_metric  # ("pos_error", True), ("distance", True)
    print(f"{env_id}: mean {metric} after 50 steps {float(info[metric].mean()):.3f}")
    venv.close()
# [controller-end]
