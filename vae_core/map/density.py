"""Where a 2-D map is dense: a smoothed point-count grid (the map's contour layer) and a label per dense region.

Computed once per map in numpy, well under a second for a million points (bench/map.py times it):
1. count the points in a GRID × GRID histogram over the map and smooth it with a Gaussian (wider for few points);
2. every cell climbs to its highest neighbour until it reaches a local maximum: the cells that reach the same
   maximum are that peak's region (a watershed by steepest ascent);
3. touching regions merge when the pass between them stays above MERGE_DIP of the lower peak, or when the lower
   peak rises above the pass by less than 3 standard deviations of its own counting noise (a bump on a cluster's
   flank is not a cluster), and when they share their majority class (one island, one name);
4. in a region holding at least MIN_SHARE of the points, every class holding CLASS_SHARE of it is named where that
   class is densest inside the region, with its share of the points at that spot (a mixed region gets several
   names, each where its class lives); a class named in another region too is named again only where it holds
   REPEAT_SHARE of the points, away from its other names; a region mostly without classes gets a number, ranked by
   peak height;
5. contour lines of the smoothed grid at LEVELS (shares of the highest cell), as SVG paths in map units: the page
   draws them above the points as Plotly shapes, so they zoom with the map and cost one file per map.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import VAEError

GRID = 128          # cells per side: fine enough for UMAP's islands, coarse enough to smooth 10k points
SIGMA = 1.5         # Gaussian smoothing in cells at 10,000 points and above; fewer points are smoothed wider
MIN_SHARE = 0.01    # a region must hold ≥ 1 % of the points (and MIN_POINTS) to be labelled: smaller is noise
MIN_POINTS = 10
CLASS_SHARE = 0.1   # a class is named inside a region when it holds at least a tenth of the region's points
REPEAT_SHARE = 0.5  # a class already named elsewhere is named again only where it is the majority,
REPEAT_CELLS = 16   # and at least this many cells (1/8 of the map) from its other names
MERGE_DIP = 0.75    # two touching regions stay apart only if the pass between them dips below 3/4 of the lower peak
MAX_PEAKS = 24      # labels shown at most (the highest peaks)
UNLABELLED = "unlabelled"  # the class name a folder's loose pictures get (vae_core.data): numbered, not named
LEVELS = (0.01, 0.03, 0.1, 0.3, 0.6)  # contour lines at these shares of the highest cell (log-spaced: faint too)


@dataclass(frozen=True)
class Peak:
    """One dense region's label, drawn at (x, y): the region's highest cell."""
    x: float
    y: float
    text: str       # the class's name, or "1", "2", … for a region of points without a class
    label: int      # the class (-1 when numbered)
    share: float    # the class's share of the points at (x, y), smoothed (1.0 when numbered)
    count: int      # the class's points in the region (all the region's points when numbered)


@dataclass(frozen=True)
class Density:
    """The smoothed count grid (row = y, column = x; cell centres in map units), its contour lines and the labels."""
    x: np.ndarray            # (GRID,) cell centres along x
    y: np.ndarray            # (GRID,) cell centres along y
    counts: np.ndarray       # (GRID, GRID) smoothed points per cell
    contours: tuple[tuple[float, str], ...]  # (share of the highest cell, SVG path in map units) per level
    peaks: tuple[Peak, ...]
    seconds: float           # the time this took (shown in the page and the bench)

    def to_json(self) -> dict:
        """What the page draws (fetched once per map): the contour paths and the labels."""
        return {"contours": [{"level": level, "path": path} for level, path in self.contours],
                "seconds": round(self.seconds, 4),
                "peaks": [{"x": p.x, "y": p.y, "text": p.text, "label": p.label, "share": round(p.share, 4),
                           "count": p.count} for p in self.peaks]}


def density(xy, labels, class_names: list[str] | None, bounds: tuple[float, float, float, float] | None = None,
            grid: int = GRID) -> Density:
    """The density grid and labelled peaks of map coordinates `xy` (N, 2) with one label per row. Rows with NaN/inf
    coordinates are left out; `bounds` (x0, x1, y0, y1) defaults to the points' extent."""
    from scipy import ndimage

    started = time.perf_counter()
    xy, labels = np.asarray(xy, dtype=np.float64), np.asarray(labels)
    if xy.ndim != 2 or xy.shape[1] < 2 or labels.shape != (len(xy),):
        raise VAEError(f"density needs (N, 2) coordinates and one label per row, got {xy.shape} and {labels.shape}")
    good = np.isfinite(xy[:, :2]).all(axis=1)
    xy, labels = xy[good, :2], labels[good].astype(np.int64)
    if len(xy) == 0:
        raise VAEError("this map has no points with finite coordinates: there is no density to draw")
    x0, x1, y0, y1 = bounds if bounds is not None else (*_extent(xy[:, 0]), *_extent(xy[:, 1]))
    x1, y1 = max(x1, x0 + 1e-9), max(y1, y0 + 1e-9)
    col = np.clip(((xy[:, 0] - x0) / (x1 - x0) * grid).astype(np.int64), 0, grid - 1)
    row = np.clip(((xy[:, 1] - y0) / (y1 - y0) * grid).astype(np.int64), 0, grid - 1)
    cell = row * grid + col
    sigma = SIGMA * max(1.0, (10_000 / len(xy)) ** (1 / 6))  # a kernel holds enough points to be smooth
    counts = ndimage.gaussian_filter(np.bincount(cell, minlength=grid * grid).reshape(grid, grid).astype(np.float64),
                                     sigma, mode="constant")
    region = _regions(counts, sigma)
    centres_x = x0 + (np.arange(grid) + 0.5) * (x1 - x0) / grid
    centres_y = y0 + (np.arange(grid) + 0.5) * (y1 - y0) / grid
    peaks = _label_peaks(counts, region, cell, labels, list(class_names or []), centres_x, centres_y, sigma)
    return Density(centres_x, centres_y, counts, _contours(centres_x, centres_y, counts), peaks,
                   time.perf_counter() - started)


def _contours(x: np.ndarray, y: np.ndarray, counts: np.ndarray) -> tuple[tuple[float, str], ...]:
    """One SVG path per level ("M x,y L x,y … Z" per ring, 3 decimals), in map units."""
    import contourpy

    generator = contourpy.contour_generator(x, y, counts, line_type="Separate")
    found = []
    for share in LEVELS:
        rings = [ring for ring in generator.lines(share * counts.max()) if len(ring) >= 3]
        if not rings:
            continue
        path = " ".join("M" + " L".join(f"{px:.3f},{py:.3f}" for px, py in ring)
                        + (" Z" if np.allclose(ring[0], ring[-1]) else "") for ring in rings)
        found.append((share, path))
    return tuple(found)


def _extent(values: np.ndarray) -> tuple[float, float]:
    return float(values.min()), float(values.max())


def _regions(counts: np.ndarray, sigma: float) -> np.ndarray:
    """For every cell (flat), the flat index of the peak its region belongs to; -1 for (nearly) empty cells.
    Counting noise: a Gaussian-smoothed Poisson count c has variance c / (4π σ²)."""
    from numpy.lib.stride_tricks import sliding_window_view

    g_rows, g_cols = counts.shape
    windows = sliding_window_view(np.pad(counts, 1, constant_values=-1.0), (3, 3)).reshape(g_rows, g_cols, 9)
    # the highest of the 3 × 3 neighbours; a cell tied with the highest is its own maximum (plateaus make no cycles)
    best = np.where(windows[..., 4] >= windows.max(axis=2), 4, windows.argmax(axis=2))
    rows = np.arange(g_rows)[:, None] + best // 3 - 1
    cols = np.arange(g_cols)[None, :] + best % 3 - 1
    up = (rows * g_cols + cols).ravel()
    for _ in range(int(np.ceil(np.log2(up.size))) + 1):  # pointer jumping: every cell reaches its maximum
        up = up[up]
    up[counts.ravel() <= counts.max() * 1e-3] = -1
    flat = counts.ravel()
    merges = {}
    for a, b, saddle in _passes(up, flat, counts.shape):  # highest pass first: persistence merging
        ra, rb = _root(merges, a), _root(merges, b)
        if ra == rb:
            continue
        high, low = (ra, rb) if flat[ra] >= flat[rb] else (rb, ra)
        noise = 3.0 * np.sqrt(flat[low] / (4 * np.pi * sigma ** 2))
        if saddle >= MERGE_DIP * flat[low] or flat[low] - saddle < noise:
            merges[low] = high
    return _relabel(up, merges)


def _passes(region: np.ndarray, flat: np.ndarray, shape: tuple[int, int]) -> list[tuple[int, int, float]]:
    """(region a, region b, height of the highest pass between them) for every pair of touching regions, highest
    pass first. A pass between two 8-connected cells is the lower of their two heights."""
    ids, heights = region.reshape(shape), flat.reshape(shape)
    whole, head, tail = slice(None), slice(0, -1), slice(1, None)
    found = []
    for a, b in (((whole, head), (whole, tail)), ((head, whole), (tail, whole)),
                 ((head, head), (tail, tail)), ((head, tail), (tail, head))):
        ra, rb = ids[a].ravel(), ids[b].ravel()
        touching = (ra != rb) & (ra >= 0) & (rb >= 0)
        found.append(np.stack([ra[touching], rb[touching], np.minimum(heights[a], heights[b]).ravel()[touching]], 1))
    edges = np.concatenate(found)
    edges = edges[np.argsort(-edges[:, 2], kind="stable")]
    return [(int(a), int(b), float(s)) for a, b, s in edges]


def _root(merges: dict[int, int], region: int) -> int:
    while region in merges:
        region = merges[region]
    return region


def _relabel(region: np.ndarray, merges: dict[int, int]) -> np.ndarray:
    if not merges:
        return region
    out = region.copy()
    inside = region >= 0
    keys = np.unique(region[inside])
    roots = np.array([_root(merges, int(k)) for k in keys], dtype=np.int64)
    out[inside] = roots[np.searchsorted(keys, region[inside])]
    return out


def _label_peaks(counts, region, cell, labels, names, centres_x, centres_y, sigma) -> tuple[Peak, ...]:
    """The labels: in each region holding enough points, every class with at least CLASS_SHARE of them is named
    where that class is densest inside the region, with its share of the points there (touching regions of one
    majority class count as one). Regions mostly without a class get a number at their peak. Strongest first."""
    from scipy import ndimage

    flat, classes, g_cols = counts.ravel(), max(len(names), 1), counts.shape[1]
    unlabelled = [i for i, name in enumerate(names) if name == UNLABELLED]
    named = (labels >= 0) & (labels < len(names)) & ~np.isin(labels, unlabelled)
    point_class = np.where(named, labels, classes)  # `classes`: a point without a class
    region = _merge_same_class(region, flat, counts.shape, cell, point_class, classes)
    tops, votes = _votes(region, cell, point_class, classes)
    sizes = votes.sum(axis=1)
    enough = max(MIN_POINTS, MIN_SHARE * len(cell))
    found, numbered, class_grids = [], [], {}
    for k in np.flatnonzero(sizes >= enough):
        if votes[k, :classes].sum() * 2 <= sizes[k]:  # mostly pictures without a class: a number at the peak
            numbered.append((float(flat[tops[k]]), int(tops[k]), int(sizes[k])))
            continue
        cells = np.flatnonzero(region == tops[k])
        for label in np.flatnonzero((votes[k, :classes] >= enough) & (votes[k, :classes] >= CLASS_SHARE * sizes[k])):
            if label not in class_grids:
                own = np.bincount(cell[labels == label], minlength=flat.size).reshape(counts.shape).astype(np.float64)
                class_grids[label] = ndimage.gaussian_filter(own, sigma, mode="constant").ravel()
            grid = class_grids[label]
            spot = int(cells[np.argmax(grid[cells])])
            found.append((float(grid[spot]), spot, int(label), float(min(1.0, grid[spot] / flat[spot])),
                          int(votes[k, label])))
    found.sort(key=lambda f: -f[0])
    numbered.sort(key=lambda f: -f[0])
    spots: dict[int, list[int]] = {}  # class -> cells where it is named
    kept = []
    for entry in found:  # strongest first: a class's second name must stand where it is the majority, elsewhere
        spot, label, share = entry[1], entry[2], entry[3]
        far = all(np.hypot(*np.subtract(divmod(spot, g_cols), divmod(other, g_cols))) >= REPEAT_CELLS
                  for other in spots.get(label, []))
        if label not in spots or (share >= REPEAT_SHARE and far):
            kept.append(entry)
            spots.setdefault(label, []).append(spot)
    peaks = []
    for _, spot, label, share, count in kept[:MAX_PEAKS]:
        row, col = divmod(spot, g_cols)
        peaks.append(Peak(float(centres_x[col]), float(centres_y[row]), names[label], label, share, count))
    for number, (_, spot, size) in enumerate(numbered[:max(0, MAX_PEAKS - len(peaks))], start=1):
        row, col = divmod(spot, g_cols)
        peaks.append(Peak(float(centres_x[col]), float(centres_y[row]), str(number), -1, 1.0, size))
    return tuple(peaks)


def _votes(region, cell, point_class, classes) -> tuple[np.ndarray, np.ndarray]:
    """The regions holding points (sorted ids) and, per region, its points per class (last column: no class)."""
    point_region = region[cell]
    inside = point_region >= 0
    tops = np.unique(point_region[inside])
    votes = np.zeros((len(tops), classes + 1), dtype=np.int64)
    np.add.at(votes, (np.searchsorted(tops, point_region[inside]), point_class[inside]), 1)
    return tops, votes


def _merge_same_class(region, flat, shape, cell, point_class, classes) -> np.ndarray:
    """Touching regions whose points' majority is the same class become one region (the higher peak's)."""
    tops, votes = _votes(region, cell, point_class, classes)
    if len(tops) < 2:
        return region

    def majority(v):
        return int(v[:classes].argmax()) if v[:classes].sum() * 2 > v.sum() else -1
    merges = {}
    for a, b, _ in _passes(region, flat, shape):
        ra, rb = _root(merges, a), _root(merges, b)
        if ra == rb or ra not in tops or rb not in tops:
            continue
        ia, ib = np.searchsorted(tops, [ra, rb])
        if majority(votes[ia]) == majority(votes[ib]) >= 0:
            high, low = (ra, rb) if flat[ra] >= flat[rb] else (rb, ra)
            merges[low] = high
            votes[np.searchsorted(tops, high)] += votes[np.searchsorted(tops, low)]
    return _relabel(region, merges)
