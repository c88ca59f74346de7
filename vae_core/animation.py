"""A path of decoded images -> one PNG strip or an animated GIF (Pillow only, no UI).

Frames are uint8 arrays as everywhere in vae_core: (N, H, W) grey or (N, H, W, C) colour. Both outputs are
upscaled with nearest neighbour, so 28×28 digits stay crisp when a viewer enlarges them.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from .errors import VAEError
from .images import grid, to_png, upscale

MAX_FRAMES = 500          # a strip is tens of frames; more is a mistake and would build a huge GIF
MAX_SIDE = 2048           # pixels per upscaled frame side
MIN_FRAME_MS = 20         # browsers clamp shorter GIF delays (often to 100 ms): keep the speed we promise


def _frames(frames) -> np.ndarray:
    stack = np.asarray(frames)
    if stack.dtype != np.uint8:
        raise VAEError(f"frames must be uint8 images, not {stack.dtype}")
    if stack.ndim == 4 and stack.shape[3] == 1:
        stack = stack[..., 0]
    if stack.ndim not in (3, 4) or (stack.ndim == 4 and stack.shape[3] not in (3, 4)):
        raise VAEError(f"frames must be (N, H, W) or (N, H, W, 3|4), got shape {stack.shape}")
    if not 1 <= len(stack) <= MAX_FRAMES:
        raise VAEError(f"a strip needs 1 to {MAX_FRAMES} frames, got {len(stack)}")
    return stack


def _scale(scale, frame_shape) -> int:
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise VAEError(f"scale must be a whole number ≥ 1, not {scale!r}")
    if max(frame_shape[:2]) * scale > MAX_SIDE:
        raise VAEError(f"scale {scale} makes frames larger than {MAX_SIDE} px; use a smaller scale")
    return int(scale)


def gif_sequence(n: int, pingpong: bool) -> list[int]:
    """Frame order of the animation: 0..n−1, and back n−2..1 for ping-pong (2n−2 frames, no doubled ends)."""
    forward = list(range(n))
    return forward + forward[-2:0:-1] if pingpong else forward


def strip_png(frames, scale: int = 1, pad: int = 2) -> bytes:
    """All frames side by side in one row, `pad` dark pixels between them, as PNG bytes."""
    stack = _frames(frames)
    scale = _scale(scale, stack.shape[1:])
    return to_png(grid(stack, ncols=len(stack), pad=pad), scale)


def strip_gif(frames, scale: int = 1, frame_ms: int = 120, pingpong: bool = False) -> bytes:
    """An endlessly looping animated GIF of the frames, each shown `frame_ms` milliseconds.

    Grey frames are stored exactly (GIF's 256-entry palette holds every grey level); colour frames are
    quantised to 256 colours per frame. Pillow merges *identical* neighbouring frames into one longer frame,
    so a path that stands still animates the same but has fewer frames in the file.
    """
    stack = _frames(frames)
    scale = _scale(scale, stack.shape[1:])
    if isinstance(frame_ms, bool) or not isinstance(frame_ms, (int, np.integer)) or frame_ms < MIN_FRAME_MS:
        raise VAEError(f"frame duration must be a whole number of milliseconds ≥ {MIN_FRAME_MS}, not {frame_ms!r}")
    if stack.ndim == 4:
        stack = stack[..., :3]  # GIF has no alpha channel
    pictures = [Image.fromarray(np.ascontiguousarray(upscale(stack[i], scale)))
                for i in gif_sequence(len(stack), pingpong)]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=int(frame_ms),
                     loop=0, disposal=1)
    return buffer.getvalue()
