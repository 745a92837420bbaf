"""Reading, storing and restoring env states (what ABPT's visited-state replay needs).

Run: python docs/examples/state_replay.py
"""

import gymnasium as gym
import numpy as np
import torch

import diffenvs  # noqa: F401
from diffenvs.contract import state_clone, state_equal, state_rows

venv = gym.make_vec("DiffQuad-Racing-v0", num_envs=4)
venv.reset(seed=0)
print({name: (field.shape, field.dtype) for name, field in venv.state_spec.items()})

for _ in range(5):
    venv.step(np.zeros((4, 4), dtype=np.float32))
saved = state_clone(venv.get_state())  # the state keeps the graph -> detach (and clone) before storing
pos = saved["pos"]  # (4, 3) m, world frame
next_gate = saved["next_gate"]  # (4,) int64, index of the next gate
print("positions", pos.tolist(), "next gates", next_gate.tolist(), "steps", saved["step"].tolist())

# Restart every env from the stored states ...
obs = venv.set_state(saved)  # returns the observation tensor (4, 16)
assert state_equal(venv.state, saved)
# ... or only some rows (the others continue unchanged), through reset() options:
mask = np.array([True, False, True, False])
obs, info = venv.reset(options={"state": saved, "reset_mask": mask})  # numpy obs
# Fresh samples from the task's start distribution (uses the env's seeded generator):
fresh = venv.sample_initial_states()  # a dict like get_state(), "step" = 0
venv.set_state(fresh, mask=torch.tensor([False, True, False, False]))
print("row 1 restarted at", state_rows(venv.state, 1)["pos"].tolist())  # an int index drops the batch dim
print("obs tensor", tuple(venv.obs.shape), venv.obs.dtype, venv.obs.device)
venv.close()
