"""Cached loaders and the session's current selection, shared by every page.

Big read-only things (datasets, models, encoded splits, projections) live in `st.cache_resource`: shared across
sessions, never copied. Keys include the model's weights hash, so a retrained model invalidates them.
Session-state keys used across pages are the constants below (one place to look them up).
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from vae_core import checkpoint, data, explorer
from vae_core.errors import VAEError
from vae_core.projection import Placer, ProjectionSpec, cached_projection

log = logging.getLogger("vae_explorer")

# Session-state keys shared between pages.
DATASET = "dataset_name"          # str: the dataset picked in the sidebar
MODEL = "model_path"              # str: folder of the selected model
SPLIT = "map_split"               # "test" | "all"
SPEC = "map_spec"                 # ProjectionSpec of the Map
PICK = "map_pick"                 # int row id of the last clicked point (Map -> detail, Generate, Interpolate)
GENERATE_START = "generate_start" # {"z": [...], "label": str}: a latent handed to Generate by another page
UPLOADS = "encoded_uploads"       # list of {"name", "mu", "input"(uint8)}: kept by Encode for other pages
SELECTIONS = "lasso_selections"   # dict name -> list[int]: Map lasso/box selections kept for the session
VECTORS = "saved_vectors"         # dict name -> list[float]: named latent vectors (Interpolate)


@contextlib.contextmanager
def friendly_errors(what: str = "This step"):
    """Show a one-line message instead of a traceback; the rest of the page goes on."""
    try:
        yield
    except VAEError as err:
        st.error(str(err), icon="⚠️")
    except Exception as err:  # noqa: BLE001 - the UI must never show a traceback; the log keeps it
        log.exception("%s failed", what)
        st.error(f"{what} failed: {type(err).__name__}: {err}", icon="⚠️")


@st.cache_resource(show_spinner="Loading dataset…", max_entries=4)
def get_dataset(name: str) -> data.Dataset:
    return data.load_dataset(name)


@st.cache_resource(show_spinner="Loading model…", max_entries=8)
def _load_model(path: str, mtime: float) -> checkpoint.LoadedModel:
    loaded = checkpoint.load_checkpoint(path)
    loaded.model.eval()
    return loaded


def get_model(path: str | Path) -> checkpoint.LoadedModel:
    """The model in `path`; a newer model.safetensors (retrained, resumed) reloads it."""
    weights = Path(path) / "model.safetensors"
    mtime = weights.stat().st_mtime if weights.exists() else 0.0
    return _load_model(str(path), mtime)


@st.cache_resource(show_spinner=False, max_entries=8)
def _encoded(path: str, weights_hash: str, dataset_name: str, split: str, _progress=None) -> explorer.EncodedSplit:
    return explorer.encode_split(get_model(path), get_dataset(dataset_name), split, progress=_progress)


@st.cache_resource(show_spinner=False, max_entries=16)
def _projection(path: str, weights_hash: str, dataset_name: str, split: str, spec: ProjectionSpec,
                _progress=None) -> np.ndarray:
    encoded = _encoded(path, weights_hash, dataset_name, split)
    coords = cached_projection(get_model(path).cache_folder, f"{dataset_name}-{split}".replace(":", "_").replace("/", "_"),
                               encoded.mu, spec, progress=_progress)
    coords.setflags(write=False)
    return coords


@st.cache_resource(show_spinner=False, max_entries=16)
def _placer(path: str, weights_hash: str, dataset_name: str, split: str, spec: ProjectionSpec) -> Placer:
    return Placer(_encoded(path, weights_hash, dataset_name, split).mu,
                  _projection(path, weights_hash, dataset_name, split, spec))


@dataclass
class Current:
    """What the sidebar selected, with lazy access to the heavy cached pieces."""
    loaded: checkpoint.LoadedModel
    dataset: data.Dataset
    split: str
    spec: ProjectionSpec

    @property
    def key(self) -> tuple:
        return (str(self.loaded.path), self.loaded.weights_hash, self.dataset.name, self.split)

    def images(self) -> tuple[np.ndarray, np.ndarray]:
        return explorer.split_images(self.dataset, self.split)

    def encoded(self) -> explorer.EncodedSplit:
        return _with_progress("Encoding the dataset with the model", lambda cb: _encoded(*self.key, _progress=cb))

    def coords(self, spec: ProjectionSpec | None = None) -> np.ndarray:
        spec = spec or self.spec
        self.encoded()
        return _with_progress(f"Computing the {spec.method.upper()} map",
                              lambda cb: _projection(*self.key, spec, _progress=cb))

    def placer(self, spec: ProjectionSpec | None = None) -> Placer:
        spec = spec or self.spec
        self.coords(spec)
        return _placer(*self.key, spec)


def _with_progress(title: str, compute):
    """Run a cached computation with a progress bar that disappears when done (and is never seen on a hit)."""
    holder = st.empty()
    bar = {}

    def report(fraction: float, message: str = ""):
        if "bar" not in bar:
            bar["bar"] = holder.progress(0.0, text=title)
        bar["bar"].progress(min(max(float(fraction), 0.0), 1.0), text=f"{title}: {message}" if message else title)

    try:
        return compute(report)
    finally:
        holder.empty()


def current() -> Current | None:
    """The selected model and dataset, or None (with a message shown) when there is nothing to explore yet."""
    path = st.session_state.get(MODEL)
    if not path or not Path(path).exists():
        st.info("No model selected. Pick one in the sidebar, or train one on the **Train** page.", icon="🧭")
        return None
    with friendly_errors("Loading the model"):
        loaded = get_model(path)
        dataset_name = loaded.config.dataset or st.session_state.get(DATASET) or data.default_dataset_name()
        dataset = get_dataset(dataset_name)
        if dataset.image_shape != tuple(loaded.config.image_shape):
            raise VAEError(f"Model {Path(path).name} expects images of shape {tuple(loaded.config.image_shape)} but "
                           f"dataset {dataset_name} has {dataset.image_shape}.")
        spec = st.session_state.get(SPEC) or ProjectionSpec()
        return Current(loaded, dataset, st.session_state.get(SPLIT, "test"), spec)
    return None


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")
