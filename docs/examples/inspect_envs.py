"""Print what every registered id is made of: the source of the numbers in the env pages.

Run: python docs/examples/inspect_envs.py
"""

import dataclasses

import gymnasium as gym

import diffenvs

for env_id, spec in diffenvs.env_specs().items():  # EnvSpec: one row of a robot's ENVS table
    venv = gym.make_vec(env_id, num_envs=1)
    assert venv.max_episode_steps == spec.max_episode_steps
    print(f"{env_id}: robot={spec.robot!r} task={venv.task.name!r} label={spec.label!r} "
          f"max_episode_steps={venv.max_episode_steps} dt={venv.dt}")
    print(f"  observation {venv.single_observation_space}, action {venv.single_action_space}")
    print(f"  action: {venv.robot.action_doc}")
    for name, field in venv.state_spec.items():  # robot fields, "step", task fields
        print(f"  state {name!r:16} shape={field.shape!s:6} {field.dtype:5}  {field.doc}")
    for term in venv.reward_terms:
        print(f"  reward term {term.name!r:15} differentiable={term.differentiable!s:5} {term.description}")
    print(f"  metrics in info: {venv.task.metric_names}, main metric {venv.task.main_metric}")
    for field in dataclasses.fields(venv.robot.cfg):
        print(f"  robot option {field.name} = {getattr(venv.robot.cfg, field.name)!r}")
    for field in dataclasses.fields(venv.task.cfg):
        print(f"  task option {field.name} = {getattr(venv.task.cfg, field.name)!r}")
    print(f"  training presets: {sorted(spec.presets)}")
    venv.close()
