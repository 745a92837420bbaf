"""Racing's native step, with its position and its velocity reward, on the rows the shared contract
batch does not reach: drones at their next gate (the gate bonus, the next gate and its wrap-around to
the first, a lap's start and its end, the lap time), one outside the gate radius flying at it faster
than the approach speed's cap, and rows that truncate and restart from episode starts with their own
task state, against the generic transition, values and gradients (float64), for one step and for a
native unroll of several steps."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import diffenvs  # noqa: F401

N = 8
F64 = torch.float64


def _flat(tree, prefix=""):
    if isinstance(tree, dict):
        return {k2: v2 for k, v in tree.items() for k2, v2 in _flat(v, f"{prefix}{k}/").items()}
    if isinstance(tree, tuple | list):
        return {k2: v2 for i, v in enumerate(tree) for k2, v2 in _flat(v, f"{prefix}{i}/").items()}
    return {prefix: tree}


def _assert_same(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for key in a:
        x, y = a[key], b[key]
        if not isinstance(x, torch.Tensor):
            assert x == y, key
        elif x.is_floating_point():
            torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12, equal_nan=True, msg=key)
        else:
            assert torch.equal(x, y), key


@pytest.fixture(params=["DiffQuad-Racing-v0", "DiffQuad-RacingVelocity-v0"])
def racing(request):
    env = gym.make_vec(request.param, num_envs=N, dtype=F64, max_episode_steps=6).unwrapped
    assert env.native_step
    env.reset(seed=0)
    state = {k: v.detach().clone() for k, v in env.get_state().items()}
    lng = dict(dtype=torch.int64)
    state["next_gate"] = torch.tensor([0, 1, 2, 3, 3, 0, 1, 2], **lng)  # rows 3, 4: the last gate, wrapping to 0
    state["lap_gates"] = torch.tensor([0, 4, 2, 4, 1, 0, 3, 4], **lng)  # 0: a lap starts; 4: a lap ends
    state["gates_passed"] = torch.tensor([0, 7, 2, 11, 1, 0, 3, 4], **lng)
    state["lap_start_step"] = torch.tensor([0, 1, 0, 2, 0, 0, 1, 1], **lng)
    state["last_lap_steps"] = torch.tensor([-1, -1, 5, 9, -1, -1, -1, 3], **lng)
    state["step"] = torch.tensor([3, 4, 5, 2, 1, 3, 4, 5], **lng)  # rows 2, 7 truncate after this step
    gen = torch.Generator().manual_seed(3)
    offset = 0.05 * (torch.rand(N, 3, generator=gen, dtype=F64) - 0.5)
    offset[6] = torch.tensor([1.0, 0.0, 0.0], dtype=F64)  # outside the 0.3 m radius after the step: no pass
    state["pos"] = env.task.gates[state["next_gate"]] + offset
    state["vel"] = 0.5 * (torch.rand(N, 3, generator=gen, dtype=F64) - 0.5)
    state["vel"][6] = torch.tensor([-16.0, 0.0, 0.0], dtype=F64)  # at the gate, above the 15 m/s cap
    actions = 0.3 * (torch.rand(N, 4, generator=gen, dtype=F64) - 0.5)
    return env, state, actions


def _vjps(results, seed: int):
    """Each run's input gradients under one set of random cotangents, drawn for the outputs that carry
    a graph in the first (generic) run, but the pre-reset state (output 7 of a step)."""
    flat = results[0][1]
    keys = [k for k in flat if isinstance(flat[k], torch.Tensor) and flat[k].requires_grad and not k.startswith("7/")]
    assert keys
    gen = torch.Generator().manual_seed(seed)
    cot = {k: torch.randn(flat[k].shape, generator=gen, dtype=F64) for k in keys}
    out = []
    for _, outs, leaves in results:
        loss = sum((outs[k] * cot[k]).sum() for k in keys if outs[k].requires_grad)
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        out.append([torch.zeros_like(x) if g is None else g for g, x in zip(grads, leaves)])
    return out


def test_native_racing_step_at_the_gates(racing):
    env, state, actions = racing
    fresh = env.sample_initial_states()
    results = []
    for fn, fresh_obs in ((env.transition, env.task.observe(fresh)), (env._native, env.task.observe(fresh)),
                          (env._native, None)):
        inputs = {k: v.clone().requires_grad_(v.is_floating_point()) for k, v in state.items()}
        acts = actions.clone().requires_grad_()
        out = fn(inputs, acts, torch.zeros(N, dtype=F64), fresh, fresh_obs, torch.zeros(2, dtype=torch.int64))
        results.append((out, _flat(out), [v for v in inputs.values() if v.requires_grad] + [acts]))
    g_grads, *n_grads = _vjps(results, 5)
    (generic, g_flat, _), *natives = results
    info, pre_reset = generic[5], generic[7]
    passed = torch.tensor([True] * 6 + [False, True])
    assert torch.equal(info["gate_passed"], passed)
    assert torch.equal(pre_reset["next_gate"], torch.tensor([1, 2, 3, 0, 0, 1, 1, 3]))
    assert torch.equal(pre_reset["last_lap_steps"][[1, 3]], torch.tensor([4, 1]))  # laps ended at rows 1 and 3
    assert torch.equal(pre_reset["lap_start_step"][[0, 5]], torch.tensor([4, 4]))  # laps started at rows 0 and 5
    assert info["_final_obs"][[2, 7]].all() and not info["_final_obs"][[0, 1, 3, 4, 5, 6]].any()
    torch.testing.assert_close(info["reward/gate"], passed.to(F64) * env.task.gate_reward)
    if "reward/approach" in info:  # the velocity reward: row 6's approach speed is capped
        cfg = env.task.cfg
        assert info["reward/approach"][6] == cfg.k_approach * cfg.max_approach_speed
    for (_, flat, _), grads in zip(natives, n_grads, strict=True):
        _assert_same(flat, g_flat)
        for x, y in zip(grads, g_grads, strict=True):
            torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)
    assert g_grads[0].abs().sum() > 0  # the position term toward the new next gate passes a gradient


def test_native_racing_unroll_through_gates_and_restarts(racing):
    env, state, _ = racing
    steps = 5
    starts = env.sample_initial_states(steps * N)
    fresh = {k: v.view(steps, N, *v.shape[1:]) for k, v in starts.items()}
    gen = torch.Generator().manual_seed(7)
    actions = 0.3 * (torch.rand(steps, N, 4, generator=gen, dtype=F64) - 0.5)
    obs = env.task.observe(state)
    results = []
    for unroll in (lambda *a: env._rollout_steps(a[0], a[1], a[2], None, steps, *a[3:]), env._native.rollout):
        inputs = {k: v.clone().requires_grad_(v.is_floating_point()) for k, v in state.items()}
        acts = actions.clone().requires_grad_()
        out = unroll(inputs, obs, acts, torch.zeros(N, dtype=F64), fresh, None, torch.zeros(2, dtype=torch.int64))
        results.append((out, _flat(out), [v for v in inputs.values() if v.requires_grad] + [acts]))
    g_grads, n_grads = _vjps(results, 6)
    (generic, g_flat, _), (native, n_flat, _) = results
    info = generic[2]
    assert info["gate_passed"][0].sum() == 7 and info["truncated"].any()
    _assert_same(n_flat, g_flat)
    for x, y in zip(n_grads, g_grads, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)
