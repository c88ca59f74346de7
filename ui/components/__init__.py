"""Browser components (st.components.v2): each keeps its JS source, an ES module, beside its Python wrapper.

Design note: the modules are served as they are, not bundled. `make assets` copies ui/components/**/*.mjs to
static/components/<version>/ (modules.py); each component registers a few-line loader that imports its entry module
by absolute URL (Streamlit runs a component's JS as a blob module, where relative imports do not resolve), and the
entry imports engine.mjs and its other parts by relative paths. We chose this over an esbuild bundle because a
module imported by URL is one instance per page: the engine's state (the onnxruntime runtime, one InferenceSession
per decoder URL, parsed placement tables) is shared by the map, the pad and the scrubber, and survives reruns and
page switches, with no window global. Per-component bundles would each carry their own copy of the engine (a second
0.9 s session for the same decoder after a page switch). It also means no build tool to pin, and the page runs the
very files the tests import (node and Chromium alike).

`renderer(name, stem)` registers one component: its loader and `<stem>.css`, once per process.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

from . import modules

HERE = Path(__file__).resolve().parent


def read_asset(path: str) -> str:
    return (HERE / path).read_text(encoding="utf-8")


@cache
def renderer(name: str, stem: str, isolate_styles: bool = True, css_also: tuple[str, ...] = ()):
    """The components-v2 renderer `name`: module `<stem>.mjs`, style `<stem>.css` if there is one (paths under
    ui/components/), registered once, on first use (registering needs a running Streamlit). `css_also`: the styles of
    the components this one builds on (Compare's two maps are the Map's), before its own."""
    import streamlit as st

    modules.install()  # normally done by `make assets`; a checkout that skipped it still gets this version's files
    styles = [read_asset(path) for path in (*css_also, f"{stem}.css") if (HERE / path).is_file()]
    css = "\n".join(styles) or None
    return st.components.v2.component(name, css=css, js=modules.loader(f"{stem}.mjs"), isolate_styles=isolate_styles)
