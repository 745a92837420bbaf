"""Landing's native step on the rows the shared contract batch does not reach: touch-downs (the
success reward, which ends the episode) and descents faster than the height-dependent target (the
other branch of the descent shaping), against the generic transition, values and gradients (float64)."""

from __future__ import annotations

import gymnasium as gym
import torch

import diffenvs  # noqa: F401

N = 8


def test_landing_native_step_on_touch_downs_and_fast_descents():
    env = gym.make_vec("DiffQuad-Landing-v0", num_envs=N, dtype=torch.float64, max_episode_steps=50).unwrapped
    assert env.native_step
    env.reset(seed=0)
    state = {k: v.detach().clone() for k, v in env.get_state().items()}
    pad = env.task.pad
    gen = torch.Generator().manual_seed(1)
    # rows 0-3: just above the pad, slow (touch down); 4-7: descending faster than the target speed
    state["pos"][:4] = pad + torch.tensor([0.05, -0.05, 0.12], dtype=torch.float64) * torch.rand(4, 3, generator=gen,
                                                                                                 dtype=torch.float64)
    state["pos"][:4, 2] += 0.05
    state["vel"][:4] = 0.05 * (torch.rand(4, 3, generator=gen, dtype=torch.float64) - 0.5)
    state["vel"][4:, 2] = -torch.tensor([0.5, 1.0, 2.0, 3.0], dtype=torch.float64)
    state["pos"][4:, 2] = torch.tensor([0.3, 0.6, 0.9, 1.5], dtype=torch.float64)
    actions = (torch.rand(N, 4, generator=gen, dtype=torch.float64) * 2 - 1) * 0.2
    fresh = env.sample_initial_states()
    outs, grads = [], []
    for fn in (env._native, env.transition):
        inputs = {k: v.clone().requires_grad_(v.is_floating_point()) for k, v in state.items()}
        acts = actions.clone().requires_grad_()
        out = fn(inputs, acts, torch.zeros(N, dtype=torch.float64), fresh, env.task.observe(fresh),
                 torch.zeros(2, dtype=torch.int64))
        info = out[5]
        loss = out[2].sum() + sum(info[k].sum() for k in info if k.startswith("reward/")) + out[1].sum()
        leaves = [v for v in inputs.values() if v.requires_grad] + [acts]
        grads.append(torch.autograd.grad(loss, leaves))
        outs.append(out)
    native, generic = outs
    info = native[5]
    assert info["success"][:4].all() and native[3][:4].all()  # touched down: success ends the episode
    assert torch.equal(native[3], generic[3]) and torch.equal(info["success"], generic[5]["success"])
    torch.testing.assert_close(native[2], generic[2], rtol=1e-12, atol=1e-12)
    for key in ("reward/horizontal", "reward/descent", "reward/success", "reward/failure", "xy_error", "height"):
        torch.testing.assert_close(info[key], generic[5][key], rtol=1e-12, atol=1e-12, msg=key)
    ref = env.task.cfg.z_min + 0 * state["pos"][4:, 2]
    assert (-state["vel"][4:, 2] > torch.maximum(ref, state["pos"][4:, 2].clamp(max=1.0))).any()
    for x, y in zip(*grads, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)
    assert grads[0][2][4:].abs().sum() > 0  # the fast descents pass a velocity gradient
