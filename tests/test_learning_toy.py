"""Every trainer learns the toy point mass (``DiffPointMass-Reach-v0``) in seconds, with its default preset.

The untrained policy ends its episodes about 2.3 m from the target with a return near -44
(first-order actors) or -32 (PPO); the PD controller reaches 0.0003 m and -3.14.
"""

import pytest

from trainers import make_trainer

BUDGET = {"bptt": 40_000, "shac": 40_000, "abpt": 40_000, "ppo": 100_000}


@pytest.mark.parametrize("algo", sorted(BUDGET))
def test_learns_the_toy_robot(algo, tmp_path):
    if algo == "ppo":
        pytest.importorskip("stable_baselines3")
    trainer = make_trainer(algo, env_id="DiffPointMass-Reach-v0", seed=0, total_steps=BUDGET[algo], eval_every=0,
                           progress=False, tensorboard=False, log_dir=str(tmp_path))
    before = trainer.evaluate()
    after = trainer.learn()
    assert before["eval_metric"] > 1.0 and before["eval_return"] < -20.0
    assert after["eval_metric"] < 0.25, after  # final distance to the target, m
    assert after["eval_return"] > -5.0, after
