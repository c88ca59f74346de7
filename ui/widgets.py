"""Small display helpers: crisp images (PNG, nearest-neighbour upscaled server-side) and thumbnail rows."""
from __future__ import annotations

import numpy as np
import streamlit as st

from vae_core.images import to_png
from vae_core.models.likelihoods import NO_SIGMA

from .text import md_escape


def nats(value: float, compact: bool = False) -> str:
    """A number of nats for display; NaN means the model's likelihood can't give it, and it says so.
    compact: no decimal from 100 up (three metrics side by side in a narrow panel must not be cut to "-43…")."""
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.0f}" if compact and abs(value) >= 100 else f"{value:.1f}"


def explain_missing(*values: float) -> None:
    """Under numbers shown as n/a: why (a Gaussian decoder without σ in its vae.json)."""
    if not all(np.isfinite(v) for v in values):
        st.caption(f"Reconstruction term and ELBO {NO_SIGMA}.")



def upscale_for(shape: tuple[int, ...], target: int) -> int:
    """Integer scale so the image's side is about `target` px (browsers blur 28×28 when they upscale)."""
    return max(1, int(round(target / max(shape[0], 1))))


def show_image(array: np.ndarray, caption: str | None = None, size: int = 224) -> None:
    st.image(to_png(array, upscale_for(array.shape, size)), caption=caption, output_format="PNG")


def thumbnails(arrays, captions: list[str] | None = None, ncols: int = 8, size: int = 84) -> None:
    """A row (or rows) of small images with captions."""
    arrays = list(arrays)
    for start in range(0, len(arrays), ncols):
        cols = st.columns(ncols)
        for offset, array in enumerate(arrays[start:start + ncols]):
            with cols[offset]:
                # The caption as its own element: as st.image's caption, a caption wider than the image stretched
                # the image to its width, so a row of equal thumbnails came out 60–100 px wide (and blurred).
                show_image(array, None, size=size)
                if captions:
                    st.caption(md_escape(captions[start + offset]))
