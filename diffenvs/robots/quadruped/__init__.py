"""The ANYmal C quadruped on the :mod:`diffenvs.articulated` engine (the residual paper's
legged robot, §III). The model file ``assets/anymal_c.xml`` is vendored from MuJoCo
Menagerie with its BSD-3-Clause licence (``assets/LICENSE``)."""

from __future__ import annotations

import os

#: The vendored ANYmal C model (MJCF; dynamics only: no meshes).
ANYMAL_C_XML = os.path.join(os.path.dirname(__file__), "assets", "anymal_c.xml")

from ...contract import EnvSpec  # noqa: E402
from .nav import QuadrupedNavConfig, QuadrupedNavTask  # noqa: E402
from .robot import Quadruped, QuadrupedConfig  # noqa: E402
from .tasks import OBS_DIM, QuadrupedTaskConfig, Trot, TrotConfig, TrotTask, WalkConfig, WalkTask  # noqa: E402

ROBOT = Quadruped

#: Training settings: SHAC with short horizons (contacts make long unrolls' gradients
#: explode), a [128, 64] policy with layer normalisation.
_TRAIN = {
    "default": {
        "bptt": {"num_envs": 64, "horizon": 16, "lr": 1e-3, "net.hidden": (128, 64), "net.layer_norm": True},
        "shac": {"num_envs": 64, "horizon": 16, "lr": 1e-3, "net.hidden": (128, 64), "net.layer_norm": True},
        "ppo": {"num_envs": 64, "n_steps": 64, "batch_size": 1024, "learning_rate": 3e-4, "n_epochs": 5,
                "gae_lambda": 0.95, "net_arch": [128, 64]},
    },
}

#: The perceptive task: the residual paper's policy (Fig. 2; ``encoder="fusion"``: the
#: proprioception, and in residual runs the anchor's action, through [128, 64], concatenated
#: with the flat 16x12 depth image, then 128 units), the SHAC settings of the blind task.
_FUSION = {"net.encoder": "fusion", "net.hidden": (128, 64), "net.feature_dim": 128, "net.layer_norm": True}
_NAV_TRAIN = {
    "default": {
        "bptt": {"num_envs": 64, "horizon": 16, "lr": 1e-3, **_FUSION},
        "shac": {"num_envs": 64, "horizon": 16, "lr": 1e-3, **_FUSION},
        "ppo": {"num_envs": 64, "n_steps": 64, "batch_size": 1024, "learning_rate": 3e-4, "n_epochs": 5,
                "gae_lambda": 0.95, "encoder": "fusion", "fusion_hidden": (128, 64),
                "net_arch": {"pi": [128], "vf": [128]}},
    },
}

ENVS = (
    EnvSpec("DiffQuadruped-Trot-v0", "quadruped", TrotTask, 1000, label="Quadruped: trot in place", presets=_TRAIN),
    EnvSpec("DiffQuadruped-Walk-v0", "quadruped", WalkTask, 1000, label="Quadruped: walk at 1 m/s", presets=_TRAIN),
    EnvSpec("DiffQuadruped-Nav-v0", "quadruped", QuadrupedNavTask, 500, label="Quadruped: perceptive navigation",
            presets=_NAV_TRAIN),
)

__all__ = ["ANYMAL_C_XML", "ENVS", "OBS_DIM", "ROBOT", "Quadruped", "QuadrupedConfig", "QuadrupedNavConfig",
           "QuadrupedNavTask", "QuadrupedTaskConfig", "Trot", "TrotConfig", "TrotTask", "WalkConfig", "WalkTask"]
