"""The address bar is the view: read it once per session (before any widget), write it after every run.

What travels is declared in ui/session/items.py; how, in ui/session/item.py. Wiring: `sidebar.render()` calls
`read(page, ...)` first; app.py calls `publish()` after the page ran; a fragment that changes URL state (a slider's
z, a map pick, an endpoint) calls `publish()` at its end, since fragment runs skip app.py.
"""
from __future__ import annotations

from typing import Mapping

import streamlit as st

from vae_core import models
from vae_core.errors import VAEError

from .. import loaders
from . import item, items


def context(listed: list[models.ModelInfo], datasets: list[str]):
    installed: dict[str, models.ModelInfo] = {}
    for info in listed:
        if info.error is None:
            installed.setdefault(info.name, info)  # the models folder shadows a shipped model of the same name

    def rows(dataset: str, split: str) -> int:
        try:
            return loaders.rows_in_split(dataset, split)
        except VAEError as err:
            raise ValueError(f"cannot be checked: {err}") from None

    def classes(dataset: str) -> int:
        try:
            return loaders.n_classes(dataset)
        except VAEError as err:
            raise ValueError(f"cannot be checked: {err}") from None

    return lambda session: item.Context(installed, session, datasets, rows, classes)


def read(page: str, listed: list[models.ModelInfo], datasets: list[str]) -> None:
    """On a session's first run, put the link's view into the session; one message names every bad parameter."""
    st.session_state[item.URL_PAGE] = page
    if st.session_state.get(item.URL_READ):
        return
    st.session_state[item.URL_READ] = True
    params: Mapping[str, str] = {name: st.query_params.get(name) for name in st.query_params}
    if not params:
        return
    updates, problems = item.restore_url(params, items.ITEMS, context(listed, datasets), st.session_state, page)
    item.apply(st.session_state, updates)
    if problems:
        st.warning("Part of this link was not used (the rest opened as linked): " + "; ".join(problems) + ".",
                   icon="🔗")


def publish() -> None:
    """Write the current view to the address bar (only when it changed: each write is a message to the browser)."""
    page = st.session_state.get(item.URL_PAGE, "map")
    params = item.url_params(st.session_state, page, items.ITEMS)
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)
