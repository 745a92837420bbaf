"""Reading, storing and restoring env states (what ABPT's visited-state replay needs).

Run: python docs/examples/state_replay.py
"""

import gymnasium as gym
import numpy as np
import torch

import diffenvs  # noqa: F401

venv = gym.make_vec("DiffQuad-Racing-v0", num_envs=4)
venv.reset(seed=0)
print("state_dim", venv.state_dim, "layout", {k: (s.start, s.stop) for k, s in venv.state_layout.items()})

for _ in range(5):
    venv.step(np.zeros((4, 4), dtype=np.float32))
saved = venv.get_state().detach().clone()  # (4, state_dim); with graph -> detach before storing
pos = saved[:, venv.state_layout["pos"]]  # (4, 3) m, world frame
next_gate = saved[:, venv.state_layout["next_gate"]]  # (4, 1) index of the next gate
print("positions", pos.tolist(), "next gates", next_gate.flatten().tolist())

# Restart every env from the stored states ...
obs = venv.set_state(saved)  # returns the observation tensor (4, 16)
assert torch.equal(venv.state, saved)
# ... or only some rows (the others continue unchanged), through reset() options:
mask = np.array([True, False, True, False])
obs, info = venv.reset(options={"state": saved, "reset_mask": mask})  # numpy obs
# Fresh samples from the task's start distribution (uses the env's seeded generator):
fresh = venv.sample_initial_states()  # (4, state_dim)
venv.set_state(fresh, mask=torch.tensor([False, True, False, False]))
print("obs tensor", tuple(venv.obs.shape), venv.obs.dtype, venv.obs.device)
venv.close()
