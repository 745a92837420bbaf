"""A task's fused native transition equals the generic one, values and gradients (float64).

Runs for every env whose task offers :meth:`~diffenvs.contract.Task.native_transition` in its
default configuration; the others are skipped, saying so.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from .conftest import clone_state, generator, make_vec, random_actions, states_equal

N = 12


def _native_env(env_id, **kwargs):
    env = make_vec(env_id, N, dtype=torch.float64, max_episode_steps=7, **kwargs)
    if not env.native_step:
        pytest.skip(f"{env_id} has no native transition")
    env.reset(seed=2)
    return env


def _hard_inputs(env):
    """A state batch with rows that end every way: truncation, leaving the arena, divergence
    (too fast, non-finite), plus fresh starts, their observations and counters."""
    state = {k: v.detach().clone() for k, v in env.sample_initial_states().items()}
    gen = generator(4)
    for k, v in state.items():
        if v.is_floating_point():
            state[k] = v + 0.3 * torch.randn(v.shape, generator=gen, dtype=v.dtype)
    state["step"] = torch.arange(N) % env.max_episode_steps  # rows at the last step truncate
    floats = [k for k, v in state.items() if v.is_floating_point() and v.dim() == 2]
    big = {k: state[k].clone() for k in floats}
    big[floats[0]][1] *= 1e3  # far away: out of bounds (or diverged)
    big[floats[-1]][2] *= 1e6  # beyond the limits: diverged
    big[floats[0]][3, 0] = float("nan")  # non-finite: diverged, no gradient
    state.update(big)
    fresh = env.sample_initial_states()
    fresh_obs = env.task.observe(fresh)
    actions = random_actions(env, 7, scale=1.5)  # some beyond [-1, 1]: clamped, straight-through gradient
    return state, actions, fresh, fresh_obs


def _flatten(tree, prefix=""):
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(_flatten(v, f"{prefix}{k}/"))
        return out
    if isinstance(tree, tuple | list):
        out = {}
        for i, v in enumerate(tree):
            out.update(_flatten(v, f"{prefix}{i}/"))
        return out
    return {prefix: tree}


def _run(fn, env, state, actions, fresh, fresh_obs):
    inputs = {k: v.clone().requires_grad_(v.is_floating_point()) for k, v in state.items()}
    acts = actions.clone().requires_grad_()
    ret = torch.linspace(-1, 1, N, dtype=torch.float64)
    counters = torch.tensor([3, 5])
    out = fn(inputs, acts, ret, fresh, fresh_obs, counters)
    return out, [v for v in inputs.values() if v.requires_grad] + [acts]


def test_native_transition_equals_the_generic_one(env_id):
    env = _native_env(env_id)
    state, actions, fresh, fresh_obs = _hard_inputs(env)
    (native, n_in), (generic, g_in) = (_run(fn, env, state, actions, fresh, fresh_obs)
                                       for fn in (env._native, env.transition))
    a, b = _flatten(native), _flatten(generic)
    if getattr(env._native, "observes_starts", False):  # the starts' observations left out: the same
        left_out = _flatten(_run(env._native, env, state, actions, fresh, None)[0])
        for key in a:
            torch.testing.assert_close(left_out[key], a[key], rtol=0, atol=0, equal_nan=True, msg=key)
    assert list(a) == list(b)  # the same outputs, info keys and state fields, in the same order
    done = native[5]["_final_obs"]
    assert done.any() and native[5]["diverged"].any() and native[5]["out_of_bounds"].any() and native[4].any()
    for key in a:
        x, y = a[key], b[key]
        assert x.dtype == y.dtype and x.shape == y.shape, key
        if x.is_floating_point():
            torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12, equal_nan=True, msg=key)
        else:
            assert torch.equal(x, y), key

    # Gradients: one random cotangent for every output that carries a graph in the generic step
    # (but the pre-reset state, output 7, which the env keeps only to draw frames).
    gen = generator(9)
    keys = [k for k in b if b[k].requires_grad and not k.startswith("7/")]
    assert keys
    cot = {k: torch.randn(b[k].shape, generator=gen, dtype=torch.float64) for k in keys}

    def vjp(flat, inputs):
        loss = sum((torch.nan_to_num(flat[k]) * cot[k]).sum() for k in keys if flat[k].requires_grad)
        return torch.autograd.grad(loss, inputs, allow_unused=True)

    names = [k for k, v in state.items() if v.is_floating_point()] + ["actions"]
    for x, y, name in zip(vjp(a, n_in), vjp(b, g_in), names, strict=True):
        x = torch.zeros_like(y) if x is None else x
        assert torch.isfinite(x).all(), name
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12, msg=f"gradient of {name}")


def test_native_unroll_equals_the_generic_steps(env_id):
    """A native transition that unrolls several steps in one call (``rollout``) returns what the
    env's step-by-step unroll returns, values and gradients, from rows that end every way at the
    first step and then run on from their episode starts (truncating later)."""
    env = _native_env(env_id)
    unroll = getattr(env._native, "rollout", None)
    if unroll is None:
        pytest.skip(f"{env_id}'s native transition has no rollout")
    steps = 9
    state, _, _, _ = _hard_inputs(env)
    starts = env.sample_initial_states(steps * N)
    starts["step"] = torch.arange(steps * N) % 5  # (so that each step reads its own starts)
    fresh = {k: v.view(steps, N, *v.shape[1:]) for k, v in starts.items()}
    fresh_obs = env.task.observe(starts).view(steps, N, -1)
    actions = random_actions(env, 8, scale=1.5, steps=steps)

    def run(fn):
        inputs = {k: v.clone().requires_grad_(v.is_floating_point()) for k, v in state.items()}
        acts = actions.clone().requires_grad_()
        out = fn(inputs, None, acts, torch.linspace(-1, 1, N, dtype=torch.float64), fresh, fresh_obs,
                 torch.tensor([3, 5]))
        return out, [v for v in inputs.values() if v.requires_grad] + [acts]

    (generic, g_in) = run(lambda s, o, a, r, f, fo, c: env._rollout_steps(s, o, a, None, steps, r, f, fo, c))
    b = _flatten(generic)
    if getattr(env._native, "observes_starts", False):  # the starts' observations left out: the same
        native, _ = run(lambda s, o, a, r, f, fo, c: unroll(s, o, a, r, f, None, c))
        a = _flatten(native)
        assert list(a) == list(b)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=1e-12, atol=1e-12, equal_nan=True, msg=key)
    (native, n_in) = run(unroll)
    a = _flatten(native)
    assert list(a) == list(b)
    info = native[2]
    assert info["diverged"][0].any() and info["out_of_bounds"][0].any() and info["truncated"][1:].any()
    assert native[5]  # all actions finite (a non-finite state is a diverged row, not a bad action)
    for key in a:
        x, y = a[key], b[key]
        assert x.dtype == y.dtype and x.shape == y.shape, key
        if x.is_floating_point():
            torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12, equal_nan=True, msg=key)
        else:
            assert torch.equal(x, y), key
    gen = generator(10)
    keys = [k for k in b if b[k].requires_grad]
    cot = {k: torch.randn(b[k].shape, generator=gen, dtype=torch.float64) for k in keys}

    def vjp(flat, inputs):
        loss = sum((torch.nan_to_num(flat[k]) * cot[k]).sum() for k in keys if flat[k].requires_grad)
        return torch.autograd.grad(loss, inputs, allow_unused=True)

    names = [k for k, v in state.items() if v.is_floating_point()] + ["actions"]
    for x, y, name in zip(vjp(a, n_in), vjp(b, g_in), names, strict=True):
        x = torch.zeros_like(y) if x is None else x
        y = torch.zeros_like(x) if y is None else y
        assert torch.isfinite(x).all(), name
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12, msg=f"gradient of {name}")


def test_native_rollout_equals_the_generic_env(env_id):
    """Unrolls with autoresets in both envs: the same trajectory, returns and action gradients."""
    envs = [_native_env(env_id), make_vec(env_id, N, dtype=torch.float64, max_episode_steps=7, native=False)]
    envs[1].reset(seed=2)
    assert not envs[1].native_step
    if hasattr(envs[0]._native, "rollout_steps"):
        envs[0]._native.rollout_steps = 5  # several native calls per rollout, as for a large batch
    actions = random_actions(envs[0], 3, steps=16).requires_grad_()
    results = []
    for env in envs:
        obs, reward, term, trunc, info = env.rollout(actions)
        loss = reward.sum() + obs.sum() + info["final_obs"].sum()
        results.append((obs, reward, term, trunc, info["episode_return"] if "episode_return" in info else None,
                        torch.autograd.grad(loss, actions)[0], env.get_state()))
    (o1, r1, t1, u1, _, g1, s1), (o2, r2, t2, u2, _, g2, s2) = results
    assert (t1 | u1).any() and torch.equal(t1, t2) and torch.equal(u1, u2)
    torch.testing.assert_close(o1, o2, rtol=1e-11, atol=1e-12)
    torch.testing.assert_close(r1, r2, rtol=1e-11, atol=1e-12)
    torch.testing.assert_close(g1, g2, rtol=1e-9, atol=1e-11)
    for k in s1:
        torch.testing.assert_close(s1[k], s2[k], rtol=1e-11, atol=1e-12)


def test_settings_changed_after_construction_take_the_generic_step(env_id):
    """Detaching reward terms on a built env (as the gradient-bias experiment does) changes the gradient."""
    env = _native_env(env_id)
    grads = []
    for detach in ((), tuple(env.task.reward_term_names)):
        env.reset(seed=1)
        env.detach_reward_terms = detach
        actions = random_actions(env, 5).requires_grad_()
        reward = env.step_differentiable(actions)[1]
        grads.append(torch.zeros_like(actions) if not reward.requires_grad
                     else torch.autograd.grad(reward.sum(), actions, allow_unused=True)[0])
    assert grads[0] is not None and grads[0].abs().sum() > 0
    assert grads[1] is None or grads[1].abs().sum() == 0


def _assert_same_tree(a, b, where):
    """Equal (nested dicts of) numpy arrays: keys in the same order, dtypes, shapes and bits."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for k in a:
            _assert_same_tree(a[k], b[k], f"{where}/{k}")
        return
    assert type(a) is np.ndarray and a.dtype == b.dtype and a.shape == b.shape, where
    assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), where


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_numpy_step_equals_the_generic_step(env_id, dtype):
    """A native transition's own Gymnasium step (``numpy_step``, reusing its output buffers) returns
    what the generic ``step()`` through the same kernel returns, bit for bit, through autoresets,
    every kind of action input, and the env's other calls in between (which read the current
    tensors and so hand the buffers over); and nothing read from the env changes afterwards."""
    envs = [make_vec(env_id, N, dtype=dtype, max_episode_steps=7) for _ in range(2)]
    if getattr(envs[0]._native, "numpy_step", None) is None:
        pytest.skip(f"{env_id} has no native Gymnasium step")
    envs[1]._numpy_step = None  # the generic step() (the same kernel, new tensors every call)
    for env in envs:
        env.reset(seed=5)
    kept = []  # what was read from the first env, and a copy of it then
    gen = np.random.default_rng(3)
    for k in range(40):
        a = (gen.uniform(-1.5, 1.5, (N, envs[0].action_dim))).astype(np.float64 if k % 3 else np.float32)
        given = [a, a.tolist(), torch.as_tensor(a)][k % 7 % 3]  # arrays, lists and tensors
        if k in (20, 21):
            given = a.copy()
            given[3, 1] = np.nan
            if k == 20:
                for env in envs:
                    with pytest.raises(ValueError, match="NaN or inf"):
                        env.step(given)
                continue
            for env in envs:  # unchecked: the row with the NaN action diverges, the others step on
                env.check_inputs = False
        out = [env.step(given) for env in envs]
        _assert_same_tree(dict(enumerate(out[0])), dict(enumerate(out[1])), f"step {k}")
        if k == 21:
            assert out[0][4]["diverged"][3] and not out[0][4]["diverged"].all()
            for env in envs:
                env.check_inputs = True
        if k in (4, 11):
            kept.append((envs[0].get_state(), clone_state(envs[0].get_state())))
            assert states_equal(envs[0].get_state(), envs[1].get_state())
        if k == 8:
            kept.append((envs[0].obs, envs[0].obs.clone()))
        if k == 14:  # a differentiable step in between
            t = torch.as_tensor(a, dtype=dtype)
            for env in envs:
                env.step_differentiable(t)
        if k == 25:
            mask = np.arange(N) % 2 == 0
            for env in envs:
                env.reset(options={"reset_mask": mask})
        if k == 30:
            kept.append((envs[0].get_runtime_state()["episode_return"], envs[1].get_runtime_state()["episode_return"]))
    assert states_equal(envs[0].get_state(), envs[1].get_state())
    for x, y in kept:
        if isinstance(x, dict):
            assert states_equal(x, y)
        else:
            assert torch.equal(x, y)
