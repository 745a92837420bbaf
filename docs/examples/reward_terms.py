"""Named reward terms: which ones carry a gradient.

Run: python docs/examples/reward_terms.py
"""

import gymnasium as gym
import torch

import diffenvs  # noqa: F401
from diffenvs.contract import reward_terms

venv = gym.make_vec("DiffQuad-Landing-v0", num_envs=4)
venv.reset(seed=0)
for term in venv.reward_terms:  # RewardTerm(name, differentiable, description)
    print(f"{term.name:>10}  differentiable={term.differentiable}  {term.description}")

actions = torch.zeros(4, 4, requires_grad=True)
obs, reward, terminated, truncated, info = venv.step_differentiable(actions)
terms = reward_terms(info)  # {name: info["reward/<name>"]}, each (4,); reward == sum of the terms
assert torch.allclose(reward, torch.stack(list(terms.values())).sum(0))
for term in venv.reward_terms:
    value = terms[term.name]
    # Non-differentiable terms (success bonus, failure penalty) are computed from
    # detached quantities: they add value but no gradient.
    assert value.requires_grad == term.differentiable, term.name
print("per-term gradient flags match RewardTerm.differentiable")
venv.close()
