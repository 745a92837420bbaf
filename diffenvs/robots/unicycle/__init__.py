"""A planar unicycle with a forward depth camera among random obstacles: the residual
paper's local-navigation system (§IV)."""

from __future__ import annotations

from ...contract import EnvSpec
from .robot import Unicycle, UnicycleConfig
from .tasks import NavConfig, NavTask

ROBOT = Unicycle

#: Training settings: the paper's policy (one dense layer on the flattened depth and state,
#: §IV-C) for every trainer; 32 envs x 32-step horizons (more updates per sample than 64
#: envs gave in a comparison on seed 0 at 1e5 steps; docs results page).
_LINEAR = {"net.encoder": "linear"}
_TRAIN = {
    "default": {
        "bptt": {"num_envs": 32, "horizon": 32, "lr": 0.01, **_LINEAR},
        "shac": {"num_envs": 32, "horizon": 32, "lr": 0.01, **_LINEAR},
        "abpt": {"num_envs": 32, "horizon": 32, "lr": 0.01, "replay_size": 50_000, **_LINEAR},
        "ppo": {"num_envs": 64, "n_steps": 64, "batch_size": 1024, "learning_rate": 3e-4, "n_epochs": 5,
                "gae_lambda": 0.95, "encoder": "linear", "net_arch": {"pi": [], "vf": [64, 64]}},
    },
}

ENVS = (
    EnvSpec("DiffNav-PointMass-v0", "unicycle", NavTask, 200, label="Depth navigation (point mass)", presets=_TRAIN),
)

__all__ = ["ENVS", "ROBOT", "NavConfig", "NavTask", "Unicycle", "UnicycleConfig"]
