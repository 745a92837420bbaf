"""The depth-camera navigation env (DiffNav-PointMass-v0): hand-computed rewards, the
Pinocchio nose, inflation, collisions, the smoothed velocity, the camera pose, noise,
differentiable rendering, gradients and pictures. The contract suite covers the rest."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diffenvs.registry import classical_controller
from diffenvs.vector_env import DiffVectorEnv
from diffenvs.worlds import ObstacleWorld

F64 = torch.float64


def nav_env(n=1, dtype=F64, **task_options):
    env = DiffVectorEnv(n, "unicycle", "nav", task_options, dtype=dtype)
    env.reset(seed=0)
    return env


def place(env, cylinders=(), pos=(0.0, 0.0), yaw=0.0, speed=0.0, command=1.0, **kw):
    """Put every env at ``pos``/``yaw`` in a hand-made world of vertical cylinders ``(x, y, r)``."""
    n = env.num_envs
    state = {k: v.detach().clone() for k, v in env.get_state().items()}
    world = ObstacleWorld.from_primitives(n, cylinders=cylinders, ground=True, dtype=env.dtype).padded(env.task.counts)
    state.update(world.to_state())
    state["pos"][:] = torch.tensor(pos, dtype=env.dtype)
    state["yaw"][:] = yaw
    state["speed"][:] = speed
    state["yaw_rate"][:] = 0.0
    state["speed_command"][:] = command
    state["vel_smooth"][:] = 0.0
    for k, v in kw.items():
        state[k][:] = v
    env.set_state(state)
    return state


def stay(env):
    return torch.zeros(env.num_envs, 2, dtype=env.dtype)


def terms(info):
    return {k[len("reward/"):]: v for k, v in info.items() if k.startswith("reward/")}


# ----------------------------------------------------------------- rewards by hand
@pytest.mark.parametrize("nose, inflation, expected_clearance", [(1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, 0.7, 0.3)])
def test_penalties_at_the_nose_or_with_inflation(nose, inflation, expected_clearance):
    """A cylinder of radius 0.3 whose axis is 1.5 m ahead: the body (radius 0.2) is 1.0 m
    clear; a nose 1 m ahead is 0.0 m clear; inflation by 0.7 m leaves 0.3 m."""
    env = nav_env(nose_length=nose, inflation=inflation)
    place(env, cylinders=[(1.5, 0.0, 0.3)])
    _, reward, terminated, _, info = env.step_differentiable(stay(env))
    cfg = env.task.cfg
    c = expected_clearance
    t = terms(info)
    torch.testing.assert_close(t["clearance"], torch.tensor([-cfg.k_clearance * max(0.0, cfg.clearance_band - c) ** 2],
                                                            dtype=F64))
    softplus = math.log1p(math.exp(-cfg.collision_sharpness * c))
    torch.testing.assert_close(t["collision"], torch.tensor([-cfg.k_collision * softplus], dtype=F64))
    # Standing still against a command of 1 m/s: smooth-L1 of the smoothed speed error.
    beta = cfg.speed_beta
    expected = 1.0 - 0.5 * beta if beta <= 1.0 else 0.5 / beta
    torch.testing.assert_close(t["speed"], torch.tensor([-cfg.k_speed * expected], dtype=F64))
    assert float(t["crash"]) == 0.0 and not terminated.any()
    torch.testing.assert_close(reward, sum(t.values()))


def test_collision_ends_the_episode_and_is_counted():
    env = nav_env(2)
    # Env 0 touches a cylinder (body clearance 0.35 - 0.3 - 0.2 < 0); env 1 is far from it.
    state = place(env, cylinders=[(0.35, 0.0, 0.3)])
    state["pos"][1] = torch.tensor([-5.0, 0.0], dtype=F64)
    env.set_state(state)
    _, reward, terminated, truncated, info = env.step_differentiable(stay(env))
    assert terminated.tolist() == [True, False] and not truncated.any()
    assert info["collision"].tolist() == [True, False]
    assert float(terms(info)["crash"][0]) == -env.task.cfg.crash_penalty
    final = info["final_info"]
    assert float(final["collision_free"][0]) == 0.0 and float(final["success"][0]) == 0.0
    assert int(env.state["step"][0]) == 0 and int(env.state["step"][1]) == 1  # env 0 restarted


def test_smoothed_velocity_and_metrics_follow_their_formulas():
    env = nav_env(nose_length=0.0)
    place(env, command=1.0)
    a = torch.tensor([[0.5, 0.25]], dtype=F64)
    robot, alpha = env.robot, env.task.cfg.velocity_smoothing
    v = w = y_v = y_w = odo = err = 0.0
    for k in range(1, 6):
        _, _, _, _, info = env.step_differentiable(a)
        v += robot.k_speed * (robot.cfg.max_speed * 0.5 - v)
        w += robot.k_yaw_rate * (robot.cfg.max_yaw_rate * 0.25 - w)
        y_v, y_w = alpha * v + (1 - alpha) * y_v, alpha * w + (1 - alpha) * y_w
        odo += env.dt * abs(v)
        err += abs(v - 1.0)
        torch.testing.assert_close(env.obs["state"], torch.tensor([[y_v, y_w, 1.0]], dtype=F64))
        torch.testing.assert_close(info["distance"], torch.tensor([odo], dtype=F64))
        torch.testing.assert_close(info["speed_error"], torch.tensor([err / k], dtype=F64))
    torch.testing.assert_close(env.state["speed"], torch.tensor([v], dtype=F64))


# ----------------------------------------------------------------------- the camera
def test_camera_pose_follows_the_robot():
    """A cylinder at bearing +30° (left) appears left of the image centre; after the robot
    turns by 30° it is straight ahead."""
    env = nav_env(nose_length=0.0)
    bearing = math.radians(30.0)
    place(env, cylinders=[(4.0 * math.cos(bearing), 4.0 * math.sin(bearing), 0.3)])
    horizon = env.task.depth(env.state)[0, 5]  # the row just above the horizon (row 6 sees the ground)
    near = horizon < env.task.cfg.max_range - 1e-6
    columns = torch.nonzero(near).flatten().double()
    cam = env.task.camera.cfg
    expected = 0.5 * cam.width - cam.focal * math.tan(bearing)  # left of centre: smaller column index
    assert abs(float(columns.mean()) + 0.5 - expected) < 1.0
    torch.testing.assert_close(horizon[near].min(), torch.tensor(3.7, dtype=F64), atol=0.02, rtol=0)
    place(env, cylinders=[(4.0 * math.cos(bearing), 4.0 * math.sin(bearing), 0.3)], yaw=bearing)
    horizon = env.task.depth(env.state)[0, 5]  # the row just above the horizon (row 6 sees the ground)
    centre = torch.nonzero(horizon < cam.max_range - 1e-6).flatten().double().mean() + 0.5
    assert abs(float(centre) - 0.5 * cam.width) < 0.6


def test_depth_noise_is_unbiased_and_a_function_of_the_state():
    env = nav_env(64, depth_noise=0.3, nose_length=0.0)
    clean = nav_env(64, nose_length=0.0)
    state = place(env, cylinders=[(3.0, 0.0, 2.5)])  # a wide cylinder: every centre pixel reads about 0.5-2 m
    clean.set_state(state)
    noisy_d, clean_d = env.task.depth(env.state), clean.task.depth(clean.state)
    diff = (noisy_d - clean_d)[:, :6, 4:12]  # rows above the horizon see the cylinder, far from clipping
    assert abs(float(diff.mean())) < 0.02 and abs(float(diff.std()) - 0.3) < 0.02
    again = {k: v.clone() for k, v in env.get_state().items()}
    obs1 = env.set_state(again)
    obs2 = env.set_state(again)
    assert torch.equal(obs1["depth"], obs2["depth"])  # same state, same image
    env.step_differentiable(stay(env))
    assert not torch.equal(env.obs["depth"], obs1["depth"])  # the next step draws new noise


@pytest.mark.parametrize("differentiable", [False, True])
def test_rendering_gradient_is_off_by_default_and_switchable(differentiable):
    env = nav_env(differentiable_depth=differentiable, nose_length=0.0)
    state = place(env, cylinders=[(2.0, 0.3, 0.5)])
    pos = state["pos"].clone().requires_grad_()
    obs = env.task.observe({**env.get_state(), "pos": pos})
    assert obs["depth"].requires_grad == differentiable
    if differentiable:
        (g,) = torch.autograd.grad(obs["depth"].sum(), pos)
        eps = 1e-6
        shifted = {**env.get_state(), "pos": pos.detach() + torch.tensor([[eps, 0.0]], dtype=F64)}
        fd = (env.task.observe(shifted)["depth"].sum() - obs["depth"].sum()) / eps
        torch.testing.assert_close(g[0, 0], fd.detach(), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------- gradients
def test_return_gradient_near_an_obstacle_matches_finite_differences():
    """Ten steps toward a cylinder, every penalty active: d return / d actions vs central differences."""
    env = nav_env(nose_length=1.0)
    start = place(env, cylinders=[(2.2, 0.4, 0.4)], speed=1.0)
    gen = torch.Generator().manual_seed(0)
    actions = (torch.rand(10, 1, 2, generator=gen, dtype=F64) * 1.2 - 0.6).requires_grad_()

    def total(a):
        env.set_state(start)
        out = 0.0
        for t in range(a.shape[0]):
            _, r, _, _, _ = env.step_differentiable(a[t])
            out = out + r.sum()
        return out

    ret = total(actions)
    assert ret.requires_grad
    (grad,) = torch.autograd.grad(ret, actions)
    eps = 1e-6
    fd = torch.zeros_like(actions)
    with torch.no_grad():
        for idx in np.ndindex(*actions.shape):
            e = torch.zeros_like(actions)
            e[idx] = eps
            fd[idx] = (total(actions + e) - total(actions - e)) / (2 * eps)
    assert float(terms(env.step_differentiable(stay(env))[4])["clearance"].abs().sum()) >= 0
    torch.testing.assert_close(grad, fd, rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------- controller, render
def test_reactive_controller_avoids_more_than_driving_straight():
    def collisions(policy):
        env = DiffVectorEnv(128, "unicycle", "nav")
        env.reset(seed=1)
        hits = 0
        with torch.no_grad():
            for _ in range(120):
                _, _, _, _, info = env.step_differentiable(policy(env))
                hits += int(info["collision"].sum())
        return hits

    ctl = None

    def reactive(env):
        nonlocal ctl
        ctl = ctl or classical_controller(env)
        return ctl(env.obs)

    def straight(env):
        return torch.stack([env.obs["state"][:, 2] / env.robot.cfg.max_speed, torch.zeros(env.num_envs)], -1)

    assert collisions(reactive) < 0.25 * collisions(straight)


def test_render_shows_obstacles_rays_and_the_depth_inset():
    env = DiffVectorEnv(2, "unicycle", "nav", render_mode="rgb_array")
    env.reset(seed=0)
    env.step(np.zeros((2, 2), np.float32))
    frames = env.render()
    assert len(frames) == 2 and frames[0].shape == (240, 320, 3) and frames[0].dtype == np.uint8
    assert not np.array_equal(frames[0], frames[1])  # different worlds
    overview = env.render_overview()
    assert overview.shape == (480, 640, 3)
    # The inset (bottom right) is greyscale: its pixels have equal channels.
    corner = frames[0][-40:-12, -100:-12].astype(int)
    assert (np.abs(corner[..., 0] - corner[..., 1]).max() == 0) and corner.std() > 5


def test_robustness_benchmark_runs_on_a_tiny_sweep_layout(tmp_path, monkeypatch):
    """benchmarks/nav_robustness.py evaluates the checkpoints of a sweep folder under noise."""
    import importlib.util
    import pathlib

    from trainers import make_trainer
    from trainers.core.networks import NetConfig

    run = tmp_path / "runs" / "base" / "shac" / "DiffNav-PointMass-v0" / "s0"
    trainer = make_trainer("shac", env_id="DiffNav-PointMass-v0", num_envs=4, horizon=8, total_steps=32,
                           eval_every=0, eval_envs=2, critic_updates=1, net=NetConfig(encoder="linear"),
                           log_dir=str(run), progress=False, tensorboard=False,
                           env_kwargs={"max_episode_steps": 10})
    trainer.learn()
    path = pathlib.Path(__file__).parents[1] / "benchmarks" / "nav_robustness.py"
    monkeypatch.syspath_prepend(str(pathlib.Path(__file__).parents[1] / "benchmarks"))  # as when run from there
    spec = importlib.util.spec_from_file_location("nav_robustness", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main([str(tmp_path), "--episodes", "4", "--sigmas", "0", "0.5", "--out", str(tmp_path / "rob")])
    assert set(result["results"]) == {"0.0", "0.5"}
    assert (tmp_path / "rob.md").read_text().count("\n| ") == 3  # header and two rows


def test_cli_films_one_env_of_a_trained_policy(tmp_path):
    from PIL import Image

    from trainers.cli import main

    log_dir = str(tmp_path / "run")
    main(["bptt", "--env", "DiffNav-PointMass-v0", "--steps", "64", "--log-dir", log_dir, "--no-progress",
          "--no-tensorboard", "--set", "num_envs=4", "--set", "horizon=8", "--set", "eval_every=0",
          "--set", "eval_envs=2", "--set", "env_kwargs={'max_episode_steps': 6}"])
    gif = tmp_path / "nav.gif"
    main(["eval", f"{log_dir}/checkpoint.pt", "--episodes", "2", "--gif", str(gif), "--gif-env", "1"])
    with Image.open(gif) as im:
        assert im.size == (320, 240) and im.n_frames >= 3  # env 1's own frame, start and every second step
