"""The Compare component: two maps side by side (map/map.mjs's controller, twice), linked in the page (compare.mjs).

Python's side: each map's points file, bounds and lens as the Map sends them (ui/compare_data.py builds them), the
shared colour, and the detail panel's focus per side; back comes the last click or selection, with the side it was
made on, as the component state "event". AppTest cannot run the JavaScript: tests set
`session_state[key] = {"event": {...}}`, exactly what the page would have sent.
"""
from __future__ import annotations

import streamlit as st

from ui.components import map as map_component
from ui.components import renderer

SIDES = ("a", "b")


def compare_maps(key: str, a: dict, b: dict, class_names: list[str], palette: list[str], color_modes: dict[str, str],
                 color: str, atlas: dict | None = None, height: int = 420):
    """Mount both maps. `a`, `b`: {url, bounds, farDistance, lens, focus, title, lensTitle} per side (a map's data,
    ui/components/map); the rest is shared. Returns the component result: `.event`, with `side` "a" or "b"."""
    data = {
        "a": a, "b": b, "classNames": list(class_names), "palette": palette, "colorModes": color_modes,
        "colorRanges": {"agreement": [0, 1]}, "color": color, "height": height, "atlas": atlas,
        "maxMarkers": map_component.MAX_MARKERS, "lodMarkers": map_component.LOD_MARKERS,
        "maxSelection": map_component.MAX_SELECTION,
    }
    component = renderer("vae_compare_maps", "compare/compare", isolate_styles=False, css_also=("map/map.css",))
    return component(key=key, data=data, default={"event": None}, on_event_change=lambda: None)


def new_event(key: str, seen_key: str, n_rows: int) -> dict | None:
    """The last click or selection not handled yet, checked as the Map's are (map_component.checked_event), with the
    side it was made on ("a" unless the page said "b")."""
    value = st.session_state.get(key) or {}
    raw = value.get("event") if isinstance(value, dict) else None
    event = map_component.new_event(key, seen_key, n_rows)
    if event is None:
        return None
    return {**event, "side": "b" if isinstance(raw, dict) and raw.get("side") == "b" else "a"}
