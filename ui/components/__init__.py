"""Browser components (st.components.v2): each keeps its JS source beside its Python wrapper, with the shared
engine (engine.js: onnxruntime-web decoding and map placement) inlined in front of it."""
from __future__ import annotations

from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENGINE_JS = HERE / "engine.js"


@cache
def component_js(path: str) -> str:
    """engine.js followed by the component's own module (its path relative to ui/components/)."""
    return ENGINE_JS.read_text(encoding="utf-8") + "\n" + (HERE / path).read_text(encoding="utf-8")


def read_asset(path: str) -> str:
    return (HERE / path).read_text(encoding="utf-8")


@cache
def renderer(name: str, stem: str):
    """The components-v2 renderer `name` from `<stem>.js` (after engine.js) and `<stem>.css`, registered once, on
    first use (registering needs a running Streamlit)."""
    import streamlit as st

    return st.components.v2.component(name, css=read_asset(f"{stem}.css"), js=component_js(f"{stem}.js"))
