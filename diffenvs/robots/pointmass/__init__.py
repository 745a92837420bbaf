"""A planar point mass: the worked example of the "Adding a robot" guide and the env the
trainer tests learn on in seconds."""

from __future__ import annotations

from ...contract import EnvSpec
from .robot import PointMass, PointMassConfig
from .tasks import ReachConfig, ReachTask

ROBOT = PointMass

#: Training settings that learn Reach in seconds on a laptop CPU.
_TRAIN = {
    "default": {
        "bptt": {"num_envs": 64, "horizon": 32, "lr": 0.01},
        "shac": {"num_envs": 64, "horizon": 32, "lr": 0.01},
        "abpt": {"num_envs": 64, "horizon": 32, "lr": 0.01, "replay_size": 20_000},
        "ppo": {"num_envs": 64, "n_steps": 64, "batch_size": 1024, "learning_rate": 0.003, "n_epochs": 5,
                "gae_lambda": 0.95, "net_arch": [64, 64]},
    },
}

ENVS = (
    EnvSpec("DiffPointMass-Reach-v0", "pointmass", ReachTask, 100, label="Point mass: reach", presets=_TRAIN),
)

__all__ = ["ENVS", "ROBOT", "PointMass", "PointMassConfig", "ReachConfig", "ReachTask"]
