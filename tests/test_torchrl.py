"""TorchRL can run every registered env (through diffenvs.wrappers.torchrl)."""

import gymnasium as gym
import pytest
import torch

pytest.importorskip("torchrl")

import diffenvs  # noqa: E402
from diffenvs.wrappers.torchrl import make_torchrl_env  # noqa: E402

IDS = list(diffenvs.env_specs())


def obs_entries(venv) -> dict[str, tuple[int, ...]]:
    """The observation keys of a TorchRL env over ``venv`` and their per-env shapes (TorchRL
    calls a Box observation, and a Dict entry named "state", "observation")."""
    space = venv.single_observation_space
    if isinstance(space, gym.spaces.Dict):
        return {("observation" if k == "state" else k): tuple(s.shape) for k, s in space.spaces.items()}
    return {"observation": tuple(space.shape)}


@pytest.mark.parametrize("env_id", IDS)
def test_rollout_with_random_policy_resets_finished_envs(env_id):
    n, steps, max_steps = 3, 7, 3
    env = make_torchrl_env(env_id, num_envs=n, seed=0, max_episode_steps=max_steps)
    venv = env._env.unwrapped
    assert env.batch_size == torch.Size([n])
    td = env.reset()
    entries = obs_entries(venv)
    assert all(td[k].shape == (n, *shape) for k, shape in entries.items()) and not td["done"].any()

    data = env.rollout(steps, break_when_any_done=False)  # random policy (the action spec)
    assert data.batch_size == torch.Size([n, steps])
    assert data["action"].shape == (n, steps, venv.action_dim)
    assert (data["action"].abs() <= 1).all()
    nxt = data["next"]
    assert all(nxt[k].shape == (n, steps, *shape) for k, shape in entries.items())
    assert nxt["reward"].shape == (n, steps, 1)
    # Episodes of 3 steps: TorchRL sees truncation at steps 3 and 6 and resets those envs
    # itself (the env runs without autoreset), so "next" holds the true last observation.
    done = nxt["done"].squeeze(-1)
    assert torch.equal(done, nxt["truncated"].squeeze(-1) | nxt["terminated"].squeeze(-1))
    if not nxt["terminated"].any():
        assert done[:, [2, 5]].all() and done.sum() == 2 * n
    for t in (3, 6):
        started = done[:, t - 1]
        assert not torch.equal(data["observation"][started, t], nxt["observation"][started, t - 1])
    # Metrics and reward terms come along; the terms add up to the reward.
    names = [term.name for term in venv.reward_terms]
    assert sorted(k for k in nxt.keys() if k.startswith("reward/")) == sorted("reward/" + n for n in names)
    total = sum(nxt["reward/" + name] for name in names)
    alive = ~nxt["diverged"]
    torch.testing.assert_close(total[alive], nxt["reward"].squeeze(-1)[alive], rtol=1e-5, atol=1e-6)
    for name in venv.task.metric_names:
        assert nxt[name].shape == (n, steps)


def test_seeded_torchrl_rollouts_are_identical():
    def run():
        env = make_torchrl_env("DiffPointMass-Reach-v0", num_envs=2, seed=4, max_episode_steps=3)
        env.set_seed(4)
        actions = torch.linspace(-1, 1, 2 * 5 * 2).reshape(5, 2, 2)
        td = env.reset()
        out = []
        for a in actions:
            td["action"] = a
            td = env.step_and_maybe_reset(td)[1]
            out.append(td["observation"].clone())
        return torch.stack(out)

    assert torch.equal(run(), run())


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="autoreset=False"):
        make_torchrl_env(gym.make_vec("DiffPointMass-Reach-v0", num_envs=2))
    with pytest.raises(TypeError, match="needs num_envs"):
        make_torchrl_env("DiffPointMass-Reach-v0")
    with pytest.raises(TypeError, match="only be given with an env id"):
        make_torchrl_env(gym.make_vec("DiffPointMass-Reach-v0", num_envs=2, autoreset=False), dtype=torch.float64)
    env = make_torchrl_env(gym.make_vec("DiffPointMass-Reach-v0", num_envs=2, autoreset=False), seed=0)
    assert env.rollout(3)["next", "observation"].shape == (2, 3, 4)


def test_plain_gymwrapper_runs_an_env_without_autoreset():
    """``GymWrapper(gym.make_vec(id, num_envs=N, autoreset=False))`` works as is: TorchRL
    only needs the env's ``autoreset_mode`` attribute (DISABLED) and resets finished envs
    through ``reset_mask`` (the info is not read in this mode)."""
    from torchrl.envs import GymWrapper

    venv = gym.make_vec("DiffPointMass-Reach-v0", num_envs=2, max_episode_steps=2, autoreset=False)
    env = GymWrapper(venv)
    data = env.rollout(5, break_when_any_done=False)
    assert data["next", "done"].squeeze(-1)[:, [1, 3]].all()


@pytest.mark.parametrize("env_id", list(diffenvs.ENV_IDS))
def test_plain_gymwrapper_on_the_native_autoresetting_env(env_id):
    """``GymWrapper(gym.make_vec(id, N))`` with the default SAME_STEP autoreset: TorchRL infers
    the info specs itself (flat keys) and resets nothing twice."""
    from torchrl.envs import GymWrapper

    venv = gym.make_vec(env_id, num_envs=2, max_episode_steps=3)
    if isinstance(venv.single_observation_space, gym.spaces.Dict):
        pytest.skip("TorchRL's plain GymWrapper cannot read Dict final observations of an autoresetting env "
                    "(its final-observation reader raises StopIteration); make_torchrl_env handles them")
    env = GymWrapper(venv)
    data = env.rollout(7, break_when_any_done=False)
    done = data["next", "done"].squeeze(-1)
    assert done[:, [2, 5]].all() and not done[:, [0, 1, 3, 4, 6]].any()
    names = [term.name for term in venv.reward_terms]
    total = sum(data["next", "reward/" + n] for n in names).float()
    # (at the steps that end an episode TorchRL keeps the new episode's (empty) reset info)
    torch.testing.assert_close(total[~done], data["next", "reward"].squeeze(-1).float()[~done], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("env_id", ["DiffQuad-Hover-v0", "DiffNav-PointMass-v0"])
def test_native_adapter_steps_the_env_and_resets_finished_rows(env_id):
    """TorchRL through the native adapter gives exactly the env's own transitions: the same
    seed and actions, finished rows restarted with ``reset_mask`` (as TorchRL asks)."""
    from diffenvs.wrappers.torchrl import DiffTorchRLEnv

    native = DiffTorchRLEnv(env_id, num_envs=3, seed=5, max_episode_steps=4)
    ref = gym.make_vec(env_id, num_envs=3, autoreset=False, max_episode_steps=4).unwrapped
    ref.reset(seed=5)
    actions = torch.rand(3, 9, native.action_spec.shape[-1], generator=torch.Generator().manual_seed(0)) * 2 - 1
    td = native.reset()
    key = "depth" if "depth" in td.keys() else "observation"
    for t in range(9):
        step, td = native.step_and_maybe_reset(td.set("action", actions[:, t]))
        with torch.no_grad():
            obs, reward, term, trunc, _ = ref.step_differentiable(actions[:, t])
        torch.testing.assert_close(step["next", "reward"], reward.unsqueeze(-1))
        torch.testing.assert_close(step["next", key], obs[key] if isinstance(obs, dict) else obs)
        assert torch.equal(step["next", "done"].squeeze(-1), term | trunc)
        if bool((term | trunc).any()):
            ref.reset(options={"reset_mask": term | trunc})
        ref_obs = ref.obs
        torch.testing.assert_close(td[key], ref_obs[key] if isinstance(ref_obs, dict) else ref_obs)


def test_native_adapter_keeps_the_graph_when_asked():
    from diffenvs.wrappers.torchrl import DiffTorchRLEnv

    env = DiffTorchRLEnv("DiffPointMass-Reach-v0", num_envs=2, seed=0, differentiable=True, dtype=torch.float64)
    td = env.reset()
    action = torch.zeros(2, env.action_spec.shape[-1], dtype=torch.float64, requires_grad=True)
    out = env.step(td.set("action", action))
    (grad,) = torch.autograd.grad(out["next", "reward"].sum(), action)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    plain = DiffTorchRLEnv("DiffPointMass-Reach-v0", num_envs=2, seed=0)
    assert not plain.step(plain.reset().set("action", torch.zeros(2, 2)))["next", "reward"].requires_grad
