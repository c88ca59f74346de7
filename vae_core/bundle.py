"""A "view bundle": a small JSON file that reopens the same view (model, map, selections, endpoints, sliders).

Bundles come from other people's machines, so loading is strict: every field is type-checked, sizes are
capped, and every refusal is a VAEError whose message names the bad field.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field, fields


from .errors import VAEError
from .files import to_builtin
from .map.projection import ProjectionSpec

BUNDLE_VERSION = 1
MAX_BYTES = 5 * 1024 * 1024     # a real bundle is kilobytes; anything bigger is a mistake or an attack
MAX_IDS = 100_000               # row ids over all selections together
MAX_NAMED = 1_000               # entries per selections / endpoints / vectors
MAX_LATENT_DIM = 4_096
MAX_TEXT = 200
ENDPOINT_KINDS = ("dataset", "latent")
PAGE_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,39}")


@dataclass
class ViewBundle:
    model_id: str
    weights_hash: str             # which weights the map and vectors were computed with
    dataset: str
    projection: dict              # ProjectionSpec fields
    selections: dict[str, list[int]] = field(default_factory=dict)   # named lasso selections (row ids)
    endpoints: dict[str, dict] = field(default_factory=dict)         # {"kind": "dataset", "index": 12[, "split"]}
                                                                     # or {"kind": "latent", "z": [...]}
    vectors: dict[str, list[float]] = field(default_factory=dict)    # saved attribute vectors by name
    sliders: list[float] | None = None                               # the Generate page's z
    page: str = "map"
    version: int = BUNDLE_VERSION


def bundle_to_json(bundle: ViewBundle) -> str:
    """Pretty JSON; validated by the loader before it is returned, so a saved bundle always loads again."""
    try:
        text = json.dumps(asdict(bundle), indent=2, default=to_builtin)
    except (TypeError, ValueError) as err:
        raise VAEError(f"this view cannot be saved: {err}") from None
    bundle_from_json(text)
    return text


# --- validation: each helper names the field it refuses -------------------------------------------------

def _json_type(value) -> str:
    """The JSON name of a parsed value's type, for messages a person reading the file understands."""
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _fail(where: str, problem: str):
    raise VAEError(f"view bundle field '{where}' {problem}")


def _text(value, where: str, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        _fail(where, f"must be text, not {_json_type(value)}")
    if not value and not allow_empty:
        _fail(where, "must not be empty")
    if len(value) > MAX_TEXT:
        _fail(where, f"is {len(value)} characters long (at most {MAX_TEXT})")
    return value


def _index(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, f"must be a whole number, not {value!r}")
    if value < 0:
        _fail(where, f"must not be negative (got {value})")
    return value


def _numbers(value, where: str) -> list[float]:
    if not isinstance(value, list):
        _fail(where, f"must be a list of numbers, not {_json_type(value)}")
    if not value or len(value) > MAX_LATENT_DIM:
        _fail(where, f"must hold 1 to {MAX_LATENT_DIM} numbers (got {len(value)})")
    for i, x in enumerate(value):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            _fail(f"{where}[{i}]", f"must be a number, not {x!r}")
        if not math.isfinite(x):
            _fail(f"{where}[{i}]", f"must be finite, not {x}")
    return [float(x) for x in value]


def _named(value, where: str) -> dict:
    if not isinstance(value, dict):
        _fail(where, f"must be an object of named entries, not {_json_type(value)}")
    if len(value) > MAX_NAMED:
        _fail(where, f"has {len(value)} entries (at most {MAX_NAMED})")
    for name in value:
        _text(name, f"{where} name")
    return value


def _selections(value) -> dict[str, list[int]]:
    selections, total = {}, 0
    for name, ids in _named(value, "selections").items():
        where = f"selections['{name}']"
        if not isinstance(ids, list):
            _fail(where, f"must be a list of row ids, not {_json_type(ids)}")
        total += len(ids)
        if total > MAX_IDS:
            _fail("selections", f"holds more than {MAX_IDS:,} row ids")
        selections[name] = [_index(i, f"{where}[{k}]") for k, i in enumerate(ids)]
    return selections


def _endpoint(value, where: str) -> dict:
    if not isinstance(value, dict):
        _fail(where, f"must be an object, not {_json_type(value)}")
    kind = value.get("kind")
    if kind not in ENDPOINT_KINDS:
        _fail(f"{where}.kind", f"must be one of {', '.join(ENDPOINT_KINDS)}, not {kind!r}")
    allowed = {"kind", "index", "split"} if kind == "dataset" else {"kind", "z"}
    unknown = sorted(set(value) - allowed)
    if unknown:
        _fail(f"{where}.{unknown[0]}", f"is not a field of a {kind} endpoint")
    if kind == "dataset":
        if "index" not in value:
            _fail(f"{where}.index", "is missing")
        endpoint = {"kind": kind, "index": _index(value["index"], f"{where}.index")}
        if "split" in value:
            endpoint["split"] = _text(value["split"], f"{where}.split")
        return endpoint
    if "z" not in value:
        _fail(f"{where}.z", "is missing")
    return {"kind": kind, "z": _numbers(value["z"], f"{where}.z")}


def _projection(value) -> dict:
    if not isinstance(value, dict):
        _fail("projection", f"must be an object, not {_json_type(value)}")
    known = {f.name for f in fields(ProjectionSpec)}
    unknown = sorted(set(value) - known)
    if unknown:
        _fail(f"projection.{unknown[0]}", "is not a projection setting")
    try:
        return asdict(ProjectionSpec(**value))
    except VAEError as err:
        _fail("projection", f"is invalid: {err}")


def _check_latent_sizes(bundle: ViewBundle) -> None:
    """Every latent in one bundle comes from one model, so all must have the same length."""
    sizes = {f"vectors['{name}']": len(v) for name, v in bundle.vectors.items()}
    sizes.update({f"endpoints['{name}'].z": len(e["z"]) for name, e in bundle.endpoints.items() if "z" in e})
    if bundle.sliders is not None:
        sizes["sliders"] = len(bundle.sliders)
    if len(set(sizes.values())) > 1:
        # Name the odd one out: the field whose length disagrees with most of the others.
        usual = Counter(sizes.values()).most_common(1)[0][0]
        odd = next(name for name, n in sizes.items() if n != usual)
        _fail(odd, f"has {sizes[odd]} numbers but the bundle's other latents have {usual}; "
                   f"they must all come from the same model")


def bundle_from_json(text: str | bytes) -> ViewBundle:
    """Parse and strictly validate a bundle; any problem is a VAEError that names the field."""
    if isinstance(text, (bytes, bytearray)):
        if len(text) > MAX_BYTES:
            raise VAEError(f"view bundle is {len(text) / 1e6:.1f} MB; the limit is {MAX_BYTES // 2**20} MB")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise VAEError("view bundle is not UTF-8 text") from None
    if not isinstance(text, str):
        raise VAEError(f"view bundle must be text or bytes, not {type(text).__name__}")
    if len(text) > MAX_BYTES:
        raise VAEError(f"view bundle is {len(text) / 1e6:.1f} MB; the limit is {MAX_BYTES // 2**20} MB")
    try:
        # NaN/Infinity literals become float nan here and are refused below, by field name.
        data = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise VAEError(f"view bundle is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise VAEError("view bundle must be a JSON object")

    version = data.get("version", None)
    if isinstance(version, bool) or not isinstance(version, int):
        _fail("version", f"must be a whole number, not {version!r}")
    if version != BUNDLE_VERSION:
        _fail("version", f"is {version}; this app reads version {BUNDLE_VERSION} bundles")
    known = {f.name for f in fields(ViewBundle)}
    unknown = sorted(set(data) - known)
    if unknown:
        _fail(unknown[0], "is not a view bundle field")
    for required in ("model_id", "weights_hash", "dataset", "projection"):
        if required not in data:
            _fail(required, "is missing")

    page = _text(data.get("page", "map"), "page")
    if not PAGE_PATTERN.fullmatch(page):
        _fail("page", f"is not a page name: {page!r}")
    sliders = data.get("sliders")
    bundle = ViewBundle(
        model_id=_text(data["model_id"], "model_id"),
        weights_hash=_text(data["weights_hash"], "weights_hash"),
        dataset=_text(data["dataset"], "dataset"),
        projection=_projection(data["projection"]),
        selections=_selections(data.get("selections", {})),
        endpoints={name: _endpoint(e, f"endpoints['{name}']")
                   for name, e in _named(data.get("endpoints", {}), "endpoints").items()},
        vectors={name: _numbers(v, f"vectors['{name}']")
                 for name, v in _named(data.get("vectors", {}), "vectors").items()},
        sliders=None if sliders is None else _numbers(sliders, "sliders"),
        page=page,
        version=version,
    )
    _check_latent_sizes(bundle)
    return bundle


def check_bundle_model(bundle: ViewBundle, available: dict[str, str]) -> None:
    """Refuse a bundle whose model is not installed, or whose weights changed since it was saved."""
    if bundle.model_id not in available:
        installed = ", ".join(sorted(available)) or "none"
        raise VAEError(f"this view was saved with model '{bundle.model_id}', which is not installed here "
                       f"(installed: {installed})")
    if available[bundle.model_id] != bundle.weights_hash:
        raise VAEError(f"model '{bundle.model_id}' has different weights than when this view was saved "
                       f"(saved {bundle.weights_hash[:12]}, installed {available[bundle.model_id][:12]}); "
                       f"its map, selections and vectors would not match")


def check_bundle_rows(bundle: ViewBundle, n_rows: int) -> None:
    """Refuse row ids beyond the dataset the view is reopened on (the JSON alone cannot know its size)."""
    for name, ids in bundle.selections.items():
        if ids and max(ids) >= n_rows:
            _fail(f"selections['{name}']", f"has row id {max(ids)} but the dataset has {n_rows} rows")
    for name, endpoint in bundle.endpoints.items():
        if endpoint["kind"] == "dataset" and endpoint["index"] >= n_rows:
            _fail(f"endpoints['{name}'].index", f"is {endpoint['index']} but the dataset has {n_rows} rows")
