"""What the sidebar and the Map selected (model, dataset, split, projection), as a `loaders.Current`; or, when
there is nothing to explore yet, None with the reason shown."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from vae_core import data, models
from vae_core.map import encodings
from vae_core.map.projection import ProjectionSpec

from .loaders import Current, dataset_for, get_model
from .page import friendly_errors
from .session.keys import DATASET, MODEL, SPEC, SPLIT


def selected_model() -> models.LoadedModel | None:
    """The model picked in the sidebar, or None (with a message shown): what a page needs before its own choices."""
    path = st.session_state.get(MODEL)
    if not path or not Path(path).exists():
        st.info("No model selected. Pick one in the sidebar, or train one on the **Train** page.", icon="🧭")
        return None
    with friendly_errors("Loading the model"):
        return get_model(path)
    return None


def current(spec: ProjectionSpec | None = None, split: str | None = None) -> Current | None:
    """The selected model and dataset (with the Map's projection and split unless given), or None (with a message
    shown) when there is nothing to explore yet. A projection still being computed is stood in for by PCA
    (`Current.requested` then names the one asked for)."""
    path = st.session_state.get(MODEL)
    if not path or not Path(path).exists():
        st.info("No model selected. Pick one in the sidebar, or train one on the **Train** page.", icon="🧭")
        return None
    with friendly_errors("Loading the model"):
        loaded = get_model(path)
        dataset = dataset_for(loaded, st.session_state.get(DATASET) or data.default_dataset_name())
        spec = spec or st.session_state.get(SPEC) or ProjectionSpec()
        # every page shows the map that is ready: a new model's UMAP is computed in the background meanwhile
        return Current(loaded, dataset, split or st.session_state.get(SPLIT) or "test", spec).with_map_now()
    return None


def current_encoded() -> tuple[Current, encodings.EncodedSplit]:
    """The selection and its encoded split, or stop the page (the reason is already shown)."""
    cur = current()
    encoded = None
    if cur is not None:
        with friendly_errors("Encoding the dataset"):
            encoded = cur.encoded()
    if encoded is None:
        st.stop()
    return cur, encoded
