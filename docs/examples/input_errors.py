"""Bad input raises an error that names the problem; this script triggers each one.

Run: python docs/examples/input_errors.py
"""

import numpy as np
import torch

from diffenvs import DiffQuadEnv, DiffQuadVectorEnv


def show(call):
    try:
        call()
    except (TypeError, ValueError, RuntimeError) as err:
        print(f"{type(err).__name__}: {err}")
        return err
    raise AssertionError("expected an error")


# [calls-start]
venv = DiffQuadVectorEnv(num_envs=2, task="hover")
show(lambda: venv.step_differentiable(torch.zeros(2, 4)))  # before reset()
venv.reset(seed=0)
show(lambda: venv.step_differentiable(np.zeros((2, 4), dtype=np.float32)))  # numpy to the tensor API
show(lambda: venv.step_differentiable(torch.zeros(3, 4)))  # wrong shape
show(lambda: venv.step_differentiable(torch.zeros(2, 4, dtype=torch.float64)))  # wrong dtype
show(lambda: venv.step_differentiable(torch.tensor([[0.0, 0.0, 0.0, 0.0], [float("nan"), 0.0, 0.0, 0.0]])))
show(lambda: venv.step(np.zeros((2, 3))))  # wrong shape, numpy API
show(lambda: venv.step(np.array([["a"] * 4] * 2)))  # not numeric
show(lambda: venv.reset(options={"reset_mask": [True, False, True]}))
show(lambda: venv.reset(options={"seed": 1}))
show(lambda: venv.set_state(torch.zeros(2, 5)))
show(lambda: venv.set_state(torch.full((2, venv.state_dim), float("nan"))))
show(lambda: venv.set_state(torch.zeros(2, venv.state_dim)))  # quaternion (0, 0, 0, 0)
show(lambda: DiffQuadVectorEnv(2, "hover", {"target_pos": (0, 0, 1)}))  # unknown task option
show(lambda: DiffQuadVectorEnv(2, "flip"))
show(lambda: DiffQuadVectorEnv(2, "hover", vehicle="drone999"))
show(lambda: DiffQuadVectorEnv(2, "hover", integrator="rk45"))
show(lambda: DiffQuadVectorEnv(2, "hover", dtype=torch.float16))
show(lambda: DiffQuadVectorEnv(2, "hover", grad_decay=0.0))
show(lambda: DiffQuadVectorEnv(2, "racing", {"reward": "time"}))
show(lambda: DiffQuadEnv("hover").step(np.zeros(3)))
show(lambda: DiffQuadEnv("hover", num_envs=4))
venv.close()
