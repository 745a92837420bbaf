"""Train SHAC for two tiny iterations, evaluate, save, reload and act.

Tiny sizes (4 drones, a horizon of 8 steps, 64 env steps in all, episodes of 12 steps) so
that it runs in seconds; a real run keeps the paper preset (100 drones, horizon 96) and a
budget such as the default ``total_steps`` of 1,000,000 env steps.

Run: python docs/examples/train_tiny.py
"""

import os
import tempfile

from trainers import make_trainer

with tempfile.TemporaryDirectory() as log_dir:
    # [train-start]
    trainer = make_trainer(
        "shac",  # or "bptt", "abpt", "ppo"
        env_id="DiffQuad-Hover-v0",
        seed=0,
        num_envs=4,
        horizon=8,
        total_steps=64,  # 2 iterations of 4 envs x 8 steps
        eval_envs=2,
        progress=False,
        tensorboard=False,
        log_dir=log_dir,
        env_kwargs={"max_episode_steps": 12},
    )
    result = trainer.learn()  # the last evaluation of the deterministic policy
    print({k: result[k] for k in ("eval_return", "eval_success", "eval_metric")})
    # [train-end]

    # [use-start]
    path = trainer.save(os.path.join(log_dir, "shac_hover.pt"))  # atomic, weights_only-loadable
    restored = type(trainer).from_checkpoint(path)  # same config, same state
    obs = restored.env.obs  # (4, 13) observation tensor of the training env
    action = restored.policy(obs)  # deterministic action tanh(mu(normalised obs)), (4, 4) in (-1, 1)
    print(f"{restored.iteration} iterations, {restored.env_steps} env steps; action shape {tuple(action.shape)}")
    print("log columns:", open(os.path.join(log_dir, "progress.csv")).readline().strip())
    # [use-end]
