"""Bad input raises an error that names the problem; this script triggers each one.

Run: python docs/examples/input_errors.py
"""

import numpy as np
import torch

from diffenvs import DiffEnv, DiffVectorEnv


def show(call):
    try:
        call()
    except (TypeError, ValueError, RuntimeError) as err:
        print(f"{type(err).__name__}: {err}")
        return err
    raise AssertionError("expected an error")


# [calls-start]
venv = DiffVectorEnv(num_envs=2, robot="quadrotor", task="hover")
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
state = venv.get_state()  # a dict of (2, *shape) tensors, see venv.state_spec
show(lambda: venv.set_state(torch.zeros(2, 18)))  # a flat tensor instead of the dict
show(lambda: venv.set_state({k: v for k, v in state.items() if k != "step"}))  # a field missing
show(lambda: venv.set_state({**state, "pos": torch.zeros(2, 2)}))  # a field of the wrong shape
show(lambda: venv.set_state({**state, "vel": torch.full((2, 3), float("nan"))}))
show(lambda: venv.set_state({**state, "quat": torch.zeros(2, 4)}))  # quaternion (0, 0, 0, 0)
show(lambda: DiffVectorEnv(2, "quadrotor", "hover", {"target_pos": (0, 0, 1)}))  # unknown task option
show(lambda: DiffVectorEnv(2, "quadrotor", "hover", {"target": (0, 1)}))  # task option of the wrong shape
show(lambda: DiffVectorEnv(2, "quadrotor", "flip"))
show(lambda: DiffVectorEnv(2, "submarine", "hover"))
show(lambda: DiffVectorEnv(2, "quadrotor", "hover", vehicle="drone999"))
show(lambda: DiffVectorEnv(2, "quadrotor", "hover", integrator="rk45"))
show(lambda: DiffVectorEnv(2, "quadrotor", "hover", propellers=6))  # unknown robot option
show(lambda: DiffVectorEnv(2, "quadrotor", "hover", dtype=torch.float16))
show(lambda: DiffVectorEnv(2, "quadrotor", "hover", grad_decay=0.0))
show(lambda: DiffVectorEnv(2, "quadrotor", "racing", {"reward": "time"}))
show(lambda: DiffEnv("quadrotor", "hover").step(np.zeros(3)))
show(lambda: DiffEnv("quadrotor", "hover", num_envs=4))
venv.close()
