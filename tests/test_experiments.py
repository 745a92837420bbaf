"""The experiments of trainers.experiments beyond Figure 5 (those are in test_sweep.py)."""

import torch

from trainers import make_trainer
from trainers.core.loop import make_train_env
from trainers.experiments import critic_gradient, mc_soft_return

TINY = dict(num_envs=4, horizon=8, critic_updates=2, eval_every=0, progress=False, tensorboard=False)


def _float64_trainer(tmp_path):
    """A tiny ABPT trainer on Hover in float64 (no termination within the horizon), one iteration in."""
    f64 = {"dtype": torch.float64, "max_episode_steps": 1000}
    trainer = make_trainer("abpt", "DiffQuad-Hover-v0", log_dir=str(tmp_path), env_kwargs=f64, **TINY)
    for module in (trainer.actor, trainer.critic, trainer.critic_target, trainer.obs_norm):
        module.double()
    trainer.train_iteration()
    return trainer


def test_monte_carlo_return_finite_differences_match_its_autodiff_gradient(tmp_path):
    """The finite differences that the critic is checked against are right: on a smooth task
    (Hover, no termination within the horizon, float64) the central differences of the
    Monte-Carlo soft return in the first action equal its autodiff gradient."""
    trainer = _float64_trainer(tmp_path)
    act_dim, eps, steps = trainer.act_dim, 1e-6, 6
    env = make_train_env(trainer.cfg, num_envs=2 * act_dim + 1)
    env.reset(seed=1)
    start = {k: v.detach()[:1].expand(2 * act_dim + 1, *v.shape[1:]) for k, v in trainer.env.get_state().items()}
    draws = torch.randn(steps + 1, act_dim, dtype=torch.float64)

    def noise(t):
        return draws[t].expand(2 * act_dim + 1, act_dim)

    a0 = torch.tensor([0.1, -0.2, 0.3, 0.05], dtype=torch.float64)
    first = torch.cat([a0[None].requires_grad_(True), a0 + eps * torch.eye(act_dim), a0 - eps * torch.eye(act_dim)])
    ret = mc_soft_return(trainer, env, start, first, noise, steps)
    (autodiff,) = torch.autograd.grad(ret[0], first, retain_graph=True)
    fd = (ret[1:1 + act_dim] - ret[1 + act_dim:]).detach() / (2 * eps)
    torch.testing.assert_close(fd, autodiff[0], rtol=1e-5, atol=1e-7)
    assert autodiff[0].abs().min() > 0


def test_critic_gradient_rows(tmp_path):
    rows = critic_gradient("DiffQuad-Racing-v0", iterations=2, probe_every=1, probes=3, samples=4, mc_steps=5,
                           log_dir=str(tmp_path), **TINY)
    assert len(rows) == 2 * 3 * 4  # iterations x probes x critics (min, mean, q0, q1)
    assert {r["critic"] for r in rows} == {"min", "mean", "q0", "q1"}
    assert [r["env_steps"] for r in rows[:1] + rows[-1:]] == [32, 64]
    assert all(-1 <= r["cosine"] <= 1 and r["norm_ratio"] >= 0 and -1 <= r["fd_self_cosine"] <= 1 for r in rows)
    assert all(0 <= r["action_peak"] <= 1 and r["eps"] == 0.05 for r in rows)
    one = critic_gradient("DiffQuad-Racing-v0", iterations=1, probe_every=1, probes=2, samples=2, mc_steps=3,
                          critic_reduce="one", log_dir=str(tmp_path), **TINY)
    assert {r["critic"] for r in one} == {"min", "mean", "q0"}


def test_critic_gradient_figure_and_table(tmp_path):
    from trainers.figures import main as figures

    csvs = [str(tmp_path / f"cg_s{seed}.csv") for seed in (0, 1)]
    for seed, path in enumerate(csvs):
        critic_gradient("DiffQuad-Racing-v0", iterations=2, probe_every=1, seed=seed, out=path, probes=2, samples=2,
                        mc_steps=3, log_dir=str(tmp_path), **TINY)
    written = figures(["--out", str(tmp_path / "figs"), "--critic-gradient", *csvs])
    assert sorted(p.rsplit("/", 1)[-1] for p in written) == ["critic_gradient.png", "summary_critic_gradient.md"]
    table = (tmp_path / "figs" / "summary_critic_gradient.md").read_text()
    assert "| min of twin critics (ABPT) | 8 |" in table and "over 8 probes" in table
    assert "was not saturated" in table


def test_parameter_difference_weights_and_critic_warmup(tmp_path):
    """Objectives by 0-step weight; during the critic warm-up the two copies stay identical."""
    from trainers.experiments import parameter_difference

    rows = parameter_difference(iterations=3, weights=(0.9, 0.0), critic_warmup=2, num_envs=4, horizon=8,
                                critic_updates=2, env_kwargs={"max_episode_steps": 12})
    assert [r["objective"] for r in rows] == ["0.1 N-step + 0.9 0-step"] * 3 + ["N-step only (no 0-step)"] * 3
    assert [r["param_difference"] for r in rows if r["iteration"] <= 2] == [0.0] * 4
    assert all(r["param_difference"] > 0 for r in rows if r["iteration"] == 3)


def test_probe_layout_finite_differences_match_autodiff(tmp_path):
    """fd_action_gradient's batch layout (state, action dim, sign, sample) and its shared noise
    give, per state, the autodiff gradient of that state's own Monte-Carlo return."""
    from trainers.experiments import fd_action_gradient

    trainer = _float64_trainer(tmp_path)
    probes, act_dim, steps, eps = 3, trainer.act_dim, 5, 1e-6
    start = {k: v.detach()[:probes] for k, v in trainer.env.get_state().items()}
    a0 = torch.tensor([[0.1, -0.2, 0.3, 0.0], [0.5, 0.4, -0.1, 0.2], [-0.3, 0.0, 0.1, -0.4]], dtype=torch.float64)
    probe_env = make_train_env(trainer.cfg, num_envs=probes * act_dim * 2)
    probe_env.reset(seed=1)
    fd, _ = fd_action_gradient(trainer, probe_env, start, a0, eps, 1, steps, torch.Generator().manual_seed(7))
    # The same noise, drawn in the same order, for one env per state.
    gen = torch.Generator().manual_seed(7)
    draws = [torch.randn(probes, 1, 1, 1, act_dim, generator=gen, dtype=torch.float64).view(probes, act_dim)
             for _ in range(steps)]
    env = make_train_env(trainer.cfg, num_envs=probes)
    env.reset(seed=1)
    first = a0.clone().requires_grad_(True)
    ret = mc_soft_return(trainer, env, start, first, lambda t: draws[t - 1], steps)
    (autodiff,) = torch.autograd.grad(ret.sum(), first)
    torch.testing.assert_close(fd[..., 0], autodiff, rtol=1e-5, atol=1e-7)
