"""Open-loop trajectory optimisation with rollout() on DiffQuad-Hover-v0.

Each drone gets its own sequence of 25 actions (0.5 s); gradient ascent on the return of
the whole sequence, computed by one rollout() call per iteration from the same start
states (set_state), improves every drone's plan. Tiny sizes (4 drones, 30 iterations),
about a second; with compile=True the rollout runs as compiled chunks.

Run: python docs/examples/trajectory_optimisation.py
"""

import gymnasium as gym
import torch

import diffenvs  # noqa: F401

venv = gym.make_vec("DiffQuad-Hover-v0", num_envs=4, autoreset=False)  # one episode per plan
venv.reset(seed=0)
start = {k: v.clone() for k, v in venv.get_state().items()}  # every iteration starts here
horizon = 25
# The plan: unconstrained parameters, squashed into [-1, 1]; it starts as random commands
# around the mid command (equal rotors would sit on the kink of the attitude penalty |angle|).
plan = (0.3 * torch.randn(horizon, venv.num_envs, venv.action_dim, generator=torch.Generator().manual_seed(0)))
plan.requires_grad_()
optimizer = torch.optim.SGD([plan], lr=0.3)  # plain gradient ascent

returns = []
for _ in range(30):
    venv.set_state(start)  # the same start states, with no graph behind them
    obs, reward, terminated, truncated, info = venv.rollout(torch.tanh(plan))  # (25, 4) rewards
    ret = reward.sum(0)  # each drone's return over the 0.5 s
    optimizer.zero_grad()
    (-ret.sum()).backward()  # the drones' plans are independent: one backward for all
    optimizer.step()
    returns.append(ret.detach())
print("return per drone, first iteration:", [round(r, 2) for r in returns[0].tolist()])
print("return per drone, last iteration: ", [round(r, 2) for r in returns[-1].tolist()])
assert bool((returns[-1] > returns[0]).all()), "every drone's plan should improve"
venv.close()
