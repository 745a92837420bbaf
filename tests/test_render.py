"""The Pillow renderer: images, camera placement, trails and animation files."""

import os

import gymnasium as gym
import numpy as np
import pytest
import torch
from PIL import Image

import diffenvs
from diffenvs import DiffQuadVectorEnv
from diffenvs.render import Renderer, record_episode, save_animation

IDS = sorted(diffenvs.ENV_IDS)


def distinct_colours(img: np.ndarray) -> int:
    return len(np.unique(img.reshape(-1, 3), axis=0))


def check_image(img):
    assert isinstance(img, np.ndarray)
    assert img.shape == (480, 640, 3)
    assert img.dtype == np.uint8
    assert distinct_colours(img) > 20


@pytest.mark.parametrize("env_id", IDS)
def test_single_env_render(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    first = env.render()
    check_image(first)
    hover = env.unwrapped.vehicle.hover_action
    for _ in range(5):
        env.step(np.full(4, hover + 0.3, dtype=np.float32))
    second = env.render()
    check_image(second)
    assert not np.array_equal(first, second)
    env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_vector_env_render(env_id):
    venv = gym.make_vec(env_id, num_envs=3, render_mode="rgb_array")
    venv.reset(seed=0)
    first = venv.render()
    check_image(first)
    hover = venv.vehicle.hover_action
    for _ in range(5):
        venv.step(np.full((3, 4), hover + 0.3, dtype=np.float32))
    second = venv.render()
    check_image(second)
    assert not np.array_equal(first, second)
    venv.close()


def render_at(env, pos):
    state = env.get_state().detach().clone()
    state[0, :3] = torch.tensor(pos, dtype=state.dtype)
    env.set_state(state)
    return env.render().astype(np.int32)


def changed_near(a, b, uv, radius=12):
    u, v = (int(round(x)) for x in uv)
    window = np.abs(a - b)[max(v - radius, 0):v + radius, max(u - radius, 0):u + radius]
    return int((window.sum(-1) > 30).sum())


def test_drone_is_drawn_where_it_is():
    env = DiffQuadVectorEnv(1, "hover", render_mode="rgb_array")
    env.reset(seed=0)
    a_pos, b_pos = (-0.5, -1.5, 1.0), (2.5, 1.5, 2.0)
    img_a = render_at(env, a_pos)
    img_b = render_at(env, b_pos)
    cam = env._renderer.camera
    (uv_a, uv_b), depth = cam.project(np.array([a_pos, b_pos]))
    assert np.all(depth > 0)
    for uv in (uv_a, uv_b):
        assert 0 <= uv[0] < 640 and 0 <= uv[1] < 480, "the scene must be in view"
        assert changed_near(img_a, img_b, uv) > 40
    # Far from both drones (and their shadows) the two pictures agree.
    corner = np.abs(img_a - img_b)[400:, 560:]
    assert corner.max() == 0
    # Rendering is deterministic.
    assert np.array_equal(render_at(env, b_pos), img_b)


@pytest.mark.parametrize("task", ["hover", "tracking", "landing", "racing"])
def test_camera_frames_the_task(task):
    env = DiffQuadVectorEnv(2, task, render_mode="rgb_array")
    env.reset(seed=0)
    env.render()
    renderer = env._renderer
    points = [env.sample_initial_states(64)[:, :3].numpy()]
    points += [np.reshape(marker, (-1, 3)) for marker in renderer._statics.values()]
    assert len(points) == 2, "every task has its marker"
    uv, depth = renderer.camera.project(np.concatenate(points))
    assert np.all(depth > 0)
    assert np.all((uv >= 0) & (uv < [640, 480]))


def test_drones_far_out_of_view_do_not_break_rendering():
    env = DiffQuadVectorEnv(4, "racing", render_mode="rgb_array")
    env.reset(seed=0)
    state = env.get_state().detach().clone()
    state[:, :3] = torch.tensor([[-9.9, -9.9, 0.1], [9.9, 9.9, 9.9], [-9.9, 9.9, 5.0], [9.9, -9.9, 0.01]])
    env.set_state(state)
    check_image(env.render())


def trail_lengths(env):
    return [len(t) for t in env._renderer.trails()]


def test_trails_are_cleared_for_rows_that_reset():
    env = DiffQuadVectorEnv(3, "hover", render_mode="rgb_array", max_episode_steps=0)
    env.reset(seed=0)
    actions = torch.full((3, 4), env.vehicle.hover_action)
    for _ in range(10):
        env.step_differentiable(actions)
    assert trail_lengths(env) == [11, 11, 11]  # start + 10 steps
    env.reset(options={"reset_mask": np.array([True, False, False])})
    assert trail_lengths(env) == [1, 11, 11]
    np.testing.assert_allclose(env._renderer.trails()[0][0], env.state[0, :3].numpy())
    env.reset()
    assert trail_lengths(env) == [1, 1, 1]


def test_trails_restart_after_autoreset():
    env = DiffQuadVectorEnv(2, "hover", render_mode="rgb_array", max_episode_steps=5)
    env.reset(seed=0)
    actions = torch.full((2, 4), env.vehicle.hover_action)
    for _ in range(5):
        _, _, _, truncated, _ = env.step_differentiable(actions)
    assert truncated.all()
    # The frame of the last step still shows where the drones went ...
    assert trail_lengths(env) == [6, 6]
    start = env.state[:, :3].clone()
    assert not np.allclose(env._renderer.trails()[0][-1], start[0].numpy())
    env.step_differentiable(actions)
    # ... and the next step starts new trails from the new start positions.
    assert trail_lengths(env) == [2, 2]
    for row in range(2):
        np.testing.assert_allclose(env._renderer.trails()[row][0], start[row].numpy())
        np.testing.assert_allclose(env._renderer.trails()[row][1], env.state[row, :3].numpy(), rtol=1e-6)


def test_only_max_drones_are_recorded():
    env = DiffQuadVectorEnv(20, "tracking", render_mode="rgb_array")
    env.reset(seed=0)
    env.step_differentiable(torch.zeros(20, 4))
    assert len(env._renderer.trails()) == 16
    check_image(env.render())


def test_renderer_options():
    env = DiffQuadVectorEnv(2, "landing", render_mode="rgb_array")
    env.reset(seed=0)
    env._renderer = Renderer(width=320, height=200, max_drones=1, trail_length=3, supersample=1)
    for _ in range(5):
        env.step_differentiable(torch.zeros(2, 4))
    img = env.render()
    assert img.shape == (200, 320, 3) and img.dtype == np.uint8
    assert trail_lengths(env) == [3]


def test_render_without_render_mode_warns():
    env = gym.make("DiffQuad-Hover-v0")
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None
    venv = DiffQuadVectorEnv(2, "hover")
    venv.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert venv.render() is None


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
    env = DiffQuadVectorEnv(2, "hover", render_mode="rgb_array")
    path = record_episode(env, diffenvs.CascadedController(env), tmp_path / "hover.gif", max_steps=20, every=2)
    assert path == str(tmp_path / "hover.gif")
    with Image.open(path) as im:
        assert im.n_frames == 11  # the start and every second of 20 steps
        assert im.size == (640, 480)
    assert env._state is not None  # it reset the env itself


def test_record_episode_needs_rgb_array(tmp_path):
    env = DiffQuadVectorEnv(1, "hover")
    with pytest.raises(ValueError, match="render_mode='rgb_array'"):
        record_episode(env, diffenvs.CascadedController(env), tmp_path / "x.gif", max_steps=2)
