"""First-order trainers: smoke runs, determinism, checkpoints, and the ABPT gradient identities."""

import csv
import json

import pytest
import torch

import diffenvs
from trainers import make_config, make_trainer
from trainers.core.checkpoint import load_checkpoint
from trainers.core.evaluate import evaluate
from trainers.core.first_order import rollout
from trainers.core.logger import COLUMNS
from trainers.core.loop import make_train_env
from trainers.core.returns import discounted_return

FIRST_ORDER = ["bptt", "shac", "abpt"]
IDS = list(diffenvs.ENV_IDS)


def tiny(tmp_path, algo="abpt", **kw):
    """Two iterations of 4 envs x 8 steps, short evaluation episodes."""
    settings = dict(num_envs=4, horizon=8, total_steps=64, eval_every=0, eval_envs=2, log_dir=str(tmp_path),
                    progress=False, tensorboard=False, env_kwargs={"max_episode_steps": 12})
    if algo in ("shac", "abpt"):
        settings["critic_updates"] = 2
    if algo == "abpt":
        settings["replay_size"] = 1000
    settings.update(kw)
    return settings


def params(trainer):
    return {f"{name}.{k}": v.clone() for name, m in trainer.modules().items() for k, v in m.state_dict().items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("algo", FIRST_ORDER)
def test_two_iterations_on_every_task(algo, env_id, tmp_path):
    trainer = make_trainer(algo, env_id=env_id, **tiny(tmp_path, algo))
    before = params(trainer)
    result = trainer.learn()
    assert trainer.iteration == 2 and trainer.env_steps == 64
    assert any(not torch.equal(before[k], v) for k, v in params(trainer).items() if k.startswith("actor."))
    for key in ("eval_return", "eval_success", "eval_metric"):
        assert key in result
    with open(tmp_path / "progress.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0].keys()) == COLUMNS
    assert [int(float(r["env_steps"])) for r in rows] == [0, 32, 64]


@pytest.mark.parametrize("algo", FIRST_ORDER)
def test_seeded_runs_give_identical_parameters(algo, tmp_path):
    settings = tiny(tmp_path, algo)
    runs = []
    for i in range(2):
        settings["log_dir"] = str(tmp_path / f"run{i}")
        trainer = make_trainer(algo, env_id="DiffQuad-Landing-v0", seed=3, **settings)
        trainer.learn()
        runs.append(params(trainer))
    assert_same(*runs)
    settings["log_dir"] = str(tmp_path / "other")
    other = make_trainer(algo, env_id="DiffQuad-Landing-v0", seed=4, **settings)
    other.learn()
    assert not torch.equal(params(other)["actor.mean.weight"], runs[0]["actor.mean.weight"])


@pytest.mark.parametrize("algo", FIRST_ORDER)
def test_checkpoint_round_trips_and_resumes_identically(algo, tmp_path):
    # lr_decay off: with it, a run planned for 64 steps decays differently from one planned for 128.
    settings = tiny(tmp_path, algo, total_steps=128, lr_decay=False)
    straight = make_trainer(algo, env_id="DiffQuad-Racing-v0", **{**settings, "log_dir": str(tmp_path / "a")})
    straight.learn()

    first = make_trainer(algo, env_id="DiffQuad-Racing-v0", **{**settings, "total_steps": 64,
                                                                   "log_dir": str(tmp_path / "b")})
    first.learn()
    path = first.save(str(tmp_path / "ckpt.pt"))
    raw = torch.load(path, weights_only=True)  # loadable without unpickling code
    assert raw["algo"] == algo and raw["env_steps"] == 64
    restored = type(first).from_checkpoint(path, total_steps=128, log_dir=str(tmp_path / "b"))
    assert_same(params(restored), params(first))
    restored.learn(resume=True)
    assert restored.env_steps == 128
    assert_same(params(restored), params(straight))


def test_checkpoint_is_written_atomically(tmp_path, monkeypatch):
    trainer = make_trainer("bptt", **tiny(tmp_path, "bptt"))
    path = str(tmp_path / "ckpt.pt")
    trainer.save(path)
    good = open(path, "rb").read()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        trainer.save(path)
    assert open(path, "rb").read() == good  # the old checkpoint survives a crash mid-write
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ckpt")] == []
    assert load_checkpoint(path)["algo"] == "bptt"


# ----------------------------------------------------------- ABPT identities
def _abpt(tmp_path, env_id, **kw):
    return make_trainer("abpt", env_id=env_id, **tiny(tmp_path, "abpt", **kw))


def test_abpt_gradient_is_mean_of_value_and_first_order_gradients(tmp_path):
    """Appendix A, eq. 19: ∇J = ½ (∇^[q] G + ∇G) + γ^N ∇V(s_N), with ∇^[q] G = ∇V(s_0) - γ^N ∇V(s_N)."""
    trainer = _abpt(tmp_path, "DiffQuad-Hover-v0", env_kwargs={"max_episode_steps": 1000, "dtype": torch.float64})
    trainer.actor.double(), trainer.critic.double(), trainer.obs_norm.double()
    gamma, H = trainer.cfg.gamma, trainer.cfg.horizon
    ro = rollout(trainer.env, trainer.actor, trainer.norm, H)
    assert not ro.dones.any()
    parts = trainer.actor_objective(ro)
    theta = list(trainer.actor.parameters())

    def grad(x):
        return torch.cat([g.flatten() for g in torch.autograd.grad(x.sum(), theta, retain_graph=True)])

    g_total = grad(parts["objective"])
    g_first_order = grad(discounted_return(ro.rewards, ro.dones, torch.zeros_like(ro.rewards), gamma))  # ∇G
    g_v_end = grad(parts["next_values"][-1])  # ∇V(s_N)
    g_v_start = grad(parts["j_0"])  # ∇V(s_0)
    g_value = g_v_start - gamma**H * g_v_end  # value gradient of G (eq. 17)
    torch.testing.assert_close(g_total, 0.5 * (g_value + g_first_order) + gamma**H * g_v_end)
    assert g_first_order.abs().sum() > 0 and g_value.abs().sum() > 0


def test_non_differentiable_reward_gives_bptt_no_gradient_but_abpt_zero_step_one(tmp_path):
    """Figure 5 at unit level: a reward made only of gate bonuses is invisible to BPTT's gradient."""
    only_gates = {"c": 0.0, "k_pos": 0.0, "k_quat": 0.0, "k_vel": 0.0, "k_rate": 0.0, "gate_radius": 3.0}
    trainer = _abpt(tmp_path, "DiffQuad-Racing-v0", env_kwargs={"task_options": only_gates})
    ro = rollout(trainer.env, trainer.actor, trainer.norm, trainer.cfg.horizon)
    assert ro.rewards.sum() > 0  # gates were passed (wide gates), so there is value to learn from
    theta = list(trainer.actor.parameters())
    bptt_objective = discounted_return(ro.rewards, ro.dones, torch.zeros_like(ro.rewards), trainer.cfg.gamma)
    g_bptt = torch.autograd.grad(bptt_objective.sum(), theta, allow_unused=True, retain_graph=True)
    assert all(x is None or x.abs().sum() == 0 for x in g_bptt)  # BPTT: exactly zero gradient
    j_0 = trainer.actor_objective(ro)["j_0"]
    g = torch.autograd.grad(j_0.sum(), theta, allow_unused=True)
    assert sum(x.abs().sum() for x in g if x is not None) > 0  # ABPT's 0-step term still steers the actor


def test_ablation_switches(tmp_path):
    cfg = make_config("abpt", "DiffQuad-Landing-v0", preset="no_zero_step_no_entropy")
    assert (cfg.zero_step, cfg.entropy, cfg.state_replay, cfg.lr) == (False, False, True, 0.002)
    trainer = _abpt(tmp_path, "DiffQuad-Hover-v0", zero_step=False, entropy=False, state_replay=False)
    assert trainer.buffer is None and float(trainer.alpha) == 0.0
    ro = rollout(trainer.env, trainer.actor, trainer.norm, trainer.cfg.horizon)
    assert "j_0" not in trainer.actor_objective(ro)
    trainer.learn()


def test_abpt_actor_critic_option(tmp_path):
    """``actor_critic="target"`` values J^N and J^0 with the target critic, not the online one."""
    with pytest.raises(ValueError, match="actor_critic"):
        _abpt(tmp_path, "DiffQuad-Hover-v0", actor_critic="slow")
    trainer = _abpt(tmp_path, "DiffQuad-Hover-v0", actor_critic="target")
    trainer.train_iteration()  # the critic moves away from its target copy
    ro = rollout(trainer.env, trainer.actor, trainer.norm, trainer.cfg.horizon)
    parts = trainer.actor_objective(ro)
    with torch.no_grad():
        expected = trainer.critic_target(ro.obs[0], ro.actions[0]).min(0).values - trainer.alpha * ro.log_probs[0]
        online = trainer.critic(ro.obs[0], ro.actions[0]).min(0).values - trainer.alpha * ro.log_probs[0]
    torch.testing.assert_close(parts["j_0"].detach(), expected)
    assert not torch.allclose(parts["j_0"].detach(), online)
    theta = list(trainer.actor.parameters())
    grads = torch.autograd.grad(parts["objective"].sum(), theta)
    assert sum(g.abs().sum() for g in grads) > 0
    assert all(p.grad is None for p in trainer.critic_target.parameters())


def test_abpt_zero_step_weight_and_critic_reduce(tmp_path):
    """``zero_step_weight`` w gives ``(1 - w) J^N + w J^0``; ``critic_reduce`` picks how the
    action values combine (min / mean of two critics, or one critic)."""
    for bad, match in (({"critic_reduce": "max"}, "critic_reduce"), ({"zero_step_weight": 1.5}, "zero_step_weight")):
        with pytest.raises(ValueError, match=match):
            make_config("abpt", "DiffQuad-Hover-v0", **bad)
    for reduce, heads in (("min", 2), ("mean", 2), ("one", 1)):
        trainer = _abpt(tmp_path / reduce, "DiffQuad-Hover-v0", critic_reduce=reduce, zero_step_weight=0.9)
        assert len(trainer.critic.q) == heads
        ro = rollout(trainer.env, trainer.actor, trainer.norm, trainer.cfg.horizon)
        parts = trainer.actor_objective(ro)
        with torch.no_grad():
            q = trainer.critic(ro.obs[0], ro.actions[0])
            value = {"min": q.min(0).values, "mean": q.mean(0), "one": q[0]}[reduce]
        torch.testing.assert_close(parts["j_0"].detach(), value - trainer.alpha * ro.log_probs[0])
        torch.testing.assert_close(parts["objective"], 0.1 * parts["j_n"] + 0.9 * parts["j_0"])
        trainer.train_iteration()  # fits the critic(s) with the same reduction


def test_abpt_entropy_of(tmp_path):
    """``entropy_of="action"`` uses the squashed action's log-density (the Gaussian's minus the
    tanh Jacobian); ``"gaussian"`` the Gaussian's before the tanh, whose entropy bonus has no
    gradient with respect to the mean (reparameterised), only with respect to the std."""
    with pytest.raises(ValueError, match="entropy_of"):
        make_config("abpt", "DiffQuad-Hover-v0", entropy_of="tanh")
    obs = torch.randn(5, 13)
    noise = torch.randn(5, 4)
    for entropy_of in ("action", "gaussian"):
        trainer = _abpt(tmp_path / entropy_of, "DiffQuad-Hover-v0", entropy_of=entropy_of)
        actor = trainer.actor
        mu, log_std = actor.distribution(obs)
        action, log_prob = actor(obs, noise=noise)
        u = mu + log_std.exp() * noise
        expected = torch.distributions.Normal(mu, log_std.exp()).log_prob(u).sum(-1)
        if entropy_of == "action":
            expected = expected - torch.log(1 - torch.tanh(u) ** 2).sum(-1)
        torch.testing.assert_close(log_prob, expected, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(action, torch.tanh(u))
        grad_mean = torch.autograd.grad(log_prob.sum(), actor.mean.weight)[0]
        assert (grad_mean.abs().max() == 0) == (entropy_of == "gaussian")
        assert torch.isfinite(torch.tensor(trainer.train_iteration()["entropy"]))


def test_abpt_fixed_kappa(tmp_path):
    """``alpha_lr=0`` holds κ at ``init_alpha``; the default adapts it; a negative rate is refused."""
    with pytest.raises(ValueError, match="alpha_lr"):
        make_config("abpt", "DiffQuad-Hover-v0", alpha_lr=-0.1)
    for alpha_lr in (0.0, 0.1):
        trainer = _abpt(tmp_path / str(alpha_lr), "DiffQuad-Hover-v0", alpha_lr=alpha_lr, init_alpha=0.01)
        trainer.train_iteration()
        trainer.train_iteration()
        assert (float(trainer.alpha) == pytest.approx(0.01, rel=1e-6)) == (alpha_lr == 0.0)


def test_hover_default_preset_holds_kappa_and_the_paper_preset_adapts_it():
    """Hover's default preset is the paper's (Table 5) with κ held at 0.01 and the learning
    rate decayed; every other
    setting, algorithm and task keeps the paper's values."""
    from trainers.presets import preset

    default, paper = preset("abpt", "DiffQuad-Hover-v0"), preset("abpt", "DiffQuad-Hover-v0", "paper")
    changed = {k: v for k, v in default.items() if paper.get(k) != v}
    assert changed == {"alpha_lr": 0.0, "init_alpha": 0.01, "lr_decay": True}
    assert make_config("abpt", "DiffQuad-Hover-v0").alpha_lr == 0.0
    assert make_config("abpt", "DiffQuad-Hover-v0", preset="paper").alpha_lr == 0.1
    for algo in ("shac", "bptt", "ppo"):
        assert preset(algo, "DiffQuad-Hover-v0") == preset(algo, "DiffQuad-Hover-v0", "paper")
    for env_id in ("DiffQuad-Tracking-v0", "DiffQuad-Landing-v0", "DiffQuad-Racing-v0"):
        assert preset("abpt", env_id) == preset("abpt", env_id, "paper")


def test_abpt_alpha_from_target(tmp_path):
    """``alpha_from="target"`` holds κ at ``init_alpha`` while the rollout's entropy is above the
    target and adapts it from the first rollout at or below it (a flag that checkpoints keep)."""
    with pytest.raises(ValueError, match="alpha_from"):
        make_config("abpt", "DiffQuad-Hover-v0", alpha_from="never")
    adaptive = dict(alpha_from="target", alpha_lr=0.1)  # Hover's default preset holds κ; adapt it here
    above = _abpt(tmp_path / "above", "DiffQuad-Hover-v0", target_entropy=-100.0, **adaptive)
    for _ in range(2):
        above.train_iteration()
    assert not above.alpha_adapting and float(above.alpha) == pytest.approx(above.cfg.init_alpha, rel=1e-6)
    below = _abpt(tmp_path / "below", "DiffQuad-Hover-v0", target_entropy=100.0, **adaptive)
    below.train_iteration()
    assert below.alpha_adapting and float(below.alpha) > below.cfg.init_alpha  # entropy below target: κ grows
    restored = _abpt(tmp_path / "restored", "DiffQuad-Hover-v0", target_entropy=100.0, **adaptive)
    restored.load_extra_state(below.extra_state())
    assert restored.alpha_adapting


def test_abpt_alpha_optimizer_sgd(tmp_path):
    """``alpha_optimizer="sgd"`` moves log κ by ``alpha_lr`` times the entropy's error, no more:
    ``log κ' = log κ - alpha_lr (H - H_target)`` with ``H`` the rollout's entropy."""
    with pytest.raises(ValueError, match="alpha_optimizer"):
        make_config("abpt", "DiffQuad-Hover-v0", alpha_optimizer="rmsprop")
    # (at a constant rate: lr_decay, on in Hover's default preset, would scale the step too)
    trainer = _abpt(tmp_path, "DiffQuad-Hover-v0", alpha_optimizer="sgd", alpha_lr=0.05, lr_decay=False)
    for _ in range(2):
        before = float(trainer.log_alpha)
        stats = trainer.train_iteration()
        expected = before - 0.05 * (stats["entropy"] - trainer.target_entropy)
        assert float(trainer.log_alpha) == pytest.approx(expected, abs=1e-5)


def test_abpt_critic_warmup_holds_the_actor(tmp_path):
    """During ``critic_warmup`` iterations the critic learns and the actor does not move."""
    # (lr_decay off: over this tiny budget Hover's default decay reaches 0 by the third iteration)
    trainer = _abpt(tmp_path, "DiffQuad-Hover-v0", critic_warmup=2, lr_decay=False)
    actor0 = [p.detach().clone() for p in trainer.actor.parameters()]
    critic0 = [p.detach().clone() for p in trainer.critic.parameters()]
    for _ in range(2):
        stats = trainer.train_iteration()
        assert stats["grad_norm"] == 0.0
    assert all(torch.equal(a, b) for a, b in zip(actor0, trainer.actor.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(critic0, trainer.critic.parameters()))
    assert trainer.train_iteration()["grad_norm"] > 0  # the third iteration steps the actor
    assert not all(torch.equal(a, b) for a, b in zip(actor0, trainer.actor.parameters()))


def test_state_replay_starts_episodes_from_visited_states(tmp_path):
    trainer = _abpt(tmp_path, "DiffQuad-Hover-v0", replay_prob=1.0)
    trainer.train_iteration()
    assert trainer.buffer.size == 32
    trainer.replay_starts()
    state = trainer.env.get_state()
    n = trainer.buffer.size
    matches = torch.ones(state["pos"].shape[0], n, dtype=torch.bool)
    for k, v in state.items():  # row i of the env equals some stored state j in every field
        stored = trainer.buffer.states[k][:n]
        matches &= (v.reshape(len(v), 1, -1) == stored.reshape(1, n, -1)).all(-1)
    assert matches.any(-1).all()


# ------------------------------------------------------------------ residual
@pytest.mark.parametrize("algo", FIRST_ORDER)
def test_residual_learning_with_classical_anchor(algo, tmp_path):
    trainer = make_trainer(algo, env_id="DiffQuad-Tracking-v0", **tiny(tmp_path, algo, residual="classical"))
    assert trainer.obs_dim == 40 + 4 and trainer.actor.cfg.layer_norm
    assert abs(trainer.actor.cfg.std_scale**2 - 0.1) < 1e-12  # sampling variance reduced x10
    # At initialisation the policy is (almost) the anchor.
    obs = trainer.env.obs
    residual = trainer.policy(obs)
    assert residual.abs().max() < 0.05
    anchor_only = evaluate(lambda o: torch.zeros(o.shape[0], 4), make_train_env(trainer.cfg, num_envs=2), seed=10_000)
    result = trainer.learn()
    # Two tiny updates leave the policy close to the anchor.
    assert abs(result["eval_metric"] - anchor_only["eval_metric"]) < 0.1


def test_residual_from_saved_policy(tmp_path):
    base = make_trainer("bptt", env_id="DiffQuad-Hover-v0", **tiny(tmp_path / "base", "bptt"))
    base.learn()
    path = base.save(str(tmp_path / "anchor.pt"))
    res = make_trainer("shac", env_id="DiffQuad-Hover-v0", **tiny(tmp_path / "res", "shac", residual=path))
    obs = res.env.obs
    anchor_part = obs[:, -4:]
    torch.testing.assert_close(anchor_part, base.policy(obs[:, :-4]))
    res.learn()


# ----------------------------------------------------------------------- CLI
def test_cli_train_eval_presets(tmp_path, capsys):
    from trainers.cli import main

    log_dir = str(tmp_path / "run")
    main(["shac", "--env", "DiffQuad-Hover-v0", "--seed", "1", "--steps", "64", "--num-envs", "4", "--log-dir", log_dir,
          "--no-progress", "--no-tensorboard", "--eval-every", "0", "--set", "horizon=8", "--set", "eval_envs=2",
          "--set", "critic_updates=2", "--set", "env_kwargs={'max_episode_steps': 12}"])
    out = capsys.readouterr().out
    # The end-of-run summary: a table naming the main metric with its unit, and summary.json.
    assert "pos_error" in out and " m (main metric; lower is better)" in out and "env steps" in out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["algo"] == "shac" and summary["env_steps"] == 64 and summary["main_metric"]["unit"] == "m"
    assert summary["eval"]["eval_metric"] == summary["eval"]["final_pos_error"]
    main(["shac", "--env", "DiffQuad-Hover-v0", "--seed", "1", "--steps", "96", "--num-envs", "4", "--log-dir", log_dir,
          "--no-progress", "--no-tensorboard", "--resume"])
    assert "resuming shac" in capsys.readouterr().out
    # Resuming with settings that contradict the checkpoint is an error naming them.
    common = ["--steps", "128", "--num-envs", "4", "--log-dir", log_dir, "--no-progress", "--no-tensorboard",
              "--resume"]
    for extra, phrase in ((["--env", "DiffQuad-Racing-v0", "--seed", "1"], "env_id: checkpoint 'DiffQuad-Hover-v0'"),
                          (["--env", "DiffQuad-Hover-v0", "--seed", "2"], "seed: checkpoint 1, asked 2"),
                          (["--env", "DiffQuad-Hover-v0", "--seed", "1", "--set", "horizon=16"], "horizon")):
        with pytest.raises(SystemExit, match=f"was trained with other settings.*{phrase}"):
            main(["shac", *extra, *common])
    gif = str(tmp_path / "flight.gif")
    result = main(["eval", f"{log_dir}/checkpoint.pt", "--episodes", "2", "--gif", gif, "--gif-size", "160x120",
                   "--gif-every", "4"])
    assert "eval_metric" in result and (tmp_path / "flight.gif").exists()
    from PIL import Image

    with Image.open(gif) as im:
        assert im.size == (160, 120) and im.n_frames == 1 + 12 // 4  # episodes of 12 steps
    with pytest.raises(SystemExit):
        main(["eval", f"{log_dir}/checkpoint.pt", "--gif", gif, "--gif-size", "160"])
    main(["presets", "abpt", "--env", "DiffQuad-Racing-v0"])
    assert "replay_size': 50000" in capsys.readouterr().out
    with pytest.raises(ValueError, match="unknown setting"):
        main(["bptt", "--set", "learning_rate=1", "--steps", "8"])


def test_summary_counts_whole_iterations_and_formats_units(tmp_path, capsys):
    from trainers.cli import main
    from trainers.core.summary import eval_figures, format_value, planned_steps

    assert planned_steps(0, 100_000, 3200) == 102_400 and planned_steps(0, 6400, 3200) == 6400
    assert planned_steps(6400, 100_000, 3200) == 102_400 and planned_steps(9000, 8000, 3200) == 9000
    assert format_value(0.973, "%") == "97.3 %" and format_value(0.0412, "m") == "0.0412 m"
    assert format_value(float("nan"), "m") == "-" and format_value(1234567.0) == "1,234,567"
    shown = eval_figures({"eval_metric": 0.5, "eval_success": 0.25, "eval_return": 10.0}, "DiffQuad-Hover-v0")
    assert shown == {"pos_error": "0.5 m", "success": "25 %", "eval return": "10"}
    # 50 asked steps run as whole iterations of 4 envs x 8 = 32 steps: 64, said in the table.
    main(["shac", "--env", "DiffQuad-Hover-v0", "--steps", "50", "--num-envs", "4", "--log-dir", str(tmp_path / "r"),
          "--no-progress", "--no-tensorboard", "--eval-every", "0", "--set", "horizon=8", "--set", "eval_envs=2",
          "--set", "env_kwargs={'max_episode_steps': 12}"])
    assert "64 (asked 50; whole iterations of 32)" in capsys.readouterr().out
    main(["shac", "--env", "DiffQuad-Hover-v0", "--steps", "32", "--num-envs", "4", "--log-dir", str(tmp_path / "j"),
          "--no-progress", "--no-tensorboard", "--eval-every", "0", "--set", "horizon=8", "--set", "eval_envs=2",
          "--set", "env_kwargs={'max_episode_steps': 12}", "--json"])
    line = capsys.readouterr().out.splitlines()[0]
    assert json.loads(line)["env_steps"] == 32


# -------------------------------------------------------- learning (slow)
@pytest.mark.slow
@pytest.mark.parametrize("algo,steps", [("bptt", 1_100_000), ("shac", 700_000), ("abpt", 600_000),
                                        ("ppo", 4_000_000)])
def test_learns_hover(algo, steps, tmp_path):
    trainer = make_trainer(algo, env_id="DiffQuad-Hover-v0", total_steps=steps, eval_every=0, progress=False,
                           tensorboard=False, log_dir=str(tmp_path))
    result = trainer.learn()
    assert result["eval_metric"] < 0.1 and result["eval_success"] > 0.9


# ------------------------------------------------------- invalid checkpoints
def test_invalid_checkpoints_say_so_and_stale_temporaries_go(tmp_path):
    from trainers.core.checkpoint import CheckpointError

    trainer = make_trainer("bptt", env_id="DiffPointMass-Reach-v0", **tiny(tmp_path, "bptt"))
    stale = tmp_path / ".ckpt-left-by-a-kill.tmp"
    stale.write_bytes(b"half a checkpoint")
    path = trainer.save(str(tmp_path / "ckpt.pt"))
    assert not stale.exists()  # removed by the next save
    good = (tmp_path / "ckpt.pt").read_bytes()
    assert load_checkpoint(path)["algo"] == "bptt"

    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    cases = {"empty.pt": b"", "truncated.pt": good[: len(good) // 2], "text.pt": b"not a checkpoint\n",
             "flipped.pt": bytes(flipped)}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    # Content changed after saving (the stored digest no longer matches).
    raw = torch.load(path, weights_only=True)
    raw["modules"]["actor"]["mean.weight"][0, 0] += 1.0
    torch.save(raw, tmp_path / "edited.pt")
    for name in [*cases, "tensor.pt", "edited.pt"]:
        with pytest.raises(CheckpointError, match=rf"{name} is not a valid diffenvs checkpoint: "):
            load_checkpoint(str(tmp_path / name))
    with pytest.raises(CheckpointError, match="does not match the stored SHA-256"):
        load_checkpoint(str(tmp_path / "edited.pt"))
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(str(tmp_path / "empty.pt"))


# ------------------------------------------------------- bad settings and CLI values
@pytest.mark.parametrize("settings,phrase", [
    ({"lr": "abc"}, "setting 'lr' must be a number"),
    ({"horizon": 0}, "setting 'horizon' must be a positive int"),
    ({"horizon": 1.5}, "setting 'horizon' must be an int"),
    ({"gamma": 2}, r"setting 'gamma' must lie in \(0, 1\]"),
    ({"lr_decay": "yes"}, "setting 'lr_decay' must be a bool"),
    ({"total_steps": -5}, "setting 'total_steps' must be a positive int"),
    ({"checkpoint_every": -1}, "setting 'checkpoint_every' must be >= 0"),
    ({"net.layer_norm": 1}, "setting 'net.layer_norm' must be a bool"),
])
def test_bad_settings_name_the_setting(settings, phrase):
    with pytest.raises(ValueError, match=phrase):
        make_config("abpt", "DiffPointMass-Reach-v0", **settings)


@pytest.mark.parametrize("argv,phrase", [
    (["bptt", "--steps", "-5"], "--steps: must be a positive int"),
    (["bptt", "--checkpoint-every", "-1"], "--checkpoint-every: must be >= 0"),
    (["eval", "x.pt", "--episodes", "0"], "--episodes: must be a positive int"),
])
def test_bad_cli_values_name_the_option(argv, phrase, capsys):
    from trainers.cli import main

    with pytest.raises(SystemExit):
        main(argv)
    assert phrase in capsys.readouterr().err


def test_presets_of_an_unknown_env_id_is_an_error():
    from trainers.cli import main

    with pytest.raises(ValueError, match="unknown env id 'Nope-v0'"):
        main(["presets", "--env", "Nope-v0"])


@pytest.mark.parametrize("argv, line", [
    (["shac", "--env", "Hover"], "unknown env id 'Hover'; did you mean DiffQuad-Hover-v0?"),
    (["ppo", "--env", "DiffQuad-Hoover-v0"], "did you mean DiffQuad-Hover-v0"),
    (["shac", "--env", "CartPole-v1"], "'CartPole-v1' is a Gymnasium env of another package"),
    (["shac", "--env", "DiffQuad-Hover-v0", "--set", "lr=fast"], "setting 'lr' must be a number, got 'fast'"),
    (["eval", "/nonexistent/checkpoint.pt"], "no checkpoint at '/nonexistent/checkpoint.pt'"),
    (["presets", "--env", "Walk"], "did you mean DiffQuadruped-Walk-v0?"),
])
def test_user_mistakes_are_one_line_errors(argv, line, capsys, monkeypatch):
    """The console script prints a user mistake as one line with the fix and exits 2 (no traceback)."""
    from trainers.cli import console

    monkeypatch.delenv("DIFFENVS_DEBUG", raising=False)
    monkeypatch.setattr("sys.argv", ["diffenvs-train", *argv])
    assert console() == 2
    err = capsys.readouterr().err
    assert err.startswith("diffenvs-train: error: ") and line in err and err.count("\n") == 1


def test_env_kwargs_given_on_top_of_a_preset_merge_into_it():
    """The navigation presets train with depth noise; options given on top keep it."""
    from trainers import make_config

    assert make_config("shac", "DiffNav-PointMass-v0").env_kwargs == {"task_options": {"depth_noise": 1.0}}
    cfg = make_config("shac", "DiffNav-PointMass-v0", env_kwargs={"task_options": {"nose_length": 0.0},
                                                                  "max_episode_steps": 50})
    assert cfg.env_kwargs == {"task_options": {"depth_noise": 1.0, "nose_length": 0.0}, "max_episode_steps": 50}
    off = make_config("ppo", "DiffNav-PointMass-v0", env_kwargs={"task_options": {"depth_noise": 0.0}})
    assert off.env_kwargs == {"task_options": {"depth_noise": 0.0}}
    assert make_config("shac", "DiffNav-PointMass-v0", preset=None).env_kwargs == {}
    # An env's own preset ("fast": more envs, shorter horizons, a small critic).
    fast = make_config("shac", "DiffNav-PointMass-v0", preset="fast")
    assert (fast.num_envs, fast.horizon, fast.net.hidden, fast.env_kwargs["task_options"]["depth_noise"]) == \
        (128, 8, (64,), 1.0)
    with pytest.raises(ValueError, match="no settings for 'ppo'"):
        make_config("ppo", "DiffNav-PointMass-v0", preset="fast")
    with pytest.raises(ValueError, match="unknown preset 'fast'"):
        make_config("shac", "DiffPointMass-Reach-v0", preset="fast")


@pytest.mark.parametrize("obs_norm", [True, False])
@pytest.mark.parametrize("algo", FIRST_ORDER)
def test_a_far_away_robot_never_makes_networks_or_statistics_non_finite(algo, obs_norm, tmp_path):
    """One env observes values of 1e30 (their squares overflow float32): the updates that
    would take in a non-finite value are skipped and counted, and training goes on."""
    trainer = make_trainer(algo, env_id="DiffPointMass-Reach-v0", **tiny(tmp_path, algo, obs_norm=obs_norm,
                                                                          total_steps=96))
    observe = trainer.env.task.observe

    def far_away_row0(state):
        obs = observe(state)
        factor = torch.ones_like(obs)
        factor[0] = 1e30
        return obs * factor

    trainer.env.task.observe = far_away_row0
    trainer.env.reset(seed=0)
    trainer.learn()
    assert trainer.iteration == 3
    for name, module in trainer.modules().items():
        for key, value in module.state_dict().items():
            assert torch.isfinite(value).all(), f"{name}.{key}"
    with open(tmp_path / "progress.csv") as fh:
        rows = list(csv.DictReader(fh))
    skipped = [int(float(r["skipped_updates"])) for r in rows if r["skipped_updates"]]
    assert skipped == sorted(skipped) and skipped[-1] == trainer.skipped_updates
    if obs_norm or algo != "bptt":
        assert trainer.skipped_updates > 0


def test_skipped_updates_survive_a_checkpoint(tmp_path):
    trainer = make_trainer("shac", env_id="DiffPointMass-Reach-v0", **tiny(tmp_path, "shac"))
    trainer.learn()
    trainer.skipped_updates = 7
    trainer.save(str(tmp_path / "c.pt"))
    again = type(trainer).from_checkpoint(str(tmp_path / "c.pt"))
    assert again.skipped_updates == 7


def test_normaliser_keeps_finite_statistics():
    from trainers.core.normalizer import RunningNorm

    norm = RunningNorm(2)
    assert norm.update(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    before = {k: v.clone() for k, v in norm.state_dict().items()}
    for bad in (torch.tensor([[1e30, 0.0]]), torch.tensor([[float("nan"), 0.0]]), torch.tensor([[float("inf"), 0.0]])):
        assert not norm.update(torch.cat([bad, torch.zeros(3, 2)]))
        assert all(torch.equal(before[k], v) for k, v in norm.state_dict().items())
    assert torch.isfinite(norm(torch.tensor([[1e30, float("inf")]]))).all()


def test_a_fresh_run_never_silently_replaces_a_previous_one(tmp_path):
    """A second fresh run in a run folder is an error naming the fixes; overwrite=True
    replaces the previous run's log and checkpoint (no rows of it remain)."""
    from trainers import make_trainer

    kw = dict(env_id="DiffPointMass-Reach-v0", num_envs=4, horizon=4, total_steps=48, eval_every=0, eval_envs=2,
              log_dir=str(tmp_path), progress=False, tensorboard=False)  # 16 steps per iteration
    make_trainer("bptt", **kw).learn()
    with pytest.raises(FileExistsError, match="holds a previous run .*--resume.*--overwrite.*another --log-dir"):
        make_trainer("bptt", **kw).learn()
    make_trainer("bptt", **{**kw, "total_steps": 16}, overwrite=True).learn()
    rows = (tmp_path / "progress.csv").read_text().splitlines()
    assert rows[-1].split(",")[1] == "16" and len(rows) == 1 + 1 + 1  # header, step-0 evaluation, 1 iteration


def test_cli_default_run_folders_are_numbered_and_resume_the_latest(tmp_path, monkeypatch, capsys):
    from trainers.cli import main

    monkeypatch.chdir(tmp_path)
    argv = ["bptt", "--env", "DiffPointMass-Reach-v0", "--steps", "16", "--no-progress", "--no-tensorboard",
            "--set", "num_envs=4", "--set", "horizon=4", "--set", "eval_every=0", "--set", "eval_envs=2"]
    main(argv)
    main(argv)
    assert "runs/bptt-DiffPointMass-Reach-v0-s0 holds a previous run: this run writes to " \
           "runs/bptt-DiffPointMass-Reach-v0-s0-2" in capsys.readouterr().out
    assert (tmp_path / "runs/bptt-DiffPointMass-Reach-v0-s0-2/checkpoint.pt").exists()
    main([*argv[:4], "32", *argv[5:], "--resume"])
    assert "resuming bptt from runs/bptt-DiffPointMass-Reach-v0-s0-2/checkpoint.pt" in capsys.readouterr().out
    main([*argv, "--overwrite"])  # the first folder, replaced
    assert not (tmp_path / "runs/bptt-DiffPointMass-Reach-v0-s0-3").exists()


def test_help_lists_every_subcommand_with_an_example(capsys):
    from trainers.cli import _ABOUT, main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in ("bptt", "shac", "abpt", "ppo", "eval", "presets", "sweep", "figures"):
        assert f"    {name} " in out and name in _ABOUT
    with pytest.raises(SystemExit):
        main(["shac", "--help"])
    out = capsys.readouterr().out
    assert "example:" in out and "(default: DiffQuad-Hover-v0)" in out and "--overwrite" in out
    # Every --set field with its type and default, nested ones included.
    assert "settings for --set" in out and "  lr: float = 0.01" in out and "  net.layer_norm: bool = False" in out
    for name in ("sweep", "figures"):  # parsed by their own modules: an example, help on every option, no reST
        with pytest.raises(SystemExit):
            main([name, "--help"])
        out = capsys.readouterr().out
        assert "example" in out and ":mod:" not in out and "``" not in out
        helps = {"sweep": ("results folder", "Ray tasks", "runs at a time", "torch threads", "keep each finished"),
                 "figures": ("folder for the PNG", "which: 4, 7, 8, 9", "only these env ids")}[name]
        assert all(h in " ".join(out.split()) for h in helps), out


def test_log_counts_are_integers_and_tensorboard_tags_are_grouped(tmp_path):
    """progress.csv writes iteration, env steps and skipped updates as integers; TensorBoard
    gets train/, eval/ (the main metric by name) and time/ tags, with steps per second."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from trainers import make_trainer

    make_trainer("bptt", env_id="DiffPointMass-Reach-v0", num_envs=4, horizon=4, total_steps=32, eval_every=16,
                 eval_envs=2, log_dir=str(tmp_path), progress=False, tensorboard=True).learn()
    rows = (tmp_path / "progress.csv").read_text().splitlines()
    last = dict(zip(rows[0].split(","), rows[-1].split(",")))
    assert last["iteration"] == "2" and last["env_steps"] == "32" and last["skipped_updates"] == "0"
    assert "." in last["wall_time"]
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"eval/return", "eval/distance", "eval/success", "train/actor_loss", "time/wall_time",
            "time/fps"} <= tags, tags
    assert not any("/" not in t for t in tags)


def test_logger_resume_appends_and_warns_when_the_log_is_missing(tmp_path):
    """A resumed log keeps the rows up to the checkpoint and appends; a checkpoint resumed without
    its ``progress.csv`` says that the earlier rows are lost."""
    from trainers.core.logger import Logger, read_log

    log = Logger(str(tmp_path / "a"), tensorboard=False)
    for i in range(3):
        log.log({"iteration": i, "env_steps": 100 * i})
    log.close()
    log = Logger(str(tmp_path / "a"), tensorboard=False, resume=True, resume_steps=100)
    log.log({"iteration": 2, "env_steps": 200})
    log.close()
    assert [r["env_steps"] for r in read_log(str(tmp_path / "a" / "progress.csv"))] == [0, 100, 200]
    with pytest.warns(UserWarning, match="without .*progress.csv.* lost"):
        Logger(str(tmp_path / "b"), tensorboard=False, resume=True, resume_steps=2_022_400).close()
