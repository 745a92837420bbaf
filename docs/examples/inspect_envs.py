"""Print what every registered id is made of: the source of the numbers in the env pages.

Run: python docs/examples/inspect_envs.py
"""

import dataclasses

import gymnasium as gym

import diffenvs

for env_id, (task, options, steps) in diffenvs.ENV_IDS.items():
    venv = gym.make_vec(env_id, num_envs=1)
    assert venv.max_episode_steps == steps
    print(f"{env_id}: task={task!r} options={options} max_episode_steps={venv.max_episode_steps}")
    print(f"  observation {venv.single_observation_space}, action {venv.single_action_space}")
    print(f"  state_dim {venv.state_dim}, task state columns {venv.task.task_state_names}")
    for term in venv.reward_terms:
        print(f"  reward term {term.name!r:15} differentiable={term.differentiable!s:5} {term.description}")
    print(f"  metrics in info: {venv.task.metric_names}")
    for field in dataclasses.fields(venv.task.cfg):
        print(f"  option {field.name} = {getattr(venv.task.cfg, field.name)!r}")
    venv.close()
