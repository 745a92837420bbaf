"""SAME_STEP autoreset in the differentiable step: final_obs keeps its gradient.

Run: python docs/examples/autoreset.py
"""

import torch

from diffenvs import DiffVectorEnv

venv = DiffVectorEnv(num_envs=4, robot="quadrotor", task="hover", max_episode_steps=3)  # very short episodes
venv.reset(seed=0)
actions = [torch.zeros(4, 4, requires_grad=True) for _ in range(3)]
for a in actions:
    obs, reward, terminated, truncated, info = venv.step_differentiable(a)

done = info["_final_obs"]  # (4,) bool: rows whose episode ended in this step
print("truncated", truncated.tolist(), "rows reset", done.tolist())
print("episode length", info["final_info"]["episode_length"].tolist())

# The pre-reset observation carries the gradient back to the actions of the episode ...
g_final = torch.autograd.grad(info["final_obs"].sum(), actions[0], retain_graph=True)[0]
# ... while the returned observation of a reset row is a fresh sample with no graph.
g_new = torch.autograd.grad(obs[done].sum(), actions[0], allow_unused=True)[0]
print("|d final_obs / d a0| =", g_final.abs().sum().item())
print("|d obs[reset rows] / d a0| =", 0.0 if g_new is None else g_new.abs().sum().item())
venv.close()
