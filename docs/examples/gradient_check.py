"""Check the analytic gradient of a short rollout against finite differences, in float64.

Run: python docs/examples/gradient_check.py
"""

import gymnasium as gym
import torch

import diffenvs  # noqa: F401

torch.manual_seed(0)
venv = gym.make_vec("DiffQuad-Hover-v0", num_envs=2, dtype=torch.float64)
venv.reset(seed=0)
start = {k: v.detach().clone() for k, v in venv.get_state().items()}  # a dict of named fields
steps = 5


def rollout_return(actions: torch.Tensor) -> torch.Tensor:
    """Sum of rewards over ``steps`` steps from ``start`` (actions: (steps, 2, 4))."""
    venv.set_state(start)
    total = torch.zeros((), dtype=torch.float64)
    for a in actions.unbind(0):  # unbind, not actions[t]: see the "Pitfalls" section
        obs, reward, terminated, truncated, info = venv.step_differentiable(a)
        total = total + reward.sum()
    return total


actions = torch.full((steps, 2, 4), venv.robot.vehicle.hover_action, dtype=torch.float64)
actions = (actions + 0.1 * torch.randn(actions.shape, dtype=torch.float64)).requires_grad_(True)
grad = torch.autograd.grad(rollout_return(actions), actions)[0]

eps = 1e-6
for index in [(0, 0, 0), (0, 1, 3), (2, 0, 1), (4, 1, 2)]:
    bump = torch.zeros_like(actions)
    bump[index] = eps
    with torch.no_grad():
        fd = (rollout_return(actions + bump) - rollout_return(actions - bump)) / (2 * eps)
    print(f"d return / d a{list(index)}: autograd {grad[index].item():+.6e}  finite diff {fd.item():+.6e}")
    assert torch.allclose(grad[index], fd, rtol=1e-5, atol=1e-9)
venv.close()
