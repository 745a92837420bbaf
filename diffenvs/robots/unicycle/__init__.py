"""A planar unicycle with a forward depth camera among random obstacles: the residual
paper's local-navigation system (§IV)."""

from __future__ import annotations

from ...contract import EnvSpec
from .robot import Unicycle, UnicycleConfig
from .tasks import NavConfig, NavTask

ROBOT = Unicycle

#: Training settings: the paper's policy (one dense layer on the flattened depth and state,
#: §IV-C) for every trainer; 32 envs x 32-step horizons (more updates per sample than 64
#: envs gave in a comparison on seed 0 at 1e5 steps), trained on depth with 1 m Gaussian
#: noise (a tuning sweep on seeds 10-13: SHAC's success at 1e5 steps 0.66 against 0.15
#: without noise; docs results page). Evaluations during training see the same noise.
_LINEAR = {"net.encoder": "linear"}
_NOISE = {"env_kwargs": {"task_options": {"depth_noise": 1.0}}}
_TRAIN = {
    "default": {
        "bptt": {"num_envs": 32, "horizon": 32, "lr": 0.01, **_LINEAR, **_NOISE},
        "shac": {"num_envs": 32, "horizon": 32, "lr": 0.01, **_LINEAR, **_NOISE},
        "abpt": {"num_envs": 32, "horizon": 32, "lr": 0.01, "replay_size": 50_000, **_LINEAR, **_NOISE},
        "ppo": {"num_envs": 64, "n_steps": 64, "batch_size": 1024, "learning_rate": 3e-4, "n_epochs": 5,
                "gae_lambda": 0.95, "encoder": "linear", "net_arch": {"pi": [], "vf": [64, 64]}, **_NOISE},
    },
    #: Wall-clock first: 128 envs x 8-step horizons (the same 1024 samples per iteration in
    #: a quarter of the sequential steps) and a 64x64 critic (cheaper updates); learns
    #: less per sample (docs results page).
    "fast": {
        "shac": {"num_envs": 128, "horizon": 8, "lr": 0.01, "net.feature_dim": 64, "net.hidden": (64,), **_LINEAR,
                 **_NOISE},
    },
    #: Avoidance first, for short budgets: ``fast`` with 5 critic updates per iteration
    #: and the learning rates decayed linearly to 0 over the run's steps (chosen on seeds
    #: 10-17 at 1e5 steps: collision-free on every seed, but less speed tracking than the
    #: undecayed presets by then; docs results page).
    "quick": {
        "shac": {"num_envs": 128, "horizon": 8, "lr": 0.01, "net.feature_dim": 64, "net.hidden": (64,),
                 "critic_updates": 5, "lr_decay": True, **_LINEAR, **_NOISE},
    },
}

ENVS = (
    EnvSpec("DiffNav-PointMass-v0", "unicycle", NavTask, 200, label="Depth navigation (point mass)", presets=_TRAIN),
)

__all__ = ["ENVS", "ROBOT", "NavConfig", "NavTask", "Unicycle", "UnicycleConfig"]
