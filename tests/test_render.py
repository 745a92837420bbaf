"""The Pillow renderer: per-env frames and the overview, camera placement, trails, robot
drawers, Gymnasium/skrl video conventions and animation files."""

import ast
import os
import sys
import types
from collections.abc import Sequence
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from PIL import Image

import diffenvs
from diffenvs import DiffVectorEnv
from diffenvs.render import PointDrawer, Renderer, RobotDrawer, record_episode, save_animation
from diffenvs.robots.pointmass.drawer import PointMassDrawer
from diffenvs.robots.quadrotor import CascadedController
from diffenvs.robots.quadrotor.drawer import QuadrotorDrawer

IDS = sorted(diffenvs.ENV_IDS)
QUAD_TASKS = ["hover", "tracking", "landing", "racing", "racing_velocity"]
GATE_NEXT = np.array([30, 185, 90])
GATE = np.array([235, 140, 40])


def distinct_colours(img: np.ndarray) -> int:
    return len(np.unique(img.reshape(-1, 3), axis=0))


def check_image(img, shape=(480, 640, 3)):
    assert isinstance(img, np.ndarray)
    assert img.shape == shape
    assert img.dtype == np.uint8
    assert distinct_colours(img) > 20


def check_frames(frames, n, shape=(240, 320, 3)):
    assert isinstance(frames, list) and len(frames) == n
    for f in frames:
        check_image(f, shape)


def push(space) -> np.ndarray:
    """A constant action that moves every robot (quadrotor: all rotors at 3/4 thrust)."""
    return np.full(space.shape, 0.5, dtype=np.float32)


# ----------------------------------------------------------------- every env id
@pytest.mark.parametrize("env_id", IDS)
def test_single_env_render(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    first = env.render()
    check_image(first)  # one array: the single env's own 640x480 frame
    for _ in range(5):
        env.step(push(env.action_space))
    second = env.render()
    check_image(second)
    assert not np.array_equal(first, second)
    env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_vector_env_render(env_id):
    venv = gym.make_vec(env_id, num_envs=3, render_mode="rgb_array")
    venv.reset(seed=0)
    first = venv.render()
    check_frames(first, 3)  # Gymnasium's vector convention: one frame per env
    overview = venv.render_overview()
    check_image(overview)
    assert not np.array_equal(first[0], first[1])  # each frame shows its own env
    for _ in range(5):
        venv.step(push(venv.action_space))
    second = venv.render()
    check_frames(second, 3)
    assert not np.array_equal(first[0], second[0])
    assert not np.array_equal(overview, venv.render_overview())
    assert venv.call("render")[2].shape == (240, 320, 3)  # VectorEnv.call, as skrl renders
    venv.close()


# ----------------------------------------------------------- robots and camera
def render_at(env, pos, index=None):
    """The overview (or env ``index``'s frame) with env 0 moved to ``pos``."""
    state = {k: v.detach().clone() for k, v in env.get_state().items()}
    state["pos"][0] = torch.tensor(pos, dtype=state["pos"].dtype)
    env.set_state(state)
    img = env.render_overview() if index is None else env.render()[index]
    return img.astype(np.int32)


def changed_near(a, b, uv, radius=12):
    u, v = (int(round(x)) for x in uv)
    window = np.abs(a - b)[max(v - radius, 0):v + radius, max(u - radius, 0):u + radius]
    return int((window.sum(-1) > 30).sum())


def test_drone_is_drawn_where_it_is():
    env = DiffVectorEnv(1, "quadrotor", "hover", render_mode="rgb_array")
    env.reset(seed=0)
    assert isinstance(env._get_renderer(), Renderer)
    a_pos, b_pos = (-0.5, -1.5, 1.0), (2.5, 1.5, 2.0)
    img_a = render_at(env, a_pos)
    img_b = render_at(env, b_pos)
    assert isinstance(env._renderer.drawer, QuadrotorDrawer)
    cam = env._renderer.camera
    (uv_a, uv_b), depth = cam.project(np.array([a_pos, b_pos]))
    assert np.all(depth > 0)
    for uv in (uv_a, uv_b):
        assert 0 <= uv[0] < 640 and 0 <= uv[1] < 480, "the scene must be in view"
        assert changed_near(img_a, img_b, uv) > 40
    # Far from both drones (and their shadows) the two pictures agree.
    corner = np.abs(img_a - img_b)[400:, 560:]
    assert corner.max() == 0
    # Rendering is deterministic, and the single env's frame is the same picture of it.
    assert np.array_equal(render_at(env, b_pos), img_b)
    assert np.array_equal(render_at(env, b_pos, index=0)[40:], img_b[40:])  # all but the overlay


def test_drone_size_follows_vehicle_and_scale():
    env = DiffVectorEnv(1, "quadrotor", "hover", render_mode="rgb_array")
    drawer = QuadrotorDrawer(env.robot)
    assert drawer.scale == 4.0
    assert drawer.size == pytest.approx(1.2 * 4.0 * env.robot.vehicle.arm_length)
    assert QuadrotorDrawer(env.robot, 2.0).size == pytest.approx(drawer.size / 2)


def test_pointmass_is_drawn_where_it_is():
    env = DiffVectorEnv(2, "pointmass", "reach", render_mode="rgb_array")
    env.reset(seed=0)
    a_pos, b_pos = (-1.5, -1.0), (1.2, 1.4)
    img_a = render_at(env, a_pos, index=0)
    img_b = render_at(env, b_pos, index=0)
    renderer = env._renderer
    assert isinstance(renderer.drawer, PointMassDrawer)
    cam = renderer.frame_camera(env)
    assert (cam.width, cam.height) == (320, 240)
    (uv_a, uv_b), depth = cam.project(np.array([[*a_pos, 0.0], [*b_pos, 0.0]]))
    assert np.all(depth > 0)
    for uv in (uv_a, uv_b):
        assert 0 <= uv[0] < 320 and 0 <= uv[1] < 240
        assert changed_near(img_a, img_b, uv, radius=8) > 20
    # The puck is drawn in env 0's colour at its position.
    near = img_b[int(uv_b[1]) - 2:int(uv_b[1]) + 3, int(uv_b[0]) - 2:int(uv_b[0]) + 3].reshape(-1, 3)
    assert np.abs(near - np.array([31, 119, 180])).sum(-1).min() < 60 or \
        np.abs(near - np.array([143, 187, 218])).sum(-1).min() < 60  # rim colour or light centre
    # Env 1's frame does not show env 0.
    other = env.render()[1].astype(np.int32)
    assert changed_near(img_b, other, uv_b, radius=8) > 20
    # A velocity adds an arrow.
    state = {k: v.detach().clone() for k, v in env.get_state().items()}
    state["vel"][0] = torch.tensor([2.0, 0.0])
    env.set_state(state)
    moving = env.render()[0].astype(np.int32)
    ahead, _ = cam.project(np.array([b_pos[0] + 0.6, b_pos[1], 0.0]))
    assert changed_near(moving, img_b, ahead, radius=6) > 5


def test_pointmass_overview_picture():
    env = DiffVectorEnv(4, "pointmass", "reach", render_mode="rgb_array")
    env.reset(seed=0)
    env.step_differentiable(torch.full((4, 2), 0.5))
    img = env.render_overview()
    check_image(img)
    # The target marker (red) is drawn at the origin.
    uv, _ = env._renderer.camera.project(np.zeros(3))
    u, v = (int(round(x)) for x in uv)
    patch = img[v - 6:v + 7, u - 6:u + 7].reshape(-1, 3).astype(int)
    assert np.any((patch[:, 0] > 180) & (patch[:, 1] < 120))


def test_robot_without_drawer_falls_back_to_dots():
    env = DiffVectorEnv(2, "pointmass", "reach", render_mode="rgb_array")
    env.robot.drawer = None  # an instance attribute hides the class's drawer
    env.reset(seed=0)
    check_image(env.render_overview())
    assert type(env._renderer.drawer) is PointDrawer
    assert issubclass(PointDrawer, RobotDrawer)


@pytest.mark.parametrize("robot,task", [*(("quadrotor", t) for t in QUAD_TASKS), ("pointmass", "reach")])
def test_camera_frames_the_task(robot, task):
    env = DiffVectorEnv(2, robot, task, render_mode="rgb_array")
    env.reset(seed=0)
    env.render_overview()
    renderer = env._renderer
    markers = renderer.markers
    assert len(markers) >= 1, "every task has a marker"
    points = [env.robot.position(env.sample_initial_states(64)).numpy()]
    points += [np.reshape(m.points, (-1, 3)) for m in markers]
    points = np.concatenate(points)
    for cam, (w, h) in ((renderer.camera, (640, 480)), (renderer.frame_camera(env), (320, 240))):
        uv, depth = cam.project(points)
        assert np.all(depth > 0)
        assert np.all((uv >= 0) & (uv < [w, h]))


def test_render_package_knows_no_robot():
    """diffenvs.render imports neither the env shells nor anything under diffenvs/robots."""
    folder = Path(diffenvs.__file__).parent / "render"
    assert not (folder.parent / "render.py").exists()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                name = "." * node.level + (node.module or "")
                names = [name] + [f"{name}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for n in names:
                assert not any(bad in n for bad in ("vector_env", "single_env", "robots")), f"{path.name}: {n}"


# ------------------------------------------------------------------ gates
def gate_colour_counts(img, uv, radius=10):
    u, v = (int(round(x)) for x in uv)
    patch = img[max(v - radius, 0):v + radius, max(u - radius, 0):u + radius].reshape(-1, 3).astype(int)
    green = (np.abs(patch - GATE_NEXT).sum(-1) < 60).sum()
    orange = (np.abs(patch - GATE).sum(-1) < 60).sum()
    return int(green), int(orange)


def test_next_gate_is_highlighted_per_env():
    env = DiffVectorEnv(2, "quadrotor", "racing", render_mode="rgb_array")
    env.reset(seed=0)
    state = {k: v.detach().clone() for k, v in env.get_state().items()}
    state["next_gate"] = torch.tensor([0, 2])
    state["pos"][:] = torch.tensor([0.0, 0.0, 9.5])  # keep the drones away from the gates (arena top: 10 m)
    env.set_state(state)
    frames = env.render()
    gates = next(m for m in env._renderer.markers if m.kind == "gates")
    cam = env._renderer.frame_camera(env)
    half = gates.size + 0.07
    for env_index, next_gate in ((0, 0), (1, 2)):
        for g, point in enumerate(np.reshape(gates.points, (-1, 3))):
            uv, _ = cam.project(point + np.array([0.0, 0.0, half - 0.035]))  # top bar of the gate's frame
            green, orange = gate_colour_counts(frames[env_index], uv, radius=6)
            if g == next_gate:
                assert green > 0 and green >= orange, (env_index, g)
            else:
                assert orange > 0 and green == 0, (env_index, g)
    # The overview highlights the next gate of every shown env.
    overview = env.render_overview()
    for g, point in enumerate(np.reshape(gates.points, (-1, 3))):
        uv, _ = env._renderer.camera.project(point + np.array([0.0, 0.0, half - 0.035]))
        green, orange = gate_colour_counts(overview, uv, radius=8)
        assert (green > 0) == (g in (0, 2)), g


def test_drones_far_out_of_view_do_not_break_rendering():
    env = DiffVectorEnv(4, "quadrotor", "racing", render_mode="rgb_array")
    env.reset(seed=0)
    state = {k: v.detach().clone() for k, v in env.get_state().items()}
    state["pos"] = torch.tensor([[-9.9, -9.9, 0.1], [9.9, 9.9, 9.9], [-9.9, 9.9, 5.0], [9.9, -9.9, 0.01]])
    env.set_state(state)
    check_image(env.render_overview())
    check_frames(env.render(), 4)


def test_non_finite_positions_do_not_break_rendering():
    env = DiffVectorEnv(2, "quadrotor", "hover", render_mode="rgb_array", check_inputs=False)
    env.reset(seed=0)
    env.step_differentiable(torch.full((2, 4), float("nan")))
    check_image(env.render_overview())
    check_frames(env.render(), 2)


# ------------------------------------------------------------------ trails
def trail_lengths(env):
    return [len(t) for t in env._renderer.trails()]


def test_trails_follow_positions():
    env = DiffVectorEnv(2, "pointmass", "reach", render_mode="rgb_array", max_episode_steps=0)
    env.reset(seed=0)
    seen = [env.robot.position(env.state).numpy().copy()]
    for _ in range(4):
        env.step_differentiable(torch.full((2, 2), 0.7))
        seen.append(env.robot.position(env.state).numpy().copy())
    seen = np.stack(seen, 1)  # (envs, steps, 3)
    for row, trail in enumerate(env._renderer.trails()):
        np.testing.assert_allclose(trail, seen[row], rtol=1e-6, atol=1e-7)
        assert np.all(trail[:, 2] == 0.0)  # position() puts the point mass on the ground


def test_trails_are_cleared_for_rows_that_reset():
    env = DiffVectorEnv(3, "quadrotor", "hover", render_mode="rgb_array", max_episode_steps=0)
    env.reset(seed=0)
    actions = torch.full((3, 4), env.robot.vehicle.hover_action)
    for _ in range(10):
        env.step_differentiable(actions)
    assert trail_lengths(env) == [11, 11, 11]  # start + 10 steps
    env.reset(options={"reset_mask": np.array([True, False, False])})
    assert trail_lengths(env) == [1, 11, 11]
    np.testing.assert_allclose(env._renderer.trails()[0][0], env.state["pos"][0].numpy())
    env.reset()
    assert trail_lengths(env) == [1, 1, 1]


def test_trails_restart_after_autoreset():
    env = DiffVectorEnv(2, "quadrotor", "hover", render_mode="rgb_array", max_episode_steps=5)
    env.reset(seed=0)
    actions = torch.full((2, 4), env.robot.vehicle.hover_action)
    for _ in range(5):
        _, _, _, truncated, _ = env.step_differentiable(actions)
    assert truncated.all()
    # The frame of the last step still shows where the drones went ...
    assert trail_lengths(env) == [6, 6]
    start = env.state["pos"].clone()
    assert not np.allclose(env._renderer.trails()[0][-1], start[0].numpy())
    env.step_differentiable(actions)
    # ... and the next step starts new trails from the new start positions.
    assert trail_lengths(env) == [2, 2]
    for row in range(2):
        np.testing.assert_allclose(env._renderer.trails()[row][0], start[row].numpy())
        np.testing.assert_allclose(env._renderer.trails()[row][1], env.state["pos"][row].numpy(), rtol=1e-6)


def test_overview_shows_max_envs_and_frames_cover_all():
    env = DiffVectorEnv(20, "quadrotor", "tracking", render_mode="rgb_array")
    env.reset(seed=0)
    env.step_differentiable(torch.zeros(20, 4))
    assert len(env._renderer.trails()) == 20  # every env keeps its trail for its own frame
    check_image(env.render_overview())
    frames = env.render()
    check_frames(frames, 20)
    assert not np.array_equal(frames[3], frames[19])


def test_renderer_options():
    env = DiffVectorEnv(2, "quadrotor", "landing", render_mode="rgb_array")
    env.reset(seed=0)
    env._renderer = Renderer(width=320, height=200, max_envs=1, trail_length=3, supersample=1,
                             frame_size=(160, 120), robot_scale=2.0)
    for _ in range(5):
        env.step_differentiable(torch.zeros(2, 4))
    img = env.render_overview()
    assert img.shape == (200, 320, 3) and img.dtype == np.uint8
    assert trail_lengths(env) == [3, 3]
    assert [f.shape for f in env.render()] == [(120, 160, 3)] * 2
    assert env._renderer.drawer.scale == 2.0
    with pytest.raises(ValueError, match="16x16"):
        Renderer(frame_size=(8, 8))
    with pytest.raises(ValueError, match="positive"):
        Renderer(max_envs=0)


def test_render_without_render_mode_warns():
    env = gym.make("DiffQuad-Hover-v0")
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None
    venv = DiffVectorEnv(2, "quadrotor", "hover")
    venv.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert venv.render() is None
    with pytest.warns(UserWarning, match="render_mode"):
        assert venv.render_overview() is None
    with pytest.warns(UserWarning, match="render_mode"):
        assert venv.call("render") == (None, None)


# ------------------------------------------------------- video conventions
@pytest.mark.filterwarnings("ignore:.*autoreset mode is same-step")
def test_gymnasium_record_video(tmp_path, monkeypatch):
    """``gymnasium.wrappers.vector.RecordVideo`` tiles the per-env frames of ``render()``."""
    from gymnasium.wrappers.vector import RecordVideo

    try:
        import moviepy  # noqa: F401
        have_moviepy = True
    except ImportError:  # RecordVideo only checks the import in its constructor; writing needs the real one
        have_moviepy = False
        monkeypatch.setitem(sys.modules, "moviepy", types.ModuleType("moviepy"))
    venv = gym.make_vec("DiffPointMass-Reach-v0", num_envs=4, render_mode="rgb_array")
    rec = RecordVideo(venv, str(tmp_path / "videos"), episode_trigger=lambda episode: episode == 0)
    rec.reset(seed=0)
    for _ in range(4):
        rec.step(np.full((4, 2), 0.5, dtype=np.float32))
    assert len(rec.recorded_frames) == 5  # the reset and 4 steps
    for frame in rec.recorded_frames:
        assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8  # 2 x 2 frames of 320 x 240
    assert not np.array_equal(rec.recorded_frames[0], rec.recorded_frames[-1])
    if have_moviepy:
        rec.close()
        videos = list((tmp_path / "videos").glob("*.mp4"))
        assert len(videos) == 1 and videos[0].stat().st_size > 0
    else:
        rec.recording, rec.recorded_frames = False, []  # nothing to write without moviepy
        rec.close()


def test_skrl_wrap_env_renders():
    pytest.importorskip("skrl")
    from skrl.envs.wrappers.torch import wrap_env

    env = wrap_env(gym.make_vec("DiffQuad-Racing-v0", num_envs=3, render_mode="rgb_array"), verbose=False)
    assert env.num_envs == 3 and env.observation_space.shape == (env.unwrapped.single_observation_space.shape)
    obs, _ = env.reset()
    assert obs.shape[0] == 3
    obs, reward, terminated, truncated, _ = env.step(torch.zeros(3, 4))
    assert obs.shape[0] == 3 and reward.shape == (3, 1) and terminated.shape == (3, 1)
    frames = env.render()  # skrl renders vector envs with env.call("render")
    assert isinstance(frames, Sequence) and len(frames) == 3
    for f in frames:
        check_image(f, (240, 320, 3))
    env.close()


def test_sb3_get_images_are_the_per_env_frames():
    pytest.importorskip("stable_baselines3")
    from diffenvs.wrappers.sb3 import make_sb3_env

    venv = make_sb3_env("DiffPointMass-Reach-v0", num_envs=4, seed=0, render_mode="rgb_array")
    venv.reset()
    images = venv.get_images()
    check_frames(images, 4)
    assert venv.render().shape == (480, 640, 3)  # SB3 tiles the 4 frames 2 x 2
    venv.close()


# --------------------------------------------------------------- animations
def frames(n=4):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(n)]


def test_save_animation_gif(tmp_path):
    path = tmp_path / "anim.gif"
    out = save_animation(frames(5), path, fps=20)
    assert out == str(path)
    with Image.open(path) as im:
        assert im.format == "GIF"
        assert im.n_frames == 5
        assert im.size == (64, 48)
        assert im.info.get("loop") == 0
    assert os.listdir(tmp_path) == ["anim.gif"]  # no temporary file left behind


def test_save_animation_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"\.gif or \.mp4"):
        save_animation(frames(), tmp_path / "anim.avi")
    with pytest.raises(ValueError, match="no frames"):
        save_animation([], tmp_path / "anim.gif")
    with pytest.raises(ValueError, match="uint8"):
        save_animation([np.zeros((4, 4, 3), dtype=np.float32)], tmp_path / "anim.gif")
    assert os.listdir(tmp_path) == []


def test_save_animation_mp4(tmp_path):
    try:
        import imageio  # noqa: F401
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"imageio\[ffmpeg\]"):
            save_animation(frames(), tmp_path / "anim.mp4")
        assert os.listdir(tmp_path) == []
    else:
        path = save_animation(frames(), tmp_path / "anim.mp4")
        assert os.path.getsize(path) > 0


def test_record_episode(tmp_path):
    env = DiffVectorEnv(2, "quadrotor", "hover", render_mode="rgb_array")
    path = record_episode(env, CascadedController(env), tmp_path / "hover.gif", max_steps=20, every=2)
    assert path == str(tmp_path / "hover.gif")
    with Image.open(path) as im:
        assert im.n_frames == 11  # the start and every second of 20 steps
        assert im.size == (640, 480)  # the overview
    assert env._state is not None  # it reset the env itself
    assert os.listdir(tmp_path) == ["hover.gif"]


def test_record_episode_of_one_env_of_a_batch(tmp_path):
    from diffenvs.registry import classical_controller

    env = DiffVectorEnv(3, "unicycle", "nav", render_mode="rgb_array")
    path = record_episode(env, classical_controller(env), tmp_path / "nav.gif", max_steps=4, every=2, env_index=1)
    with Image.open(path) as im:
        assert im.n_frames == 3 and im.size == (320, 240)  # env 1's own frame
    with pytest.raises(IndexError, match="env_index 3 out of range"):
        record_episode(env, classical_controller(env), tmp_path / "x.gif", max_steps=1, env_index=3)


def test_record_episode_of_a_single_pointmass_env(tmp_path):
    from diffenvs.robots.pointmass.controller import PDController

    env = gym.make("DiffPointMass-Reach-v0", render_mode="rgb_array")
    path = record_episode(env, PDController(env), tmp_path / "reach.gif", max_steps=6, every=3)
    with Image.open(path) as im:
        assert im.n_frames == 3 and im.size == (640, 480)
    path = record_episode(env, PDController(env), tmp_path / "small.gif", max_steps=2, every=1, size=(160, 120))
    with Image.open(path) as im:
        assert im.n_frames == 3 and im.size == (160, 120)
    with pytest.raises(ValueError, match="size must be"):
        record_episode(env, PDController(env), tmp_path / "x.gif", max_steps=1, size=(0, 10))


def test_record_episode_steps_through_a_residual_wrapper(tmp_path):
    """A residual policy acts on the wrapper's observation (with the anchor's action) and its
    action is added to the anchor's: with a zero residual the robots move as the anchor moves them."""
    from diffenvs.registry import classical_controller
    from diffenvs.wrappers.residual import ResidualEnv

    def run(residual: bool):
        env = gym.make_vec("DiffPointMass-Reach-v0", num_envs=2, render_mode="rgb_array")
        anchor = classical_controller(env)
        if residual:
            env = ResidualEnv(env, anchor)
            seen = []

            def policy(obs):
                seen.append(obs.shape[-1])
                return torch.zeros(obs.shape[0], 2)
        else:
            policy = anchor
        env.reset(seed=4)
        record_episode(env, policy, tmp_path / f"r{residual}.gif", max_steps=6, every=3)
        if residual:
            assert set(seen) == {4 + 2}  # the observation and the anchor's action
        return env.unwrapped.get_state()["pos"]

    torch.testing.assert_close(run(True), run(False))


def test_record_episode_needs_rgb_array(tmp_path):
    env = DiffVectorEnv(1, "quadrotor", "hover")
    with pytest.raises(ValueError, match="render_mode='rgb_array'"):
        record_episode(env, CascadedController(env), tmp_path / "x.gif", max_steps=2)
    with pytest.raises(TypeError, match="diffenvs env"):
        record_episode(gym.make("CartPole-v1", render_mode="rgb_array"), lambda obs: obs, tmp_path / "x.gif")
