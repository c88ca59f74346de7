"""ui/figures.py: the Generate page's raster mini map (points land where their coordinates say, the mark sits on z); the
mini map's points stay legible when a mark is picked."""
import numpy as np
import pytest

from ui import figures
from ui.figures import mark_raster, raster_map


def test_raster_map_puts_points_and_the_mark_where_the_coordinates_say():
    coords = np.array([[-10.0, -10.0], [10.0, 10.0], [0.0, 0.0]], dtype=np.float32)
    image, bounds = raster_map(coords, np.array([0, 1, 2]), 3, size=101)
    assert image.shape == (101, 101, 3) and image.dtype == np.uint8
    background = image[0, 50].copy()
    assert (image[50, 50] != background).any()        # the centre point is drawn at the centre
    assert (image[5, 5] == background).all()           # nothing where no point is
    marked = mark_raster(image, bounds, (0.0, 0.0))
    assert (marked[50, 50] == 255).all()               # the white cross is on z
    assert (marked[50, 50 + 6] == 255).all() and (marked[50 + 6, 50] == 255).all()
    assert (image[50, 56] != 255).any()                # the background itself is untouched (a copy was marked)
    far = mark_raster(image, bounds, (1e6, -1e6))      # off the map: clipped to the corner, no crash
    assert (far[-1, -1] == 255).all()


def effective_opacity(trace: dict, picked_elsewhere: bool) -> float:
    """How opaque a Scattergl trace's points are drawn, by Plotly.js 3's rules for per-point colours: the colour's
    alpha times marker.opacity (both baked into each point's colour); once a point of another trace is picked, times
    unselected.marker.opacity too (by default 0.2 x marker.opacity: Plotly's DESELECTDIM). Measured in Chromium: an
    unselected 0.35 on top of marker.opacity 0.35 drew the points at 0.12."""
    marker = trace["marker"]
    colour = marker["colorscale"][0][1]
    alpha = float(colour.rsplit(",", 1)[1].rstrip(")")) if colour.startswith("rgba") else 1.0
    opacity = marker.get("opacity", 1.0)
    if not picked_elsewhere:
        return alpha * opacity
    return alpha * opacity * trace.get("unselected", {}).get("marker", {}).get("opacity", 0.2 * opacity)


def test_a_picked_mark_does_not_dim_the_mini_maps_points():
    """Issue 22: picking a star on Encode's map drew every dataset point at 0.07 (0.2 x 0.35), almost invisible."""
    rng = np.random.default_rng(0)
    figure = figures.mini_map(rng.normal(size=(500, 2)), rng.integers(0, 10, 500), 10,
                              {"your pictures": rng.normal(size=(3, 2))})
    points, marks = figure["data"]
    assert points["type"] == "scattergl"
    assert effective_opacity(points, picked_elsewhere=False) == pytest.approx(figures.MINI_MAP_OPACITY)
    assert effective_opacity(points, picked_elsewhere=True) == pytest.approx(figures.MINI_MAP_OPACITY)
    assert figures.MINI_MAP_OPACITY >= 0.35
    assert marks["unselected"]["marker"]["opacity"] >= 0.5  # the other stars: dimmer than the picked one, visible


def test_bars_show_names_as_plain_text():
    """Compare's charts name models and classes: Plotly would read <a href> or <b> in them as markup."""
    from ui import figures

    fig = figures.bars(["<b>bold</b>", "a&b"], {"A · <a href='https://evil.example'>m</a>": [1, 2]}, "t")
    trace = fig["data"][0]
    assert list(trace["x"]) == ["&lt;b&gt;bold&lt;/b&gt;", "a&amp;b"] and "<" not in trace["name"]
    assert trace["marker"]["color"] == figures.SIDE_COLORS["A"] and list(trace["y"]) == [1.0, 2.0]


def _luminance(color: str) -> float:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_the_kl_heatmap_is_dark_at_zero_and_never_uses_streamlits_placeholder_colours():
    """Streamlit's Plotly theme swaps the colours #000001…#0000NN for its own in the browser: Inferno's #000004 (KL 0,
    a collapsed dimension) was drawn bright red. The scale must stay dark at 0 and rise to bright."""
    heat = figures.kl_heatmap(np.array([[0.0, 1.0], [0.0, 2.0]]), np.array([1, 2]))["data"][0]
    stops = [color for _, color in heat["colorscale"]]
    assert not [c for c in stops if c.lower().startswith("#0000")], stops
    shades = [_luminance(c) for c in stops]
    assert shades[0] < 5 and shades == sorted(shades)  # black at 0, brighter all the way up
    assert heat["zmin"] == 0.0
