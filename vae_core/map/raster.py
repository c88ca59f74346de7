"""A map drawn as a small RGB picture in numpy (no plotting library): for pictures made without a browser, such as the
training movie's GIF. The same drawing as the latent pad's mini map (ui/figures.raster_map), which vae_core may not
import: points as 2 x 2 squares in the class palette, dimmed, and a cross marking one spot.
"""
from __future__ import annotations

import numpy as np

# Okabe-Ito + Tableau, as the app's maps (ui/figures.PALETTE): colour-blind friendly for up to 10 classes.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
BACKGROUND = 24
GREY = (150, 150, 150)  # points without labels


def map_bounds(coords: np.ndarray, margin: float = 0.08) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1): the points' extent plus `margin` of it on every side."""
    lo, hi = coords[:, :2].min(axis=0), coords[:, :2].max(axis=0)
    pad = np.maximum((hi - lo) * margin, 1e-6)
    return float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])


def _pixels(xy: np.ndarray, bounds: tuple, size: int) -> tuple[np.ndarray, np.ndarray]:
    x0, x1, y0, y1 = bounds
    px = np.clip(((xy[:, 0] - x0) / (x1 - x0) * (size - 2)).astype(int), 0, size - 2)
    py = np.clip(((y1 - xy[:, 1]) / (y1 - y0) * (size - 2)).astype(int), 0, size - 2)
    return px, py


def raster_map(coords: np.ndarray, labels: np.ndarray | None = None, size: int = 300,
               bounds: tuple | None = None) -> np.ndarray:
    """The map as a uint8 (size, size, 3) picture. `bounds` (map_bounds of all frames) keeps a movie's axes still;
    labels None draws every point grey."""
    coords = np.asarray(coords, dtype=np.float64)
    bounds = bounds or map_bounds(coords)
    image = np.full((size, size, 3), BACKGROUND, dtype=np.uint8)
    px, py = _pixels(coords, bounds, size)
    if labels is None:
        colors = np.broadcast_to(np.array(GREY, np.uint8), (len(coords), 3))
    else:
        palette = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in PALETTE], dtype=np.uint8)
        colors = palette[np.asarray(labels) % len(palette)] // 4 * 3  # dimmed: the marker is what matters
    for dy in (0, 1):
        for dx in (0, 1):
            image[py + dy, px + dx] = colors
    return image


def mark(image: np.ndarray, bounds: tuple, xy, radius: int = 8) -> np.ndarray:
    """A copy of a raster map with a white cross (black outline) at map point `xy`, clipped to the picture."""
    size = image.shape[0]
    cx, cy = (int(v[0]) for v in _pixels(np.array([xy], dtype=np.float64), bounds, size))
    marked = image.copy()
    for width, color in ((3, 0), (1, 255)):
        marked[max(cy - radius, 0):cy + radius + 1, max(cx - width, 0):cx + width + 1] = color
        marked[max(cy - width, 0):cy + width + 1, max(cx - radius, 0):cx + radius + 1] = color
    return marked
