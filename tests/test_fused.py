"""The quadrotor's native fused Euler step against its PyTorch equations."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import diffenvs  # noqa: F401
from diffenvs import native
from diffenvs.robots.quadrotor import Quadrotor, fused

pytestmark = pytest.mark.skipif(not fused.available(), reason=f"fused kernel: {native.status(fused.SOURCE)}")
CPU = torch.device("cpu")


def _robots(dtype, motor_lag):
    kw = dict(dt=0.02, dtype=dtype, device=CPU)
    return (Quadrotor({"motor_lag": motor_lag}, **kw), Quadrotor({"motor_lag": motor_lag, "fused": False}, **kw))


def _state(n, dtype, seed=0):
    """Random states; the fields are views of one (n, 17) tensor as in an env (row stride 17)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 17, generator=g, dtype=dtype)
    x[:, 3:7] /= x[:, 3:7].norm(dim=-1, keepdim=True)
    x[:, 10:13] *= 3.0
    x[:, 13:17] = x[:, 13:17].abs() * 3.0
    return {"pos": x[:, 0:3], "quat": x[:, 3:7], "vel": x[:, 7:10], "omega": x[:, 10:13], "thrust": x[:, 13:17]}


@pytest.mark.parametrize("motor_lag", [False, True])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
def test_fused_step_and_gradients_equal_the_pytorch_equations(motor_lag, dtype, tol):
    fast, ref = _robots(dtype, motor_lag)
    assert fast.fused and not ref.fused and "fused" in fast.describe()
    state = {k: v.detach().clone().requires_grad_() for k, v in _state(9, dtype).items()}
    action = (torch.rand(9, 4, dtype=dtype) * 2.4 - 1.2).requires_grad_()
    out_fast, out_ref = fast.step(state, action), ref.step(state, action)
    weights = {k: torch.randn_like(v) for k, v in out_ref.items()}
    grads = []
    for out in (out_fast, out_ref):
        loss = sum((out[k] * weights[k]).sum() for k in out)
        grads.append(torch.autograd.grad(loss, [*state.values(), action], allow_unused=True))
    for k in out_ref:
        torch.testing.assert_close(out_fast[k], out_ref[k], atol=tol, rtol=tol)
    for name, gf, gr in zip([*state, "action"], *grads):
        gr = torch.zeros_like(gf) if gr is None else gr  # eager: no graph to an unused input
        torch.testing.assert_close(gf, gr, atol=tol * 10, rtol=tol * 10, msg=f"gradient of {name}")


@pytest.mark.parametrize("motor_lag", [False, True])
def test_fused_step_gradcheck(motor_lag):
    fast, _ = _robots(torch.float64, motor_lag)
    base = _state(3, torch.float64, seed=1)
    names = list(base)

    def step(*xs):
        out = fast.step(dict(zip(names, xs[:-1])), xs[-1])
        return tuple(out.values())

    inputs = [v.detach().clone().requires_grad_() for v in base.values()]
    inputs.append((torch.rand(3, 4, dtype=torch.float64) * 2 - 1).requires_grad_())
    assert torch.autograd.gradcheck(step, inputs, eps=1e-6, atol=1e-7)


def test_fused_takes_strided_and_expanded_inputs_and_partial_gradients():
    fast, ref = _robots(torch.float64, False)
    state = _state(5, torch.float64)
    action = torch.tensor([[0.1, -0.2, 0.3, 0.0]], dtype=torch.float64).expand(5, 4)  # row stride 0
    for k, v in ref.step(state, action).items():
        torch.testing.assert_close(fast.step(state, action)[k], v, atol=1e-12, rtol=1e-12)
    a = action.clone().requires_grad_()
    (g_fast,) = torch.autograd.grad(fast.step(state, a)["vel"].sum(), a)  # only one output used
    (g_ref,) = torch.autograd.grad(ref.step(state, a)["vel"].sum(), a)
    torch.testing.assert_close(g_fast, g_ref, atol=1e-12, rtol=1e-12)


def test_fused_refuses_what_it_cannot_read_and_falls_back():
    fast, _ = _robots(torch.float64, False)
    state, action = _state(4, torch.float64), torch.zeros(4, 4, dtype=torch.float64)
    assert fused.supports(state, action, fast.fused_params)
    assert not fused.supports(state, action.float(), fast.fused_params)  # dtype differs
    assert not fused.supports(state, torch.zeros(3, 4, dtype=torch.float64), fast.fused_params)  # rows differ
    assert not fused.supports({**state, "quat": state["quat"][:, :3]}, action, fast.fused_params)  # width
    # An env of another integrator, or with fused=False, never uses it.
    assert not Quadrotor({"integrator": "rk4"}, dt=0.02, dtype=torch.float64, device=CPU).fused


def test_native_kernels_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("DIFFENVS_NATIVE", "0")
    assert not fused.available() and native.status(fused.SOURCE).startswith("turned off")
    assert not Quadrotor({}, dt=0.02, dtype=torch.float32, device=CPU).fused


def test_native_build_failure_is_reported_not_raised(tmp_path, monkeypatch):
    source = tmp_path / "broken.c"
    source.write_text("this is not C\n")
    monkeypatch.setenv("DIFFENVS_CACHE", str(tmp_path / "cache"))
    with pytest.warns(RuntimeWarning, match="broken.c unavailable"):
        assert native.load(str(source)) is None
    assert "failed" in native.status(str(source))


def test_fused_env_matches_the_pytorch_env_and_is_deterministic():
    """Hover with and without the fused step: 30 steps with autoresets agree to float64 rounding;
    two seeded runs of the fused env are bit for bit the same."""
    runs = []
    for fused_step in (True, True, False):
        env = gym.make_vec("DiffQuad-Hover-v0", num_envs=6, dtype="float64", fused=fused_step, max_episode_steps=12)
        env.reset(seed=3)
        g = torch.Generator().manual_seed(1)
        acts = (torch.rand(30, 6, 4, generator=g, dtype=torch.float64) * 2.4 - 1.2).requires_grad_()
        rewards = torch.stack([env.step_differentiable(acts[k])[1] for k in range(30)])
        (grad,) = torch.autograd.grad(rewards.sum(), acts)
        runs.append((rewards.detach(), grad))
    assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
    torch.testing.assert_close(runs[0][0], runs[2][0], atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(runs[0][1], runs[2][1], atol=1e-8, rtol=1e-8)
