"""Small display helpers: crisp images (PNG, nearest-neighbour upscaled server-side) and thumbnail rows."""
from __future__ import annotations

import numpy as np
import streamlit as st

from vae_core.images import to_png
from vae_core.metrics import elbo_split
from vae_core.models.likelihoods import NO_SIGMA

from .figures import CHART_CONFIG
from .text import md_escape


def nats(value: float, compact: bool = False) -> str:
    """A number of nats for display; NaN means the model's likelihood can't give it, and it says so.
    compact: no decimal from 100 up (three metrics side by side in a narrow panel must not be cut to "-43…")."""
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.0f}" if compact and abs(value) >= 100 else f"{value:.1f}"


def split_texts(elbo: float, kl: float, compact: bool = False) -> tuple[str, str, str]:
    """ELBO, Recon and KL as shown: one estimate (metrics.elbo_split), rounded so that the shown numbers add up too
    (Recon is −ELBO − KL of the rounded values: off from its own rounding by at most one last digit).
    compact: no decimal from 1,000 up (three metrics side by side in a narrow panel must not be cut to "-43…")."""
    elbo, recon, kl = elbo_split(elbo, kl)
    if not np.isfinite(kl):
        return nats(elbo), nats(recon), nats(kl)
    digits = 0 if compact and max(abs(v) for v in (elbo, recon, kl) if np.isfinite(v)) >= 1000 else 1
    shown_kl = round(kl, digits)
    if not np.isfinite(elbo):
        return "n/a", "n/a", f"{shown_kl:.{digits}f}"
    shown_elbo = round(elbo, digits)
    return f"{shown_elbo:.{digits}f}", f"{round(-shown_elbo - shown_kl, digits):.{digits}f}", f"{shown_kl:.{digits}f}"


def split_sentence(elbo: float, kl: float, compact: bool = False, bold: bool = False) -> str:
    """"ELBO e = −(Recon r + KL k)" with split_texts' numbers (markdown bold when `bold`)."""
    e, r, k = split_texts(elbo, kl, compact)
    b = "**" if bold else ""
    return f"ELBO {b}{e}{b} = −(Recon {b}{r}{b} + KL {b}{k}{b})"


def split_helps(elbo: float, kl: float, estimator: str) -> tuple[str, str, str]:
    """The three numbers' help texts: what each is, the unrounded values, and which estimator they are."""
    exact = ", ".join(f"{name} {nats(v)}" for name, v in zip(("ELBO", "Recon", "KL"), elbo_split(elbo, kl)))
    why = f"ELBO = −(Recon + KL), nats per image ({exact}): {estimator}."
    return (f"Evidence lower bound, higher is better. {why}", f"Reconstruction term −log p(x|z). {why}",
            f"KL(q(z|x) ‖ p(z)): what encoding costs. {why}")


def elbo_metrics(elbo: float, kl: float, estimator: str, compact: bool = True) -> None:
    """The ELBO and its two parts side by side, adding up as shown; each one's help says which estimator they are
    and gives the unrounded numbers."""
    shown, helps = split_texts(elbo, kl, compact), split_helps(elbo, kl, estimator)
    for column, name, text, help_text in zip(st.columns(3), ("ELBO", "Recon", "KL"), shown, helps):
        column.metric(name, text, help=help_text)


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


def chart(figure: dict, key: str, toolbar: bool = True, **kwargs):
    """st.plotly_chart with the app's mode bar (CHART_CONFIG: nothing that talks to the network), or none at all;
    every page draws its Plotly figures through this."""
    config = CHART_CONFIG if toolbar else {**CHART_CONFIG, "displayModeBar": False}
    return st.plotly_chart(figure, key=key, config=config, **kwargs)
