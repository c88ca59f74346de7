"""Every page's state, declared once: the `Item`s that go in the address bar and in view bundles (item.py says how
they travel; keys.py names the session keys). One block per page.

URL parameters (all optional; a bad one is named in a message and its page opens on its default):
  dataset, model, split (test|all), projection (umap|pca)       every page
  colour (label|recon|kl), point (row), zoom (x0,x1,y0,y1)       Map
  z (comma-separated floats, one per latent dimension)           Generate
  a, b (row:N | class:N | prior:SEED | z:…), path (linear|slerp)  Interpolate
  a, b (model folder names), colour (agreement|label|recon|kl), point (row)  Compare
Names are per page: a link is read by the shared items and its own page's (item.restore_url).
Selections, uploads and vectors are too big for a link: view bundles carry selections and vectors.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from vae_core.map.projection import ProjectionSpec

from .item import Context, Item, choice, fmt_floats, parse_floats, parse_row
from .keys import (BUNDLE_PICK, COLOUR_MODES, COMPARE_A, COMPARE_A_WIDGET, COMPARE_B, COMPARE_B_WIDGET, COMPARE_COLOUR,
                   COMPARE_COLOURS, COMPARE_FOCUS, COMPARE_PICK, DATASET, ENDPOINTS, FROM_VIEW, GENERATE_START,
                   GENERATE_Z, INTERP_PATH, MAP_COLOUR, MAP_FOCUS, MAP_METHOD_WIDGET, MAP_SPLIT_WIDGET, MAP_ZOOM,
                   METHOD_LABELS, MODEL, PATH_KINDS, PICK, RESTORE_ENDPOINTS, SELECTIONS, SPEC, SPLIT, SPLIT_LABELS,
                   UPLOADS, VECTORS, endpoint_key)


# --- converters ------------------------------------------------------------------------------------------------
def _value(key):
    return lambda s: str(s[key]) if s.get(key) is not None else None


def _installed(text: str, ctx: Context):
    info = ctx.models.get(text)
    if info is None:
        names = ", ".join(sorted(ctx.models)[:6]) or "none"
        raise ValueError(f"is not a model installed here (installed: {names})")
    return info


def _model_from_url(text: str, ctx: Context) -> dict:
    info = _installed(text, ctx)
    return {MODEL: str(info.path), DATASET: info.dataset}


def _dataset_from_url(text: str, ctx: Context) -> dict:
    return {DATASET: choice(text, ctx.datasets)}


def _spec_from_url(text: str, ctx: Context) -> dict:
    return {SPEC: ProjectionSpec(method=choice(text, METHOD_LABELS), dims=2)}


def _point_from_url(text: str, ctx: Context) -> dict:
    row = parse_row(text, ctx.n_rows())
    return {PICK: row, MAP_FOCUS: {"kind": "point", "row": row}}


def _zoom_from_url(text: str, ctx: Context) -> dict:
    x0, x1, y0, y1 = parse_floats(text, 4, "coordinates") if text.count(",") == 3 else (0, 0, 0, 0)
    if not (x0 < x1 and y0 < y1):
        raise ValueError("must be four map coordinates x0,x1,y0,y1, with x0 below x1 and y0 below y1")
    return {MAP_ZOOM: [x0, x1, y0, y1]}


def _pick_to_bundle(s, dim: int) -> dict:
    pick = s.get(PICK)
    if pick is None:
        return {}
    return {"endpoints": {BUNDLE_PICK: {"kind": "dataset", "index": int(pick), "split": s.get(SPLIT) or "test"}}}


def _pick_from_bundle(bundle, ctx: Context) -> dict:
    pick = bundle.endpoints.get(BUNDLE_PICK)
    if pick is None:
        return {MAP_FOCUS: None}
    return {PICK: pick["index"], MAP_FOCUS: {"kind": "point", "row": pick["index"]}}


def _z_to_url(s) -> str | None:
    z = s.get(GENERATE_Z)
    return fmt_floats(z) if z else None


def _z_from_url(text: str, ctx: Context) -> dict:
    return {GENERATE_START: {"z": parse_floats(text, ctx.latent_dim()), "label": "the link's z"}}


def _sliders_from_bundle(bundle, ctx: Context) -> dict:
    if bundle.sliders is None:
        return {}
    return {GENERATE_START: {"z": list(bundle.sliders), "label": f"the view file's sliders ({bundle.model_id})"}}


def _endpoint_to_url(name: str):
    key = endpoint_key(name)

    def to_url(s) -> str | None:
        kind = s.get(f"{key}_kind")
        if kind == "Dataset point" and s.get(f"{key}_row") is not None:
            return f"row:{int(s[f'{key}_row'])}"
        if kind == "Class mean" and s.get(f"{key}_class") is not None:
            return f"class:{int(s[f'{key}_class'])}"
        if kind == "Random (prior)":
            return f"prior:{int(s.get(f'{key}_seed') or 0)}"
        if kind == FROM_VIEW and s.get(f"{key}_latent"):
            return "z:" + fmt_floats(s[f"{key}_latent"])
        if kind == "Upload":
            return "upload"  # named, so a link opened elsewhere can say what it lacks
        return None
    return to_url


def _endpoint_from_url(name: str):
    key = endpoint_key(name)

    def from_url(text: str, ctx: Context) -> dict:
        kind, _, value = text.partition(":")
        if kind == "row":
            return {f"{key}_kind": "Dataset point", f"{key}_row": parse_row(value, ctx.n_rows())}
        if kind == "class":
            n = ctx.n_classes()
            if not value.isdigit() or (n is not None and int(value) >= n):
                raise ValueError(f"must name a class number 0–{(n or 1) - 1}")
            return {f"{key}_kind": "Class mean", f"{key}_class": int(value)}
        if kind == "prior":
            if not value.isdigit() or int(value) >= 2**31:
                raise ValueError("must give a seed 0–2147483647")
            return {f"{key}_kind": "Random (prior)", f"{key}_seed": int(value)}
        if kind == "z":
            return {f"{key}_kind": FROM_VIEW, f"{key}_latent": parse_floats(value, ctx.latent_dim())}
        if kind == "upload":
            raise ValueError("was an uploaded picture: links do not carry uploads, so it opens on its default")
        raise ValueError("must be row:N, class:N, prior:SEED or z:v1,v2,…")
    return from_url


def merge_named(existing: dict, incoming: dict) -> dict:
    """Add a view's named entries; a different entry of the same name is kept, the new one renamed."""
    merged = dict(existing)
    for name, value in incoming.items():
        new_name, n = name, 1
        while new_name in merged and merged[new_name] != value:
            n += 1
            new_name = f"{name} (view {n})" if n > 2 else f"{name} (view)"
        merged[new_name] = value
    return merged


def _endpoints_to_bundle(s, dim: int) -> dict:
    # Latents of other models (the session may have used several) would make the bundle inconsistent: left out.
    return {"endpoints": {name: dict(e) for name, e in (s.get(ENDPOINTS) or {}).items()
                          if e.get("kind") != "latent" or len(e.get("z", ())) == dim}}


def _endpoints_from_bundle(bundle, ctx: Context) -> dict:
    endpoints = {name: e for name, e in bundle.endpoints.items() if name != BUNDLE_PICK}
    return {ENDPOINTS: dict(endpoints), RESTORE_ENDPOINTS: dict(endpoints)}


def _compare_model(key: str):
    """Compare's a= / b=: a model folder's name (whether the two can be compared is the page's to say, naming both)."""
    return lambda text, ctx: {key: str(_installed(text, ctx).path)}


def _compare_point_from_url(text: str, ctx: Context) -> dict:
    """A row of A's dataset (Compare's images are A's; B's must be the same ones, or the page says why not)."""
    path = ctx.session.get(COMPARE_A) or ctx.session.get(MODEL)
    info = next((m for m in ctx.models.values() if str(m.path) == str(path)), None)
    n_rows = ctx.rows(info.dataset, ctx.session.get(SPLIT) or "test") if info and info.dataset else None
    row = parse_row(text, n_rows)
    return {COMPARE_PICK: row, COMPARE_FOCUS: {"kind": "point", "row": row}}


# --- the declarations: (name, key, page, default, how it travels) ---------------------------------------------
SHARED = [
    Item("dataset", DATASET, "", help="the sidebar's dataset", to_url=_value(DATASET), from_url=_dataset_from_url),
    Item("model", MODEL, "", help="the sidebar's model (URL: folder name; bundle: model_id, checked by hash)",
         to_url=lambda s: Path(s[MODEL]).name if s.get(MODEL) else None, from_url=_model_from_url),
    Item("split", SPLIT, "", "test", "the Map's points: test split or all images",
         to_url=_value(SPLIT), from_url=lambda t, ctx: {SPLIT: choice(t, SPLIT_LABELS)}, widgets=(MAP_SPLIT_WIDGET,)),
    Item("projection", SPEC, "", ProjectionSpec(), "the Map's projection (UMAP or PCA)",
         to_url=lambda s: s[SPEC].method if s.get(SPEC) else None, from_url=_spec_from_url,
         to_bundle=lambda s, dim: {"projection": asdict(s.get(SPEC) or ProjectionSpec())},
         from_bundle=lambda b, ctx: {SPEC: ProjectionSpec(**b.projection)}, widgets=(MAP_METHOD_WIDGET,)),
]
MAP = [
    Item("colour", MAP_COLOUR, "map", "label", "what colours the map's points",
         to_url=_value(MAP_COLOUR), from_url=lambda t, ctx: {MAP_COLOUR: choice(t, COLOUR_MODES)}),
    Item("point", PICK, "map", None, "the picked row (detail panel; Generate and Interpolate start from it)",
         to_url=_value(PICK), from_url=_point_from_url, to_bundle=_pick_to_bundle, from_bundle=_pick_from_bundle),
    # written to the address bar by the map in the page (a zoom reruns nothing), read here when a link opens
    Item("zoom", MAP_ZOOM, "map", None, "the map's view x0,x1,y0,y1 (the page writes it; a link opens there)",
         from_url=_zoom_from_url),
    Item("selections", SELECTIONS, "map", {}, "kept lasso/box selections (bundle only: thousands of rows)",
         to_bundle=lambda s, dim: {"selections": {str(k): [int(i) for i in v]
                                                  for k, v in (s.get(SELECTIONS) or {}).items()}},
         from_bundle=lambda b, ctx: {SELECTIONS: merge_named(ctx.session.get(SELECTIONS) or {}, b.selections)}),
]
GENERATE = [
    Item("z", GENERATE_Z, "generate", None, "the latent Generate decodes (URL: 3 significant digits)",
         to_url=_z_to_url, from_url=_z_from_url,
         to_bundle=lambda s, dim: {"sliders": [float(v) for v in s[GENERATE_Z]]}
         if s.get(GENERATE_Z) and len(s[GENERATE_Z]) == dim else {},
         from_bundle=_sliders_from_bundle),
]
ENCODE = [
    Item("uploads", UPLOADS, "encode", [], "encoded uploads kept for the session (never in links or bundles)"),
]
INTERPOLATE = [
    Item("a", endpoint_key("A"), "interpolate", None, "the path's start",
         to_url=_endpoint_to_url("A"), from_url=_endpoint_from_url("A")),
    Item("b", endpoint_key("B"), "interpolate", None, "the path's end",
         to_url=_endpoint_to_url("B"), from_url=_endpoint_from_url("B")),
    Item("path", INTERP_PATH, "interpolate", "Linear", "the path kind shown for download",
         to_url=lambda s: next((k for k, v in PATH_KINDS.items() if v == s.get(INTERP_PATH)), None),
         from_url=lambda t, ctx: {INTERP_PATH: PATH_KINDS[choice(t, PATH_KINDS)]}),
    Item("endpoints", ENDPOINTS, "interpolate", {}, "every endpoint picked on the page (bundle only)",
         to_bundle=_endpoints_to_bundle, from_bundle=_endpoints_from_bundle),
    Item("vectors", VECTORS, "interpolate", {}, "saved attribute vectors (bundle only)",
         to_bundle=lambda s, dim: {"vectors": {str(k): [float(x) for x in v]
                                               for k, v in (s.get(VECTORS) or {}).items() if len(v) == dim}},
         from_bundle=lambda b, ctx: {VECTORS: merge_named(ctx.session.get(VECTORS) or {}, b.vectors)}),
]
# a= and b= are Compare's models here, Interpolate's endpoints there: a link is read by its page's items only
COMPARE = [
    Item("a", COMPARE_A, "compare", None, "model A (its folder's name; unset: the sidebar's model)",
         to_url=lambda s: Path(s.get(COMPARE_A) or s[MODEL]).name if s.get(COMPARE_A) or s.get(MODEL) else None,
         from_url=_compare_model(COMPARE_A),
         widgets=(COMPARE_A_WIDGET,)),
    Item("b", COMPARE_B, "compare", None, "model B, compared with A on the same images",
         to_url=lambda s: Path(s[COMPARE_B]).name if s.get(COMPARE_B) else None, from_url=_compare_model(COMPARE_B),
         widgets=(COMPARE_B_WIDGET,)),
    Item("colour", COMPARE_COLOUR, "compare", "agreement", "what colours both maps",
         to_url=_value(COMPARE_COLOUR), from_url=lambda t, ctx: {COMPARE_COLOUR: choice(t, COMPARE_COLOURS)}),
    Item("point", COMPARE_PICK, "compare", None, "the image picked on either map (the detail panel)",
         to_url=_value(COMPARE_PICK), from_url=_compare_point_from_url),
]
TRAIN: list[Item] = []
ITEMS = SHARED + MAP + GENERATE + ENCODE + INTERPOLATE + COMPARE + TRAIN   # declaration order = restore order
PAGES = {"map": "pages/map.py", "generate": "pages/generate.py", "encode": "pages/encode.py",
         "interpolate": "pages/interpolate.py", "compare": "pages/compare.py", "train": "pages/train.py"}
