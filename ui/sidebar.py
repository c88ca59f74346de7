"""The sidebar every page shares: dataset, model, and the model's headline metrics."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from vae_core import data, models
from vae_core.metrics import dataset_estimator
from vae_core.paths import PRETRAINED_DIR

from . import measuring
from .session import bundles, keys, url
from .text import md_escape
from .widgets import split_helps, split_texts


@st.cache_data(ttl=5, show_spinner=False)
def sources() -> list[data.SourceStatus]:
    """Where each dataset is found (or how to get it), re-checked at most every 5 s."""
    return data.list_sources()


def list_models() -> list[models.ModelInfo]:
    return [m for m in models.list_models() if m.error is None]


def default_model_path(listed: list[models.ModelInfo], dataset_name: str) -> str | None:
    """Prefer a shipped model of the dataset, then the newest trained one."""
    for info in sorted(listed, key=lambda m: (not m.read_only, -m.modified)):
        if info.dataset == dataset_name:
            return str(info.path)
    return None


def _model_label(info: models.ModelInfo) -> str:
    """What the model picker shows: only what never changes while it is listed. A selectbox finds the chosen option
    by its text, so a label that moved on (an epoch count mid-training, an ELBO once measured, "measuring 40 %")
    lost the user's choice on the next run; the numbers are shown below the picker instead."""
    tag = " · shipped" if info.read_only else ""
    return f"{info.name} (z={info.latent_dim} · {info.kind_label}{tag})"


def render(page: str = "map") -> None:
    found = sources()
    available = [s.name for s in found if s.available]
    listed = list_models()
    measuring.measure_unmeasured(listed)  # folders dropped in by hand: their numbers, once, in the background
    model_datasets = sorted({m.dataset for m in listed if m.dataset})
    choices = list(dict.fromkeys(available + model_datasets))
    url.read(page, listed, choices)   # first: a link may set the dataset and model below
    bundles.load_view_from_url()  # then a ?view= bundle, which sets them too
    if keys.DATASET not in st.session_state or st.session_state[keys.DATASET] not in choices:
        st.session_state[keys.DATASET] = data.default_dataset_name() if data.default_dataset_name() in choices else (
            choices[0] if choices else "digits")

    with st.sidebar:
        st.markdown("### 🧭 VAE latent explorer")
        missing = [s for s in found if not s.available]
        missing_help = "Missing sources: " + "; ".join(f"{s.name}: {s.how_to_get}" for s in missing)
        st.selectbox("Dataset", choices, key=keys.DATASET, help=missing_help if missing else None)
        dataset_name = st.session_state[keys.DATASET]
        of_dataset = [m for m in listed if m.dataset == dataset_name]
        paths = [str(m.path) for m in of_dataset]
        if st.session_state.get(keys.MODEL) not in paths:
            st.session_state[keys.MODEL] = default_model_path(listed, dataset_name)
        if not of_dataset:
            st.warning(f"No model for **{md_escape(dataset_name)}** yet: train one on the Train page.", icon="🏋️")
            return
        labels = {str(m.path): _model_label(m) for m in of_dataset}
        st.selectbox("Model", paths, key=keys.MODEL, format_func=lambda p: labels.get(p, Path(p).name))
        info = next(m for m in of_dataset if str(m.path) == st.session_state[keys.MODEL])
        _headline(info)
        measuring.progress_panel(info.path, "sidebar")
        bundles.render_view_bundle(page)


def _headline(info: models.ModelInfo) -> None:
    m = info.metrics
    cols = st.columns(2)
    number = lambda key: isinstance(m.get(key), (int, float))  # noqa: E731 - mid-training metrics hold None
    split = number("elbo") and number("kl")  # one estimate's three numbers, adding up as shown (their help says which)
    if split:
        shown = split_texts(m["elbo"], m["kl"])
        helps = split_helps(m["elbo"], m["kl"], dataset_estimator(int(m.get("n_images") or 0)))
        cols[0].metric("Test ELBO", shown[0], help=helps[0])
    elif number("elbo"):
        cols[0].metric("Test ELBO", f"{m['elbo']:.1f}", help="nats per image (higher is better)")
    if number("nll"):
        cols[1].metric("NLL (IWAE)", f"{m['nll']:.1f}", help=f"importance-weighted bound, k={m.get('iwae_k')}")
    elif number("iwae_bound"):
        cols[1].metric("IWAE bound", f"{m['iwae_bound']:.1f}",
                       help=f"log-likelihood bound (k={m.get('iwae_k')}) on grey-level pixels: not a paper NLL")
    if split:
        cols = st.columns(2)
        cols[0].metric("Recon", shown[1], help=helps[1])
        cols[1].metric("KL", shown[2], help=helps[2])
    if not info.trainable:
        st.caption(f"📦 An **{md_escape(info.kind_label)}** model trained elsewhere: explore it on every page; "
                   "it cannot be trained further here."
                   + (f" Active units: **{m['active_units']} / {info.latent_dim}**" if "active_units" in m else ""))
    elif "active_units" in m:
        st.caption(f"Active units: **{m['active_units']} / {info.latent_dim}** · trained {info.epochs} epochs"
                   + (" · shipped with the app" if Path(info.path).is_relative_to(PRETRAINED_DIR) else ""))
