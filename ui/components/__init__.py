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
