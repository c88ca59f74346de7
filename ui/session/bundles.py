"""View bundles in the sidebar: save the current view as JSON, reopen one from a file or from `?view=<name>`.

This module knows no page's internals: each page declares its part of a bundle in ui/session/items.py, and
saving asks every declaration for its part, restoring hands each its part back. Reopening is all-or-nothing:
`restore_updates` computes and checks every new session value first (a VAEError names the problem), and only
then are they written, so a bad file changes nothing.

Wiring (ui/sidebar.py): call `load_view_from_url()` at the start of `render()`, before the dataset and model
selectboxes exist (it may set them), and `render_view_bundle(page)` inside `with st.sidebar:`.
"""
from __future__ import annotations

import re
from collections import ChainMap
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from vae_core import models, paths
from vae_core.bundle import (MAX_BYTES, ViewBundle, bundle_from_json, bundle_to_json, check_bundle_model,
                             check_bundle_rows)
from vae_core.errors import VAEError
from vae_core.files import atomic_write

from .. import loaders
from ..page import log
from ..text import md_code, md_escape
from . import item, items, keys

MESSAGE = "view_bundle_message"                   # (level, text) shown in the expander after a load
URL_LOADED = "view_bundle_from_url"               # the ?view= name already opened in this session
UPLOADER = "view_bundle_upload"
PAGE_FILES = items.PAGES
VIEW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}")


class _Session:
    """st.session_state, or the SafeSessionState a deferred download holds (which has no .get), as a mapping."""
    def __init__(self, session):
        self._session = session

    def __contains__(self, key) -> bool:
        return key in self._session

    def __getitem__(self, key):
        return self._session[key]

    def get(self, key, default=None):
        return self._session[key] if key in self._session else default  # noqa: SIM401 - it has no .get


# --- the current view -> bundle --------------------------------------------------------------------
def view_bundle(session: Mapping, page: str = "map") -> ViewBundle:
    """The view in `session` as a bundle: the model, then each page's declared part (ui/session/items.py)."""
    session = _Session(session)
    model_path = session.get(keys.MODEL)
    if not model_path or not Path(model_path).is_dir():
        raise VAEError("no model is selected, so there is no view to save")
    dim = models.read_config(model_path).latent_dim  # the folder's own description: no model load
    parts = item.bundle_parts(session, dim, items.ITEMS)
    return ViewBundle(model_id=Path(model_path).name, weights_hash=models.weights_hash(model_path),
                      dataset=str(session.get(keys.DATASET) or ""), page=page if page in PAGE_FILES else "map",
                      **parts)


# --- bundle -> session values ----------------------------------------------------------------------
def _bundle_split(bundle: ViewBundle, current_split: str) -> str:
    """Bundles carry the split inside dataset endpoints (the Map pick first); without any, keep the current."""
    ordered = sorted(bundle.endpoints.items(), key=lambda entry: entry[0] != keys.BUNDLE_PICK)
    for _, endpoint in ordered:
        if endpoint["kind"] == "dataset" and "split" in endpoint:
            return endpoint["split"]
    return current_split if current_split in keys.SPLIT_LABELS else "test"


def restore_updates(bundle: ViewBundle, installed_models: list[models.ModelInfo],
                    rows_in_split: Callable[[str, str], int], session: Mapping) -> tuple[dict[str, Any], list[str]]:
    """Every session value the bundle sets, checked against the installed models and the dataset's size.

    The bundle's identity (model, weights, dataset, split, rows) is checked here; then each declared item takes
    its part. Raises VAEError (naming the problem) before anything is changed. Returns (updates, notes); an
    update of None removes that key (a widget then shows the restored value): apply with item.apply.
    """
    session = _Session(session)
    installed: dict[str, models.ModelInfo] = {}
    for info in installed_models:
        if info.error is None:
            installed.setdefault(info.name, info)  # the models folder shadows a shipped model of the same name
    # Only the bundle's own model needs its weights hashed; the others are listed by name in the error.
    check_bundle_model(bundle, {name: models.weights_hash(info.path) if name == bundle.model_id else ""
                                for name, info in installed.items()})
    info = installed[bundle.model_id]
    if info.dataset and info.dataset != bundle.dataset:
        raise VAEError(f"view bundle says dataset '{bundle.dataset}' but model '{info.name}' was trained on "
                       f"'{info.dataset}'")
    split = _bundle_split(bundle, session.get(keys.SPLIT) or "test")
    if split not in keys.SPLIT_LABELS:
        raise VAEError(f"view bundle uses the '{split}' split; the map shows {' or '.join(keys.SPLIT_LABELS)}")
    notes = []
    endpoints = {}
    for name, endpoint in bundle.endpoints.items():
        if endpoint["kind"] == "dataset" and endpoint.get("split", split) != split:
            notes.append(f"endpoint '{name}' refers to the {endpoint['split']} split and was left out")
        else:
            endpoints[name] = endpoint
    for name, vector in bundle.vectors.items():
        if len(vector) != info.latent_dim:
            raise VAEError(f"view bundle field 'vectors['{name}']' has {len(vector)} numbers but model "
                           f"'{info.name}' has {info.latent_dim} latent dimensions")
    bundle = replace(bundle, endpoints=endpoints)
    check_bundle_rows(bundle, rows_in_split(bundle.dataset, split))
    updates: dict[str, Any] = {keys.DATASET: bundle.dataset, keys.MODEL: str(info.path), keys.SPLIT: split,
                               keys.MAP_SPLIT_WIDGET: None}
    ctx_of = lambda s: item.Context(installed, s, [bundle.dataset], rows_in_split,  # noqa: E731
                                          lambda dataset: 0)
    try:
        updates.update(item.restore_bundle(bundle, items.ITEMS, ctx_of, ChainMap(updates, session)))
    except (TypeError, ValueError) as err:
        raise VAEError(f"view bundle cannot be opened: {err}") from None
    return updates, notes


def apply_bundle(bundle: ViewBundle) -> str:
    """Reopen a view in this session (all or nothing); returns a one-line summary. Raises VAEError."""
    updates, notes = restore_updates(bundle, models.list_models(), loaders.rows_in_split, st.session_state)
    item.apply(st.session_state, updates)
    parts = [f"model {bundle.model_id}", f"{len(bundle.selections)} selections", f"{len(bundle.vectors)} vectors"]
    return "Opened the view: " + ", ".join(parts) + "." + ("".join(f" Note: {n}." for n in notes))


# --- files -----------------------------------------------------------------------------------------
def view_path(name: str) -> Path:
    """`<models_dir>/<name>.json` for a plain name; anything that could leave the folder is refused."""
    name = name.strip()
    stem = name[:-5] if name.lower().endswith(".json") else name
    if not VIEW_NAME.fullmatch(stem) or ".." in stem or "/" in name or "\\" in name:
        raise VAEError(f"'{name[:60]}' is not a view name: use letters, digits, spaces, '-', '_' or '.', "
                       "without folders")
    return paths.models_dir() / f"{stem}.json"


def read_view_file(name: str) -> ViewBundle:
    path = view_path(name)
    if not path.is_file():
        raise VAEError(f"there is no saved view '{path.stem}' ({path.name} is not in {path.parent})")
    if path.stat().st_size > MAX_BYTES:
        raise VAEError(f"{path.name} is larger than {MAX_BYTES // 2**20} MB: not a view file")
    return bundle_from_json(path.read_bytes())


def save_view_file(name: str, text: str) -> Path:
    """Write a view into the models folder under a new name (never overwrites), atomically."""
    path = view_path(name)
    if path.exists():
        raise VAEError(f"a view named '{path.stem}' already exists; choose another name")
    try:
        return atomic_write(path, text.encode("utf-8"), replace=False)  # never replaces someone's file
    except FileExistsError:  # the name appeared meanwhile
        raise VAEError(f"a view named '{path.stem}' already exists; choose another name") from None
    except OSError as err:
        raise VAEError(f"the view cannot be saved in {path.parent} ({err.strerror or err})") from None


# --- Streamlit --------------------------------------------------------------------------------------
def load_view_from_url() -> None:
    """`?view=<name>` opens `<models_dir>/<name>.json` once per session, then switches to the view's page."""
    name = st.query_params.get("view")
    if not name or st.session_state.get(URL_LOADED) == name:
        return
    st.session_state[URL_LOADED] = name  # once: a bad link shows its error, then gets out of the way
    try:
        bundle = read_view_file(name)
        summary = apply_bundle(bundle)
    except VAEError as err:
        st.session_state[MESSAGE] = ("error", f"The view '{name[:60]}' was not opened: {err}")
        st.error(md_escape(st.session_state[MESSAGE][1]), icon="⚠️")
        return
    st.session_state[MESSAGE] = ("success", summary)
    st.switch_page(PAGE_FILES[bundle.page] if bundle.page in PAGE_FILES else PAGE_FILES["map"])


def _on_upload() -> None:
    """Uploader callback: runs before the script, so it may set the sidebar's own widgets."""
    upload = st.session_state.get(UPLOADER)
    if upload is None:
        return
    try:
        summary = apply_bundle(bundle_from_json(upload.getvalue()))
        st.session_state[MESSAGE] = ("success", summary)
    except VAEError as err:
        st.session_state[MESSAGE] = ("error", f"{upload.name} was not opened: {err}")
    except Exception as err:  # noqa: BLE001 - never a traceback in the UI; the log keeps it
        log.exception("opening a view file failed")
        st.session_state[MESSAGE] = ("error", f"{upload.name} was not opened: {type(err).__name__}: {err}")


def _bundle_json_later(page: str) -> Callable[[], str]:
    """The download's data, built when clicked from the session as it is then (fragments may have moved on)."""
    ctx = get_script_run_ctx()
    session = ctx.session_state if ctx is not None else dict(st.session_state)
    return lambda: bundle_to_json(view_bundle(session, page))


def render_view_bundle(page: str = "map") -> None:
    """The sidebar's "View bundle" expander: download this view, open a view file, save it for `?view=`."""
    level, text = st.session_state.pop(MESSAGE, None) or (None, None)  # shown once
    with st.expander("View bundle", icon="🔖", expanded=level is not None):
        if level == "error":
            st.error(md_escape(text), icon="⚠️")
        elif level == "success":
            st.success(md_escape(text), icon="🔖")
        model_path = st.session_state.get(keys.MODEL)
        if model_path and Path(model_path).is_dir():
            st.download_button("Download this view", data=_bundle_json_later(page),
                               file_name=f"{Path(model_path).name}-view.json", mime="application/json",
                               on_click="ignore", icon="⬇️", key="view_bundle_download",
                               help="Model, map settings, kept selections, endpoints, saved vectors and the Generate "
                                    "sliders, as JSON")
        st.file_uploader("Open a view file", type=["json"], key=UPLOADER, on_change=_on_upload,
                         max_upload_size=max(1, MAX_BYTES // 2**20))
        if model_path and Path(model_path).is_dir():
            name = st.text_input("Save in the models folder as", key="view_bundle_name", max_chars=100,
                                 placeholder="my-view", help="Then open it with the link ?view=<name>")
            if st.button("Save view", key="view_bundle_save", disabled=not name.strip()):
                try:
                    path = save_view_file(name, bundle_to_json(view_bundle(st.session_state, page)))
                    st.success(f"Saved. Open it later with {md_code(f'?view={path.stem}')}", icon="💾")
                except VAEError as err:
                    st.error(md_escape(err), icon="⚠️")
