"""trainers: first-order policy learning (BPTT, SHAC, ABPT, residual) and SB3 PPO.

The algorithms land with the trainers issue; this package already defines the env
protocol they will use (:mod:`trainers.protocol`), so third-party envs can target it.
"""

__all__: list[str] = []
