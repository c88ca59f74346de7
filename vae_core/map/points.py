"""The map's points as one binary buffer for the browser: typed arrays, never JSON numbers.

Layout (little-endian): b"VMAPPTS1", uint32 header length, a JSON header, then each array at a 4-byte-aligned
offset named in the header. The page reads it with one fetch and views the arrays in place (Float32Array,
Int16Array), so 1,000,000 points cost ~17 MB once, not ~40 MB of JSON on every rerun.

Bad input is named: colour data of the wrong length raises; non-finite coordinates (a diverged model) are kept as
NaN and counted in `left_out`, so the page can say how many points it could not draw.
"""
from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass

import numpy as np

from ..errors import VAEError

MAGIC = b"VMAPPTS1"
# name -> dtype. x/y in map units, label as a small int, the three colourings/hover numbers as float32.
# nn: each point's distance to its nearest other point (the "distance to data" readout's percentiles).
FIELDS = {"x": "float32", "y": "float32", "label": "int16", "recon": "float32", "kl": "float32", "elbo": "float32",
          "nn": "float32"}
_JS_TYPES = {"float32": "Float32Array", "int16": "Int16Array"}


@dataclass(frozen=True)
class MapPoints:
    """What the buffer holds, as numpy arrays (row i is data row i)."""
    arrays: dict[str, np.ndarray]
    left_out: int           # rows whose map coordinates are NaN/inf: not drawn
    meta: dict              # free JSON (class names, bounds, …)

    @property
    def n(self) -> int:
        return len(self.arrays["x"])


def build(coords, labels, recon, kl, elbo, meta: dict | None = None, extra: dict | None = None) -> MapPoints:
    """Check lengths and types; rows with non-finite coordinates become NaN (left out), counted. `extra`: more
    per-point numbers by name (float32 in the buffer, after the fixed fields), e.g. Compare's agreement, which the page
    can colour by."""
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] < 2:
        raise VAEError(f"map coordinates must be an (N, 2) array, got shape {coords.shape}")
    n = len(coords)
    if n == 0:
        raise VAEError("this split has no points to draw")
    extra = dict(extra or {})
    clash = [name for name in extra if name in FIELDS or not name.isidentifier()]
    if clash:
        raise VAEError(f"extra point arrays need new plain names, not {clash}")
    columns = {"label": labels, "recon": recon, "kl": kl, "elbo": elbo, **extra}
    arrays = {}
    for name, values in columns.items():
        values = np.asarray(values)
        if values.shape != (n,):
            raise VAEError(f"colour data {name!r} has shape {values.shape} but the map has {n:,} points: "
                           "they must match one value per point")
        arrays[name] = values
    bad = ~np.isfinite(coords[:, :2]).all(axis=1)
    xy = coords[:, :2].astype(np.float32)
    xy[bad] = np.nan
    labels = arrays["label"].astype(np.int64)
    if labels.size and (labels.min() < -1 or labels.max() > np.iinfo(np.int16).max):
        raise VAEError(f"labels must be whole numbers from -1 to {np.iinfo(np.int16).max}")
    out = {"x": np.ascontiguousarray(xy[:, 0]), "y": np.ascontiguousarray(xy[:, 1]),
           "label": labels.astype(np.int16)}
    for name in ("recon", "kl", "elbo"):
        out[name] = np.asarray(arrays[name], dtype=np.float32)
    out["nn"] = neighbour_spacing(xy)
    for name in extra:
        out[name] = np.asarray(arrays[name], dtype=np.float32)
    return MapPoints(out, int(bad.sum()), dict(meta or {}))


def neighbour_spacing(xy: np.ndarray) -> np.ndarray:
    """Distance from each point to its nearest other point (NaN for points left out or alone), float32."""
    from scipy.spatial import cKDTree

    spacing = np.full(len(xy), np.nan, dtype=np.float32)
    good = np.isfinite(xy).all(axis=1)
    if good.sum() >= 2:
        dist, _ = cKDTree(xy[good].astype(np.float64)).query(xy[good].astype(np.float64), k=2)
        spacing[good] = dist[:, 1]
    return spacing


def pack(points: MapPoints) -> bytes:
    """MapPoints -> the binary buffer (deterministic: the same points give the same bytes)."""
    entries, blobs = [], []
    header_probe = {"n": points.n, "left_out": points.left_out, "meta": points.meta, "arrays": []}
    # offsets depend on the header's length, which depends on the offsets' digits: lay out with a fixed-width guess
    offset = 0
    fields = {**FIELDS, **{name: "float32" for name in points.arrays if name not in FIELDS}}  # then build's extras
    for name, dtype in fields.items():
        data = np.ascontiguousarray(points.arrays[name], dtype=dtype).tobytes()
        entries.append({"name": name, "type": _JS_TYPES[dtype], "offset": offset, "length": points.n})
        blobs.append(data)
        offset += len(data) + (-len(data)) % 4
    header_probe["arrays"] = entries
    body_start = 0
    for _ in range(3):  # converge: the header's own length moves the absolute offsets
        header = dict(header_probe, arrays=[dict(e, offset=e["offset"] + body_start) for e in entries])
        raw = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
        prefix = len(MAGIC) + 4 + len(raw)
        start = prefix + (-prefix) % 4
        if start == body_start:
            break
        body_start = start
    raw += b" " * (body_start - len(MAGIC) - 4 - len(raw))  # JSON tolerates trailing spaces; keeps 4-byte alignment
    parts = [MAGIC, struct.pack("<I", len(raw)), raw]
    for blob in blobs:
        parts += [blob, b"\0" * ((-len(blob)) % 4)]
    return b"".join(parts)


def unpack(buffer: bytes) -> MapPoints:
    """The inverse of `pack` (what the page does in JavaScript), for tests and tools."""
    if len(buffer) < len(MAGIC) + 4 or buffer[:len(MAGIC)] != MAGIC:
        raise VAEError("not a map points buffer (wrong magic)")
    (length,) = struct.unpack_from("<I", buffer, len(MAGIC))
    header = json.loads(buffer[len(MAGIC) + 4:len(MAGIC) + 4 + length])
    types = {v: k for k, v in _JS_TYPES.items()}
    arrays = {}
    for entry in header["arrays"]:
        dtype = np.dtype(types[entry["type"]])
        end = entry["offset"] + entry["length"] * dtype.itemsize
        if end > len(buffer):
            raise VAEError(f"map points buffer is truncated ({entry['name']} needs {end} bytes, has {len(buffer)})")
        arrays[entry["name"]] = np.frombuffer(buffer, dtype=dtype, count=entry["length"], offset=entry["offset"])
    return MapPoints(arrays, int(header["left_out"]), header["meta"])


def digest(buffer: bytes) -> str:
    """16 hex digits naming a buffer: its file name, so a URL never serves stale points."""
    return hashlib.sha256(buffer).hexdigest()[:16]
