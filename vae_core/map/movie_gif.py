"""The training movie as an animated GIF: per kept epoch, the aligned map with a cross at a chosen spot, beside the
picture that epoch's own decoder draws there. Pillow and numpy only (map/raster.py draws the map).

The latent at the spot is read off each epoch's map with the app's kNN rule (placement.Placer.latent_at: the
inverse-distance mean of the 8 nearest points' latents), so the picture follows what lies under the cross as training
moves the latent space, and is drawn by that epoch's decoder (models/snapshots.decode_images).
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ..animation import strip_gif
from ..images import upscale
from ..errors import VAEError
from ..models.snapshots import decode_images
from .movie import Movie
from .placement import Placer
from .raster import BACKGROUND, map_bounds, mark, raster_map

GAP = 4                 # pixels between the map and the picture
DEFAULT_SIZE = 240      # pixels per panel: a 28 x 28 picture upscaled 8x (224) fits with a margin
DEFAULT_FRAME_MS = 400  # the research's contact sheets read well at 0.4 s an epoch


def pictures_at(movie: Movie, spot) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 pictures (M, H, W[, C]), latents (M, D)): what each kept epoch's decoder draws at map point `spot`."""
    if not movie.snapshots:
        raise VAEError("this model has no readable snapshots: train it with snapshots to make a movie")
    latents = np.stack([Placer(s.mu, frame).latent_at(np.asarray(spot, dtype=np.float64)).z
                        for s, frame in zip(movie.snapshots, movie.maps)])
    pictures = np.stack([decode_images(s, z[None])[0] for s, z in zip(movie.snapshots, latents)])
    return pictures, latents


def _panel(picture: np.ndarray, size: int) -> np.ndarray:
    """The picture upscaled by a whole factor (crisp pixels), centred on a size x size RGB panel."""
    rgb = np.repeat(picture[..., None], 3, axis=2) if picture.ndim == 2 else picture[..., :3]
    scale = max(1, size // max(rgb.shape[:2]))
    big = upscale(rgb, scale)[:size, :size]
    panel = np.full((size, size, 3), BACKGROUND, dtype=np.uint8)
    top, left = (size - big.shape[0]) // 2, (size - big.shape[1]) // 2
    panel[top:top + big.shape[0], left:left + big.shape[1]] = big
    return panel


def _label(frame: np.ndarray, text: str) -> np.ndarray:
    image = Image.fromarray(frame)
    ImageDraw.Draw(image).text((6, 4), text, fill=(235, 235, 235))
    return np.asarray(image)


def movie_frames(movie: Movie, spot, labels=None, size: int = DEFAULT_SIZE) -> np.ndarray:
    """uint8 (M, size, 2 * size + GAP, 3): per epoch, [map with the spot marked | the picture there]. `labels` colours
    the points (the dataset's test labels at movie.rows); the axes are the same in every frame."""
    pictures, _ = pictures_at(movie, spot)
    bounds = map_bounds(movie.maps.reshape(-1, 2))
    frames = []
    for epoch, frame, picture in zip(movie.epochs, movie.maps, pictures):
        left = mark(raster_map(frame, labels, size, bounds), bounds, spot)
        gap = np.full((size, GAP, 3), BACKGROUND, dtype=np.uint8)
        frames.append(_label(np.concatenate([left, gap, _panel(picture, size)], axis=1), f"epoch {epoch}"))
    return np.stack(frames)


def movie_gif(movie: Movie, spot, labels=None, size: int = DEFAULT_SIZE, frame_ms: int = DEFAULT_FRAME_MS) -> bytes:
    """The movie as a looping GIF, one frame per kept epoch (animation.strip_gif: 256 colours a frame)."""
    return strip_gif(movie_frames(movie, spot, labels, size), frame_ms=frame_ms)
