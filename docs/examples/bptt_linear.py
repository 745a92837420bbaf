"""Back-propagation through time with a linear policy on DiffQuad-Hover-v0.

Tiny sizes (8 drones, 5 updates of a 10-step horizon = 50 simulated steps) so that it
runs in about a second; a real run uses ~100 drones and a horizon of 256 steps.

Run: python docs/examples/bptt_linear.py
"""

import gymnasium as gym
import torch

import diffenvs  # noqa: F401

torch.manual_seed(0)
venv = gym.make_vec("DiffQuad-Hover-v0", num_envs=8)
obs_dim = venv.single_observation_space.shape[0]  # 13
act_dim = venv.single_action_space.shape[0]  # 4

policy = torch.nn.Linear(obs_dim, act_dim)
with torch.no_grad():  # start near hover: zero weights, bias = hover action
    policy.weight.zero_()
    policy.bias.fill_(venv.robot.vehicle.hover_action)
optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)

horizon, gamma = 10, 0.99
venv.reset(seed=0)
for update in range(5):
    venv.detach()  # the new horizon starts from the current state, with no graph behind it
    obs = venv.obs  # (8, 13) tensor
    ret = torch.zeros(venv.num_envs)
    for t in range(horizon):
        action = torch.tanh(policy(obs))  # (8, 4) in (-1, 1)
        obs, reward, terminated, truncated, info = venv.step_differentiable(action)
        ret = ret + gamma**t * reward  # episodes that end are reset inside the env
    loss = -ret.mean()
    optimizer.zero_grad()
    loss.backward()  # gradient of the discounted return through 10 physics steps
    optimizer.step()
    print(f"update {update}: mean return over the horizon {-loss.item():.4f}")
venv.close()
