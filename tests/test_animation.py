"""Strip PNG and animated GIF: frame counts, real multi-frame GIFs, exact pixels after reopening."""
import io

import numpy as np
import pytest
from PIL import Image, ImageSequence

from vae_core.animation import gif_sequence, strip_gif, strip_png, upscale
from vae_core.errors import VAEError


def distinct_frames(n: int, size: int = 12, colour: bool = False) -> np.ndarray:
    """n grey (or RGB) frames that all differ, with some structure inside each."""
    rng = np.random.default_rng(n)
    frames = rng.integers(0, 256, size=(n, size, size) + ((3,) if colour else ()), dtype=np.uint8)
    frames[:, 0, 0] = (np.arange(n, dtype=np.uint8) * 7).reshape((n,) + (1,) * (frames.ndim - 3))  # neighbours differ
    return frames


def reopen(gif: bytes) -> tuple[Image.Image, list[np.ndarray]]:
    image = Image.open(io.BytesIO(gif))
    assert image.format == "GIF"
    frames = [np.asarray(frame.convert("L")) for frame in ImageSequence.Iterator(image)]
    return image, frames


@pytest.mark.parametrize("n", [2, 5, 20])
def test_gif_has_one_frame_per_step_with_exact_upscaled_pixels(n):
    frames = distinct_frames(n)
    image, decoded = reopen(strip_gif(frames, scale=3, frame_ms=80))
    assert image.n_frames == n and image.is_animated
    assert image.info["loop"] == 0 and image.info["duration"] == 80
    for got, want in zip(decoded, frames):
        assert got.shape == (36, 36)
        np.testing.assert_array_equal(got, upscale(want, 3))


@pytest.mark.parametrize("n", [2, 3, 10])
def test_pingpong_goes_back_without_doubling_the_ends(n):
    frames = distinct_frames(n)
    image, decoded = reopen(strip_gif(frames, scale=1, frame_ms=50, pingpong=True))
    assert image.n_frames == 2 * n - 2
    order = gif_sequence(n, pingpong=True)
    assert order[:n] == list(range(n)) and order[n:] == list(range(n - 2, 0, -1))
    for got, index in zip(decoded, order):
        np.testing.assert_array_equal(got, frames[index])


def test_colour_frames_make_an_animated_gif_close_to_the_input():
    frames = distinct_frames(4, colour=True)
    image = Image.open(io.BytesIO(strip_gif(frames, scale=2)))
    assert image.n_frames == 4
    image.seek(2)
    rgb = np.asarray(image.convert("RGB")).astype(int)
    assert rgb.shape == (24, 24, 3)
    assert np.abs(rgb - upscale(frames[2], 2)).mean() < 40  # quantised to 256 colours, not exact


def test_strip_png_lays_frames_in_one_row():
    frames = distinct_frames(7, size=28)
    png = strip_png(frames, scale=2, pad=2)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == ((7 * (28 + 2) + 2) * 2, (28 + 4) * 2)
    pixels = np.asarray(image)
    # frame 3 starts after pad + 3·(28 + pad) pixels, times the scale
    left = (2 + 3 * 30) * 2
    np.testing.assert_array_equal(pixels[4:4 + 56, left:left + 56], upscale(frames[3], 2))


@pytest.mark.parametrize("bad", [
    dict(frames=np.zeros((0, 8, 8), np.uint8)),
    dict(frames=np.zeros((3, 8, 8), np.float32)),
    dict(frames=np.zeros((3, 8), np.uint8)),
    dict(frames=np.zeros((3, 8, 8), np.uint8), scale=0),
    dict(frames=np.zeros((3, 8, 8), np.uint8), scale=1000),
    dict(frames=np.zeros((3, 8, 8), np.uint8), frame_ms=0),
])
def test_bad_input_is_a_clear_error(bad):
    with pytest.raises(VAEError):
        strip_gif(**bad)
