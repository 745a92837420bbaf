"""The batched env: Gymnasium contract, autoreset, graph semantics, determinism, bad input."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode
from helpers import quad_env

import diffenvs
from diffenvs import DiffEnv
from diffenvs.contract import reward_terms, state_clone

IDS = [i for i, spec in diffenvs.ENV_IDS.items() if spec.robot == "quadrotor"]
TASKS = ["hover", "tracking", "landing", "racing"]


def hover_actions(env, noise=0.1, seed=0):
    gen = torch.Generator().manual_seed(seed)
    base = torch.full((env.num_envs, 4), env.robot.vehicle.hover_action, dtype=env.dtype)
    return base + noise * torch.randn(env.num_envs, 4, generator=gen, dtype=env.dtype)


# ------------------------------------------------------------- registration
@pytest.mark.parametrize("env_id", IDS)
def test_make_and_make_vec(env_id):
    env = gym.make(env_id)
    assert isinstance(env.unwrapped, DiffEnv)
    assert env.spec.max_episode_steps == diffenvs.ENV_IDS[env_id].max_episode_steps
    venv = gym.make_vec(env_id, num_envs=7)
    assert isinstance(venv, diffenvs.DiffVectorEnv) and isinstance(venv, gym.vector.VectorEnv)
    assert venv.num_envs == 7 and venv.max_episode_steps == diffenvs.ENV_IDS[env_id].max_episode_steps
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert venv.observation_space.shape == (7, venv.single_observation_space.shape[0])
    assert venv.action_space.shape == (7, 4) and venv.single_action_space.dtype == np.float32
    obs, info = venv.reset(seed=0)
    assert obs.shape == venv.observation_space.shape and obs.dtype == np.float32


def test_make_with_module_prefix():
    env = gym.make("diffenvs:DiffQuad-Hover-v0")
    assert env.unwrapped.task.name == "hover"


def test_make_vec_passes_kwargs():
    venv = gym.make_vec("DiffQuad-Racing-v0", num_envs=3, dtype=torch.float64, integrator="rk4",
                        task_options={"gate_radius": 0.5})
    assert venv.dtype == torch.float64 and venv.robot.integrator == "rk4" and venv.task.cfg.gate_radius == 0.5
    assert gym.make_vec("DiffQuad-RacingVelocity-v0", num_envs=2).task.cfg.reward == "velocity"
    # User options override the variant's defaults one by one (the reward stays "velocity").
    v = gym.make_vec("DiffQuad-RacingVelocity-v0", num_envs=2, task_options={"gate_radius": 0.5})
    assert v.task.cfg.reward == "velocity" and v.task.cfg.gate_radius == 0.5


@pytest.mark.parametrize("task", TASKS)
def test_observation_dims_match_spec(task):
    expected = {"hover": 13, "tracking": 40, "landing": 13, "racing": 16}[task]
    env = quad_env(2, task)
    env.reset(seed=0)
    assert env.obs.shape == (2, expected) == (2, env.single_observation_space.shape[0])


# ------------------------------------------------------------------ numpy path
def test_step_numpy_returns_fresh_float32_copies():
    env = quad_env(4, "hover")
    obs0, _ = env.reset(seed=0)
    obs1, rew, term, trunc, info = env.step(np.zeros((4, 4), np.float64))
    assert obs1.dtype == np.float32 and rew.dtype == np.float32 and term.dtype == bool and trunc.dtype == bool
    assert obs1.flags.writeable and not np.shares_memory(obs1, env.obs.numpy())
    obs1[:] = 123.0  # mutating what we handed out must not touch the env
    assert not torch.any(env.obs == 123.0)
    assert set(reward_terms(info)) == {t.name for t in env.reward_terms}
    assert isinstance(info["final_obs"], np.ndarray) and info["_final_obs"].dtype == bool


def test_reward_is_sum_of_named_terms():
    for task in TASKS:
        env = quad_env(5, task)
        env.reset(seed=1)
        _, rew, _, _, info = env.step_differentiable(hover_actions(env))
        total = torch.stack([reward_terms(info)[t.name] for t in env.reward_terms]).sum(0)
        torch.testing.assert_close(rew, total)


# ------------------------------------------------------------------- autoreset
def test_same_step_autoreset_with_envs_finishing_at_different_steps():
    env = quad_env(4, "hover", max_episode_steps=6, dtype=torch.float64)
    env.reset(seed=0)
    # Row 2 starts 3 steps into its episode so it truncates earlier than the others.
    state = state_clone(env.get_state())
    state["step"][2] = 3
    env.set_state(state)
    ends = {i: [] for i in range(4)}
    for t in range(1, 13):
        before = env.obs.clone()
        obs, rew, term, trunc, info = env.step_differentiable(hover_actions(env, noise=0.0))
        for i in np.flatnonzero(trunc.numpy()):
            ends[int(i)].append(t)
            assert info["_final_obs"][i] and info["_final_info"][i]
            assert not torch.equal(obs[i], info["final_obs"][i])  # fresh episode vs true last obs
            assert env.state["step"][i] == 0  # new episode starts at step 0
            assert info["final_info"]["episode_length"][i] == 6  # the step counter (row 2 started at 3)
        not_done = ~(term | trunc)
        torch.testing.assert_close(obs[not_done], info["final_obs"][not_done])
        del before
    assert ends[0] == [6, 12] and ends[2] == [3, 9]


def test_final_obs_keeps_gradient_and_reset_rows_have_none():
    env = quad_env(3, "hover", max_episode_steps=2, dtype=torch.float64)
    env.reset(seed=0)
    actions = hover_actions(env).requires_grad_()
    env.step_differentiable(actions)
    actions2 = hover_actions(env, seed=1).requires_grad_()
    obs, rew, term, trunc, info = env.step_differentiable(actions2)
    assert trunc.all() and info["final_obs"].requires_grad
    g_final = torch.autograd.grad(info["final_obs"].sum(), [actions, actions2], retain_graph=True)
    assert all(g.abs().sum() > 0 for g in g_final)
    g_new = torch.autograd.grad(obs.sum(), [actions, actions2], allow_unused=True)
    assert all(g is None or g.abs().sum() == 0 for g in g_new)


def test_episode_return_in_final_info_is_sum_of_rewards():
    env = quad_env(2, "racing", max_episode_steps=20)
    env.reset(seed=3)
    total = torch.zeros(2)
    for _ in range(20):
        _, rew, term, trunc, info = env.step_differentiable(hover_actions(env))
        total += rew
    assert trunc.all()
    torch.testing.assert_close(info["final_info"]["episode_return"], total)


def test_reset_mask_and_reset_to_given_states():
    env = quad_env(4, "landing")
    env.reset(seed=0)
    for _ in range(3):
        env.step_differentiable(hover_actions(env))
    before = state_clone(env.get_state())
    env.reset(options={"reset_mask": np.array([True, False, False, True])})
    after = env.get_state()
    assert all(torch.equal(after[k][1:3], before[k][1:3]) for k in before)
    assert not torch.equal(after["pos"][0], before["pos"][0])
    assert (after["step"][[0, 3]] == 0).all()
    # Start from given states: the observation follows, and stepping continues from there.
    env.reset(options={"state": before})
    assert diffenvs.contract.state_equal(env.get_state(), before)
    obs_a = env.set_state(before)
    torch.testing.assert_close(obs_a, env.task.observe(before))


def test_sample_initial_states_lie_in_spawn_box():
    env = quad_env(500, "hover")
    env.reset(seed=0)
    s = env.sample_initial_states()
    low = env.task.target - env.task.half
    high = env.task.target + env.task.half
    assert ((s["pos"] >= low) & (s["pos"] <= high)).all()
    torch.testing.assert_close(s["quat"], torch.tensor([[1.0, 0, 0, 0]]).expand(500, 4))


# ---------------------------------------------------------- graph semantics
def test_gradients_flow_to_every_action_since_detach_and_detach_cuts():
    env = quad_env(2, "tracking", dtype=torch.float64)
    env.reset(seed=0)
    acts = [hover_actions(env, seed=i).requires_grad_() for i in range(5)]
    total = 0
    for a in acts:
        _, rew, _, _, _ = env.step_differentiable(a)
        total = total + rew.sum()
    grads = torch.autograd.grad(total, acts)
    assert all(g.abs().sum() > 0 for g in grads)
    env.detach()
    assert not env.obs.requires_grad and not any(v.requires_grad for v in env.state.values())
    a_new = hover_actions(env).requires_grad_()
    _, rew, _, _, _ = env.step_differentiable(a_new)
    g = torch.autograd.grad(rew.sum(), [acts[0], a_new], allow_unused=True)
    assert g[0] is None and g[1].abs().sum() > 0


def test_out_of_range_actions_clip_with_straight_through_gradient():
    env = quad_env(2, "hover", dtype=torch.float64)
    env.reset(seed=0)
    s = state_clone(env.get_state())
    a_big = torch.full((2, 4), 5.0, dtype=torch.float64, requires_grad=True)
    obs_big = env.step_differentiable(a_big)[0]
    env.set_state(s)
    obs_one = env.step_differentiable(torch.ones(2, 4, dtype=torch.float64))[0]
    torch.testing.assert_close(obs_big, obs_one)
    # (explicit Euler: an action reaches the velocity after one step, the position after two)
    assert torch.autograd.grad(obs_big[:, 9].sum(), a_big)[0].abs().sum() > 0


def test_grad_decay_scales_gradients_through_the_state():
    grads = {}
    for decay in (1.0, 0.5):
        env = quad_env(1, "hover", dtype=torch.float64, grad_decay=decay)
        env.reset(seed=0)
        a0 = hover_actions(env).requires_grad_()
        env.step_differentiable(a0)
        obs = env.step_differentiable(hover_actions(env, seed=1))[0]
        grads[decay] = torch.autograd.grad(obs[:, :3].sum(), a0)[0]
    # Two steps of decay on the path from a0 to the second observation.
    torch.testing.assert_close(grads[0.5], 0.25 * grads[1.0])


def test_non_differentiable_terms_give_no_gradient():
    # Put a racing drone 0.1 m before its next gate, moving through it.
    env = quad_env(1, "racing", dtype=torch.float64)
    env.reset(seed=0)
    s = state_clone(env.get_state())
    gate = env.task.gates[int(s["next_gate"][0])]
    s["pos"][0] = gate - torch.tensor([0.25, 0, 0], dtype=torch.float64)
    s["vel"][0] = torch.tensor([2.0, 0, 0.5], dtype=torch.float64)
    env.set_state(s)
    a = hover_actions(env, noise=0.0).requires_grad_()
    _, rew, _, _, info = env.step_differentiable(a)
    terms = reward_terms(info)
    assert terms["gate"].item() == 20.0 and not terms["gate"].requires_grad
    assert torch.autograd.grad(terms["velocity"].sum(), a, retain_graph=True)[0].abs().sum() > 0
    assert info["gates_passed"].item() == 1 and env.state["next_gate"][0] == (int(s["next_gate"][0]) + 1) % 4
    # The gradient of the total reward equals that of its differentiable terms.
    diff_sum = sum(terms[t.name] for t in env.reward_terms if t.differentiable)
    g_total = torch.autograd.grad(rew.sum(), a, retain_graph=True)[0]
    torch.testing.assert_close(g_total, torch.autograd.grad(diff_sum.sum(), a)[0])


def test_landing_success_ends_episode_with_bonus():
    env = quad_env(2, "landing", dtype=torch.float64, autoreset=False)
    env.reset(seed=0)
    s = state_clone(env.get_state())
    s["pos"] = torch.tensor([[2.0, 0.05, 0.203], [4.0, 0.0, 0.203]], dtype=torch.float64)  # row 1 off the pad
    s["vel"][:] = torch.tensor([0.0, 0.0, -0.2], dtype=torch.float64)
    env.set_state(s)
    _, rew, term, _, info = env.step_differentiable(hover_actions(env, noise=0.0))
    assert term.tolist() == [True, False] and info["success"].tolist() == [True, False]
    assert reward_terms(info)["success"].tolist() == [20.0, 0.0]


# ---------------------------------------------------- failures are contained
def test_diverging_and_out_of_bounds_drones_terminate_alone_and_are_counted():
    env = quad_env(4, "hover", {"max_speed": 2.0}, dtype=torch.float64)
    ref = quad_env(4, "hover", {"max_speed": 2.0}, dtype=torch.float64)
    env.reset(seed=0)
    ref.reset(seed=0)
    s = state_clone(env.get_state())
    s["pos"][1, 2] = 5.0
    s["vel"][1] = torch.tensor([0.0, 0.0, -1.99], dtype=torch.float64)  # falling, about to exceed max_speed
    s["pos"][2, 2] = 0.001
    s["vel"][2, 2] = -1.0  # about to hit the ground
    env.set_state(s)
    actions = hover_actions(env, noise=0.0)
    actions[1] = -1.0  # no thrust: gravity pushes it past max_speed
    _, rew, term, trunc, info = env.step_differentiable(actions)
    _, rew_ref, term_ref, _, _ = ref.step_differentiable(hover_actions(ref, noise=0.0))
    assert term.tolist() == [False, True, True, False]
    assert info["diverged"].tolist() == [False, True, False, False]
    assert info["out_of_bounds"].tolist() == [False, False, True, False]
    assert int(env.num_diverged) == 1 and int(env.num_out_of_bounds) == 1
    assert rew[1] == 0.0
    torch.testing.assert_close(rew[[0, 3]], rew_ref[[0, 3]])
    for k in env.state:
        torch.testing.assert_close(env.state[k][[0, 3]], ref.state[k][[0, 3]])
        assert not env.state[k].is_floating_point() or torch.isfinite(env.state[k]).all()
    assert (env.state["step"][[1, 2]] == 0).all()


# -------------------------------------------------------------- determinism
@pytest.mark.parametrize("task", TASKS)
def test_seeded_runs_are_bit_identical(task):
    def run(seed):
        env = quad_env(8, task, max_episode_steps=15)
        env.reset(seed=seed)
        gen = torch.Generator().manual_seed(42)
        out = []
        for _ in range(40):
            a = torch.rand(8, 4, generator=gen) * 2 - 1
            obs, rew, term, trunc, info = env.step_differentiable(a)
            out += [obs, rew, info["final_obs"]]
        return torch.cat([o.reshape(-1) for o in out])

    a, b = run(7), run(7)
    assert torch.equal(a, b)
    assert not torch.equal(a, run(8))


# ---------------------------------------------- batched equals single envs
@pytest.mark.parametrize("task", TASKS)
def test_batched_env_equals_single_envs(task):
    n, horizon, max_steps = 4, 40, 25
    venv = quad_env(n, task, dtype=torch.float64, max_episode_steps=max_steps)
    venv.reset(seed=5)
    # Desynchronise the episodes and send row 3 into the ground early.
    s = state_clone(venv.get_state())
    s["step"][1] = 10
    s["vel"][3, 2] = -8.0
    venv.set_state(s)
    singles = [DiffEnv("quadrotor", task, dtype=torch.float64) for _ in range(n)]
    for i, e in enumerate(singles):
        e.reset(seed=i)
        e.set_state(diffenvs.contract.state_rows(s, i))
    gen = np.random.default_rng(0)
    ended = 0
    for _ in range(horizon):
        actions = np.clip(venv.robot.vehicle.hover_action + 0.3 * gen.standard_normal((n, 4)), -1, 1)
        b_obs, b_rew, b_term, b_trunc, b_info = venv.step(actions)
        for i, e in enumerate(singles):
            obs, rew, term, _, info = e.step(actions[i])
            np.testing.assert_allclose(b_info["final_obs"][i], obs, rtol=0, atol=1e-6)
            assert abs(b_rew[i] - rew) < 1e-6 and b_term[i] == term
            for name in e.task.metric_names:
                np.testing.assert_allclose(b_info[name][i], info[name], rtol=1e-9, atol=1e-12)
            if b_term[i] or b_trunc[i]:
                ended += 1
                assert b_trunc[i] == (not term and e.get_state()["step"].item() >= max_steps)
                e.set_state(diffenvs.contract.state_rows(venv.get_state(), i))  # continue from the fresh episode
                np.testing.assert_allclose(b_obs[i], e.vec._to_numpy_obs(e.vec.obs)[0], rtol=0, atol=0)
    assert ended >= 3


# ---------------------------------------------------------------- bad input
def test_bad_actions_are_rejected_with_clear_errors():
    env = quad_env(3, "hover")
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros((3, 4)))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(3, 4\)"):
        env.step(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"shape \(3, 4\)"):
        env.step_differentiable(torch.zeros(4))
    with pytest.raises(TypeError, match="float32"):
        env.step_differentiable(torch.zeros(3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="device"):
        env.step_differentiable(torch.zeros(3, 4, device="meta"))
    with pytest.raises(TypeError, match="torch.Tensor"):
        env.step_differentiable(np.zeros((3, 4), np.float32))
    with pytest.raises(TypeError, match="numeric"):
        env.step(np.array([["a"] * 4] * 3))
    bad = np.zeros((3, 4))
    bad[1, 2] = np.nan
    before = state_clone(env.get_state())
    with pytest.raises(ValueError, match=r"NaN or inf in env row\(s\) \[1\]"):
        env.step(bad)
    assert diffenvs.contract.state_equal(env.get_state(), before)  # nothing was committed
    with pytest.raises(ValueError, match="NaN or inf"):
        env.step_differentiable(torch.tensor(bad, dtype=torch.float32).clamp(-1, 1).nan_to_num(posinf=np.inf)
                                + torch.tensor([[0, 0, 0, 0], [0, 0, np.inf, 0], [0, 0, 0, 0]]))
    single = gym.make("DiffQuad-Hover-v0")
    single.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        single.step(np.zeros(3, np.float32))


def test_bad_construction_and_options_are_rejected():
    with pytest.raises(ValueError, match="unknown task option.*'speed'.*valid options"):
        quad_env(2, "hover", task_options={"speed": 1})
    with pytest.raises(ValueError, match="unknown task 'flip' for robot 'quadrotor'"):
        quad_env(2, "flip")
    with pytest.raises(ValueError, match="unknown vehicle"):
        quad_env(2, vehicle="blimp")
    with pytest.raises(ValueError, match="integrator"):
        quad_env(2, integrator="midpoint")
    with pytest.raises(ValueError, match="dtype"):
        quad_env(2, dtype=torch.float16)
    with pytest.raises(ValueError, match="racing reward"):
        quad_env(2, "racing", task_options={"reward": "time"})
    with pytest.raises(ValueError, match="num_envs"):
        quad_env(0)
    with pytest.raises(TypeError, match="unknown vehicle parameter"):
        diffenvs.robots.quadrotor.PRESETS["drone460"].replace(mass_kg=1.0)
    env = quad_env(2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"mask": [True, False]})
    with pytest.raises(TypeError, match="dict of tensors"):
        env.set_state(torch.zeros(2, 5))
    bad_state = state_clone(env.get_state())
    bad_state["quat"] = torch.zeros(2, 3)
    with pytest.raises(ValueError, match=r"state\['quat'\] must have shape \(2, 4\)"):
        env.set_state(bad_state)
    with pytest.raises(ValueError, match=r"missing \['pos'\]"):
        env.set_state({k: v for k, v in env.get_state().items() if k != "pos"})
    bad_state = state_clone(env.get_state())
    bad_state["quat"][0, 0] = 2.0
    with pytest.raises(ValueError, match="unit quaternions"):
        env.set_state(bad_state)


def test_runtime_state_restores_an_identical_continuation():
    def run(env, steps):
        gen = torch.Generator().manual_seed(9)
        out = []
        for _ in range(steps):
            obs = env.step_differentiable(torch.rand(6, 4, generator=gen) * 2 - 1)[0]
            out.append(obs)
        return torch.stack(out)

    env = quad_env(6, "racing", max_episode_steps=7)
    env.reset(seed=1)
    run(env, 11)
    state, runtime = state_clone(env.get_state()), env.get_runtime_state()
    expected = run(env, 30)
    other = quad_env(6, "racing", max_episode_steps=7)
    other.reset(seed=99)
    other.set_state(state)
    other.set_runtime_state(runtime)
    assert torch.equal(run(other, 30), expected)


def test_detach_reward_terms_keeps_value_and_cuts_gradient():
    full = quad_env(2, "hover", dtype=torch.float64)
    part = quad_env(2, "hover", dtype=torch.float64, detach_reward_terms=("position", "velocity"))
    assert [t.differentiable for t in part.reward_terms] == [True, False, True, False, True]
    full.reset(seed=0)
    part.reset(seed=0)
    infos = []
    for env in (full, part):
        a = hover_actions(env).requires_grad_()
        env.step_differentiable(a)
        _, rew, _, _, info = env.step_differentiable(hover_actions(env, seed=1))
        infos.append((a, rew, reward_terms(info)))
    (a_full, rew_full, terms_full), (a_part, rew_part, terms_part) = infos
    torch.testing.assert_close(rew_full, rew_part)  # same values
    assert torch.autograd.grad(terms_full["position"].sum(), a_full)[0].abs().sum() > 0
    assert not terms_part["position"].requires_grad and not terms_part["velocity"].requires_grad
    assert terms_part["rate"].requires_grad  # the other terms keep their gradient
    with pytest.raises(ValueError, match="unknown reward term"):
        quad_env(2, "hover", detach_reward_terms=("gate",))


@pytest.mark.parametrize("dt", [float("inf"), float("nan"), "0.02", None, 0.0, -0.01, True])
def test_bad_dt_is_named(dt):
    with pytest.raises(ValueError, match="dt must be a positive finite number of seconds"):
        quad_env(2, dt=dt)


def test_dt_defaults_to_the_robot_and_accepts_numpy_numbers():
    assert quad_env(1).dt == 0.02
    assert quad_env(1, dt=np.float64(0.01)).dt == 0.01


def test_num_envs_must_be_a_positive_int_not_a_bool():
    with pytest.raises(ValueError, match="num_envs must be a positive int, got True"):
        quad_env(True)
    assert quad_env(np.int64(2)).num_envs == 2
