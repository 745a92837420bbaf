"""``compile=True`` runs the same step as eager (slow: inductor compiles for minutes on a CPU; the same
checks with the ``aot_eager`` backend trace in seconds and run by default), and the row guard compiles
whole (fast)."""

import gymnasium as gym
import pytest
import torch

import diffenvs  # noqa: F401

BACKENDS = [pytest.param(True, marks=pytest.mark.slow, id="inductor"), "aot_eager"]


@pytest.mark.parametrize("compile", BACKENDS)
@pytest.mark.parametrize("env_id", ["DiffQuad-Hover-v0", "DiffPointMass-Reach-v0"])
def test_compiled_step_equals_eager(env_id, compile):
    compiled = gym.make_vec(env_id, num_envs=4, compile=compile, max_episode_steps=5)
    assert compiled.compiled and not compiled.native_step
    eager = gym.make_vec(env_id, num_envs=4, max_episode_steps=5)
    compiled.reset(seed=0)
    eager.reset(seed=0)
    for i in range(8):  # episodes end at step 5: autoreset included
        a = torch.rand(4, compiled.action_dim, generator=torch.Generator().manual_seed(i)) * 2 - 1
        a1, a2 = a.clone().requires_grad_(), a.clone().requires_grad_()
        o1, r1, t1, u1, _ = compiled.step_differentiable(a1)
        o2, r2, t2, u2, _ = eager.step_differentiable(a2)
        torch.testing.assert_close(o1, o2)
        torch.testing.assert_close(r1, r2)
        assert torch.equal(t1 | u1, t2 | u2)
        (g1,) = torch.autograd.grad(r1.sum(), a1)
        (g2,) = torch.autograd.grad(r2.sum(), a2)
        torch.testing.assert_close(g1, g2)
        compiled.detach()
        eager.detach()


def test_finite_rows_guard_compiles_without_a_graph_break():
    """The row guard's backward has no data-dependent branch under torch.compile (fullgraph):
    a non-finite row gets a zero gradient, the others theirs, as in eager."""
    from diffenvs.grad import finite_rows_grad

    def f(x):
        (y,) = finite_rows_grad(x)
        scale = torch.ones_like(y)
        scale[0] = torch.inf  # row 0 blows up: 0 * inf in its backward
        return (y * scale).sum(-1)

    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    for fn in (f, compiled):
        x = torch.arange(6.0).view(3, 2).requires_grad_()
        out = fn(x)
        (g,) = torch.autograd.grad(out[1:].sum() + 0 * out[0], x)
        assert torch.equal(g, torch.tensor([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0]]))


@pytest.mark.parametrize("compile", BACKENDS)
def test_compiled_rollout_equals_eager_stepping(compile):
    """rollout() with compile=True: chunks of rollout_chunk steps and a one-step remainder, as
    one compiled graph each, equal to eager steps (values, autoresets, gradients)."""
    env_id = "DiffQuad-Hover-v0"
    compiled = gym.make_vec(env_id, num_envs=4, compile=compile, max_episode_steps=5)
    compiled.rollout_chunk = 3  # 7 steps: 3 + 3 + 1 (a short chunk compiles faster)
    eager = gym.make_vec(env_id, num_envs=4, max_episode_steps=5)
    compiled.reset(seed=0)
    eager.reset(seed=0)
    acts = torch.rand(7, 4, 4, generator=torch.Generator().manual_seed(0)) * 2 - 1
    a1, a2 = acts.clone().requires_grad_(), acts.clone().requires_grad_()
    o1, r1, t1, u1, i1 = compiled.rollout(a1)
    outs = [eager.step_differentiable(a) for a in a2.unbind(0)]
    torch.testing.assert_close(o1, torch.stack([o[0] for o in outs]))
    r2 = torch.stack([o[1] for o in outs])
    torch.testing.assert_close(r1, r2)
    assert torch.equal(t1 | u1, torch.stack([o[2] | o[3] for o in outs]))
    assert bool((t1 | u1).any()), "an episode should end inside the rollout"
    torch.testing.assert_close(i1["final_obs"], torch.stack([o[4]["final_obs"] for o in outs]))
    (g1,) = torch.autograd.grad(r1.sum(), a1)
    (g2,) = torch.autograd.grad(r2.sum(), a2)
    torch.testing.assert_close(g1, g2)
    # Under a policy, continuing from there.
    policy = lambda obs: torch.tanh(obs[:, :4])  # noqa: E731
    with torch.no_grad():
        p1 = compiled.rollout(policy=policy, steps=4)
        p2 = [eager.step_differentiable(policy(eager.obs)) for _ in range(4)]
    torch.testing.assert_close(p1[1], torch.stack([o[1] for o in p2]))


@pytest.mark.parametrize("bad, error, words", [("inductr", ValueError, "not a torch.compile backend"),
                                                (1.5, TypeError, "bool or a torch.compile backend name")])
def test_compile_names_a_known_backend(bad, error, words):
    with pytest.raises(error, match=words):
        gym.make_vec("DiffQuad-Hover-v0", num_envs=2, compile=bad)
