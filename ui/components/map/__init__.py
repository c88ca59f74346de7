"""The Map component: Plotly.js in the page, fed a binary points file once per map (see map.mjs).

Python's side: publish the points buffer (served.publish: <this server's folder>/maps/<hash>.bin) once per
(model, split, projection), mount the component with a small JSON (the buffer's URL, highlights, overlays), and
read back the user's last click/selection as the component state "event". AppTest cannot run the JavaScript: tests
set `session_state[key] = {"event": {...}}`, exactly what the page would have sent.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import streamlit as st

from ui.components import renderer, served
from vae_core.map import points as map_points

MAX_MARKERS = 100_000   # maps up to this size draw every point as a marker (70k: ~0.2 s a zoom on SwiftShader)
LOD_MARKERS = 20_000    # bigger maps: a density image of the view and at most this many markers over it
MAX_SELECTION = 200_000  # rows a box/lasso hands to Python
log = logging.getLogger("vae_explorer")


def publish_points(points: map_points.MapPoints) -> str:
    """Write the buffer where the browser can fetch it; returns its URL path."""
    return publish(map_points.pack(points), "bin")


def publish(buffer: bytes, ext: str) -> str:
    """Any file for the map's page (points, density layer, atlas, lens graph): served.publish under maps/."""
    return served.publish(buffer, "maps", ext)


def latent_map(key: str, url: str, bounds, class_names: list[str], palette: list[str], color_modes: dict[str, str],
               color: str, far_distance: float, focus: dict | None = None, overlays: dict | None = None,
               lens: dict | None = None, atlas: dict | None = None, density: dict | None = None, height: int = 640,
               zoom: list[float] | None = None):
    """Mount the map. Returns the component result: `.event`, the last click/selection, with the colour in use.
    zoom: [x0, x1, y0, y1] to open this map at (a link's); the page keeps its zoom in the address bar itself."""
    data = {
        "url": url, "bounds": [float(b) for b in bounds], "classNames": list(class_names), "palette": palette,
        "colorModes": color_modes, "color": color, "height": height, "farDistance": float(far_distance),
        "maxMarkers": MAX_MARKERS, "lodMarkers": LOD_MARKERS, "maxSelection": MAX_SELECTION,
        "focus": focus or {}, "overlays": overlays or {},
        "lens": lens, "atlas": atlas, "density": density, "zoom": zoom,
    }
    component = renderer("vae_latent_map", "map/map", isolate_styles=False)  # Plotly styles itself via document.head
    return component(key=key, data=data, default={"event": None}, on_event_change=lambda: None)


def new_event(key: str, seen_key: str, n_rows: int) -> dict | None:
    """The component's event if it is a well-formed one (`checked_event`) the page has not handled yet (each carries
    a unique `seq`)."""
    value = st.session_state.get(key) or {}
    event = value.get("event") if isinstance(value, dict) else None
    if not isinstance(event, dict):
        return None
    seq = event.get("seq")
    if seq is not None and st.session_state.get(seen_key) == seq:
        return None
    st.session_state[seen_key] = seq if isinstance(seq, (str, int)) else None
    checked = checked_event(event, n_rows)
    if checked is None:
        log.warning("map event dropped, not of the form the page sends: %.200r", event)
    return checked


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def checked_event(event: dict, n_rows: int) -> dict | None:
    """The event as the page sends it ({kind: point, row} | {kind: space, xy: [x, y]} | {kind: selection, rows,
    total}), its values checked and normalised; None for anything else (a forged or broken event: dropped, never an
    exception in the sender's session)."""
    kind, color = event.get("kind"), event.get("color")
    out = {"kind": kind, "color": color if isinstance(color, str) and len(color) < 20 else None}
    if kind == "point" and _whole(event.get("row")) and 0 <= event["row"] < n_rows:
        return {**out, "row": event["row"]}
    xy = event.get("xy")
    if kind == "space" and isinstance(xy, list) and len(xy) == 2 and all(_number(v) for v in xy):
        return {**out, "xy": [float(v) for v in xy]}
    rows, total = event.get("rows"), event.get("total")
    if kind == "selection" and isinstance(rows, list) and len(rows) <= MAX_SELECTION:
        kept = [r for r in rows if _whole(r) and 0 <= r < n_rows]
        return {**out, "rows": kept, "total": max(total if _whole(total) else 0, len(kept))}
    return None


def xy_list(points: np.ndarray) -> dict:
    points = np.atleast_2d(np.asarray(points, dtype=np.float64))
    return {"x": [float(v) for v in points[:, 0]], "y": [float(v) for v in points[:, 1]]}
