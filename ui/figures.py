"""Plotly figures for st.plotly_chart, returned as plain dicts: mini maps, loss curves, line charts, the 3-D view,
and the rasters the latent pad's mini map paints. (The Map itself is drawn in the page by its component,
ui/components/map/; `latent_map` is the st.plotly_chart map it replaced, kept as bench/map_apps.py's reference.)
"""
from __future__ import annotations

import numpy as np
import plotly.colors as plotly_colors
import plotly.graph_objects as go

# Okabe-Ito + Tableau: distinguishable, colour-blind friendly for up to 10 classes.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
# Every chart's mode bar: nothing leaves this machine, so no Plotly logo (a link to plotly.com) and no "Share
# chart…" (Streamlit's Plotly offers an upload to Plotly Cloud by default). The map component's PLOT_CONFIG
# (ui/components/map/map.mjs) says the same.
CHART_CONFIG = {"displaylogo": False, "showSendToCloud": False, "showEditInChartStudio": False,
                "plotlyServerURL": "", "modeBarButtonsToRemove": ["sendDataToCloud"]}
GRID_SIZE = 80  # invisible background points make empty space clickable
GRID_ID_OFFSET = 1_000_000  # customdata of grid cells: -(GRID_ID_OFFSET + cell) keeps them apart from row ids
# A mini map's dataset points, picked mark or not. A click selects one mark, and Plotly then draws every point of
# every other trace as "unselected": at 0.2x their opacity by default, which made the dataset vanish behind a
# picked star (issue 22). The points are context, so a pick must not dim them. Their transparency is in their
# colours, and their unselected opacity is 1: in a Scattergl trace with per-point colours, Plotly multiplies the
# unselected opacity into marker.opacity (an unselected 0.35 drew them at 0.12), where an SVG trace replaces it.
MINI_MAP_OPACITY = 0.35
UNPICKED_MARK_OPACITY = 0.6  # the other marks when one is picked: still visible, the picked one stands out


def class_colorscale(n_classes: int, alpha: float = 1.0) -> list:
    """A stepped colourscale so integer labels map to flat palette colours (`alpha` < 1: see-through ones)."""
    n = max(n_classes, 1)
    scale = []
    for i in range(n):
        color = PALETTE[i % len(PALETTE)]
        if alpha < 1:
            color = f"rgba({int(color[1:3], 16)},{int(color[3:5], 16)},{int(color[5:7], 16)},{alpha})"
        scale += [[i / n, color], [(i + 1) / n, color]]
    return scale


def grid_cells(bounds: tuple[float, float, float, float], size: int = GRID_SIZE) -> np.ndarray:
    """Centres of a size×size grid over the map's bounds, float32 (size², 2)."""
    x0, x1, y0, y1 = bounds
    xs = np.linspace(x0, x1, size, dtype=np.float32)
    ys = np.linspace(y0, y1, size, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def map_bounds(coords: np.ndarray, margin: float = 0.08) -> tuple[float, float, float, float]:
    lo, hi = coords[:, :2].min(axis=0), coords[:, :2].max(axis=0)
    pad = (hi - lo) * margin
    return float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1])


def latent_map(coords: np.ndarray, color: np.ndarray, color_mode: str, class_names: list[str],
               hover: list[str] | None = None, height: int = 640, point_size: float | None = None) -> dict:
    """The big 2-D map: a clickable grid underneath, one Scattergl trace of all points, legend-only class traces."""
    n = len(coords)
    size = point_size or (5 if n <= 12_000 else 3)
    bounds = map_bounds(coords)
    cells = grid_cells(bounds)
    fig = go.Figure()
    fig.add_trace(go.Scattergl(
        x=cells[:, 0], y=cells[:, 1], mode="markers", name="empty space",
        customdata=-(GRID_ID_OFFSET + np.arange(len(cells), dtype=np.int32)),
        marker=dict(size=9, color="rgba(0,0,0,0.001)"), hoverinfo="none", showlegend=False))
    marker = dict(size=size, color=color, opacity=0.85, line=dict(width=0))
    if color_mode == "label":
        marker.update(colorscale=class_colorscale(len(class_names)), cmin=-0.5, cmax=len(class_names) - 0.5)
    else:
        marker.update(colorscale="Viridis", showscale=True,
                      colorbar=dict(title=dict(text="recon error" if color_mode == "recon" else "KL (nats)"),
                                    thickness=12))
    fig.add_trace(go.Scattergl(
        x=coords[:, 0], y=coords[:, 1], mode="markers", name="data",
        customdata=np.arange(n, dtype=np.int32), marker=marker, showlegend=False,
        # a click selects one point; Plotly would dim all the others, hiding the map the user is reading
        unselected=dict(marker=dict(opacity=0.85)), selected=dict(marker=dict(opacity=1.0)),
        hovertext=hover, hoverinfo="text" if hover is not None else "x+y"))
    if color_mode == "label":  # legend entries only: they hold no points, so selections stay on one trace
        for i, name in enumerate(class_names):
            fig.add_trace(go.Scattergl(x=[None], y=[None], mode="markers", name=name,
                                       marker=dict(size=9, color=PALETTE[i % len(PALETTE)]), hoverinfo="skip"))
    fig.update_layout(
        height=height, margin=dict(l=0, r=0, t=8, b=0), dragmode="zoom", hovermode="closest",
        xaxis=dict(visible=False, range=list(bounds[:2])), yaxis=dict(visible=False, range=list(bounds[2:])),
        legend=dict(orientation="h", y=-0.02, itemclick=False, itemdoubleclick=False),
        plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)", uirevision="map")
    return fig.to_dict()


COLOUR_TITLES = {"recon": "recon error (nats)", "kl": "KL (nats)"}  # a numeric colour's name on its colour bar


def latent_map_3d(coords: np.ndarray, color: np.ndarray, color_mode: str, class_names: list[str],
                  axis_name: str = "axis", height: int = 640) -> dict:
    """The 3-D view: rotate and zoom (picking happens on the 2-D map). Coloured by label, one trace per class, so the
    legend names the classes and a click on an entry hides one; by a number, one trace with its colour bar. The axes
    are named after the projection (`axis_name` 1, 2, 3)."""
    color = np.asarray(color)
    if color_mode == "label":
        labels = color.astype(int)
        traces = [go.Scatter3d(x=coords[labels == k, 0], y=coords[labels == k, 1], z=coords[labels == k, 2],
                               mode="markers", name=f"{name} ({int((labels == k).sum()):,})", hoverinfo="skip",
                               marker=dict(size=2, color=PALETTE[k % len(PALETTE)], opacity=0.8))
                  for k, name in enumerate(class_names) if (labels == k).any()]
    else:
        traces = [go.Scatter3d(x=coords[:, 0], y=coords[:, 1], z=coords[:, 2], mode="markers", hoverinfo="skip",
                               showlegend=False,
                               marker=dict(size=2, color=color, opacity=0.8, colorscale="Viridis", showscale=True,
                                           colorbar=dict(title=COLOUR_TITLES.get(color_mode, color_mode))))]
    axis = lambda k: dict(title=dict(text=f"{axis_name} {k}"), showticklabels=False, showspikes=False)  # noqa: E731
    fig = go.Figure(traces)
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=0, b=0),
                      legend=dict(title=dict(text="Class (click to hide)"), itemsizing="constant", x=0, y=1,
                                  bgcolor="rgba(0,0,0,0.35)"),
                      scene=dict(xaxis=axis(1), yaxis=axis(2), zaxis=axis(3)))
    return fig.to_dict()


def mini_map(coords: np.ndarray, labels: np.ndarray, n_classes: int, marks: dict[str, np.ndarray],
             height: int = 300, max_points: int = 5000, path: np.ndarray | None = None) -> dict:
    """A small static map with highlighted positions (the current z, uploads, an interpolation path)."""
    step = max(1, len(coords) // max_points)
    fig = go.Figure(go.Scattergl(
        x=coords[::step, 0], y=coords[::step, 1], mode="markers", hoverinfo="skip", showlegend=False,
        marker=dict(size=3, color=labels[::step], colorscale=class_colorscale(n_classes, MINI_MAP_OPACITY),
                    cmin=-0.5, cmax=n_classes - 0.5),
        unselected=dict(marker=dict(opacity=1.0))))
    symbols = ["star", "diamond", "x", "circle-open", "square"]
    # paths first: Plotly draws later traces on top, and an endpoint must not hide under a path
    ordered = sorted(enumerate(marks.items()), key=lambda item: not item[1][0].endswith("path"))
    for i, (name, points) in ordered:
        points = np.atleast_2d(points)
        mode = "markers+lines" if name.endswith("path") else "markers"
        fig.add_trace(go.Scatter(x=points[:, 0], y=points[:, 1], mode=mode,
                                 name=name, marker=dict(size=14 if len(points) == 1 else 9,
                                                        symbol=symbols[i % len(symbols)], color="white",
                                                        line=dict(width=2, color="black")),
                                 unselected=dict(marker=dict(opacity=UNPICKED_MARK_OPACITY))))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=0, b=0), xaxis=dict(visible=False),
                      yaxis=dict(visible=False), legend=dict(orientation="h", y=-0.05),
                      plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)")
    return fig.to_dict()


def loss_curves(history: list[dict], height: int = 300) -> dict:
    """Reconstruction, KL and −ELBO per epoch, train (solid) and test (dashed)."""
    epochs = [h["epoch"] for h in history]
    fig = go.Figure()
    for key, color in (("recon", "#4e79a7"), ("kl", "#f28e2b"), ("elbo", "#59a14f")):
        for split, dash in (("train", "solid"), ("test", "dash")):
            values = [(-h[f"{split}_{key}"] if key == "elbo" else h[f"{split}_{key}"]) for h in history
                      if f"{split}_{key}" in h]
            if values:
                fig.add_trace(go.Scatter(x=epochs[:len(values)], y=values, mode="lines+markers",
                                         name=f"{'−ELBO' if key == 'elbo' else key} ({split})",
                                         line=dict(color=color, dash=dash)))
    fig.update_xaxes(dtick=1 if len(epochs) <= 20 else None)  # whole epochs, not 1.2, 1.4…
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=10, b=0), xaxis_title="epoch",
                      yaxis_title="nats / image", legend=dict(orientation="h", y=-0.25))
    return fig.to_dict()


def line_chart(y: np.ndarray, title: str, height: int = 160, x: np.ndarray | None = None,
               hover: str | None = None) -> dict:
    fig = go.Figure(go.Scatter(x=None if x is None else np.asarray(x), y=np.asarray(y, dtype=np.float32),
                               mode="lines+markers", hovertemplate=hover))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=24, b=0), title=dict(text=title, font=dict(size=13)))
    return fig.to_dict()


# Streamlit's Plotly theme names its own colours by the placeholders #000001…#0000NN and swaps them in the browser,
# so Inferno's first stop (#000004, black) was drawn red: the collapsed rows looked hottest. One step off, still black.
KL_COLORSCALE = [[i / (len(plotly_colors.sequential.Inferno) - 1), "#010004" if c.lower().startswith("#0000") else c]
                 for i, c in enumerate(plotly_colors.sequential.Inferno)]


def kl_heatmap(kl: np.ndarray, epochs: np.ndarray, height: int = 260) -> dict:
    """The training movie's KL per latent dimension (rows) x kept epoch (columns), nats: a dimension the model gave
    up on (posterior collapse) is a row going dark. `kl`: (epochs, dims) as map/movie.Movie.kl_heatmap gives it."""
    kl = np.asarray(kl, dtype=np.float32)
    dims = np.arange(kl.shape[1])
    fig = go.Figure(go.Heatmap(z=kl.T, x=[str(int(e)) for e in epochs], y=[f"z{d}" for d in dims],
                               colorscale=KL_COLORSCALE, zmin=0.0, colorbar=dict(title=dict(text="KL"), thickness=10),
                               hovertemplate="epoch %{x} · %{y}: KL %{z:.2f} nats<extra></extra>"))
    fig.update_yaxes(autorange="reversed", tickfont=dict(size=10))  # z0 on top, as the latent is usually read
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=24, b=0), xaxis_title="epoch",
                      title=dict(text="KL per dimension × epoch (dark rows: collapsed)", font=dict(size=13)))
    return fig.to_dict()


def elbo_split_chart(epochs: np.ndarray, recon: np.ndarray, kl: np.ndarray, height: int = 200) -> dict:
    """Per kept epoch: Recon, KL and −ELBO = Recon + KL (nats per test image), one line each."""
    recon, kl = np.asarray(recon, dtype=np.float64), np.asarray(kl, dtype=np.float64)
    x = [int(e) for e in epochs]
    fig = go.Figure()
    for name, values, color in (("−ELBO = Recon + KL", recon + kl, "#59a14f"), ("Recon", recon, "#4e79a7"),
                                ("KL", kl, "#f28e2b")):
        fig.add_trace(go.Scatter(x=x, y=values, mode="lines+markers", name=name, line=dict(color=color),
                                 hovertemplate=f"epoch %{{x}} · {name.split(' ')[0]} %{{y:.1f}} nats<extra></extra>"))
    fig.update_xaxes(dtick=1 if len(x) <= 20 else None)
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=24, b=0), yaxis_title="nats / image",
                      title=dict(text="The ELBO split per epoch", font=dict(size=13)),
                      legend=dict(orientation="h", y=-0.3))
    return fig.to_dict()


def raster_map(coords: np.ndarray, labels: np.ndarray, n_classes: int, size: int = 300) -> tuple[np.ndarray, tuple]:
    """The map as a small RGB picture (uint8) and its data bounds. A picture, not a Plotly chart, where the map only
    shows a position that moves with every slider step: the browser redrew a 5,000-point chart for 150–300 ms."""
    x0, x1, y0, y1 = map_bounds(coords)
    image = np.full((size, size, 3), 24, dtype=np.uint8)
    px = np.clip(((coords[:, 0] - x0) / (x1 - x0) * (size - 2)).astype(int), 0, size - 2)
    py = np.clip(((y1 - coords[:, 1]) / (y1 - y0) * (size - 2)).astype(int), 0, size - 2)
    palette = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in PALETTE], dtype=np.uint8)
    colors = palette[np.asarray(labels) % len(palette)] // 4 * 3  # dimmed: the marker is what matters here
    for dy in (0, 1):
        for dx in (0, 1):
            image[py + dy, px + dx] = colors
    return image, (x0, x1, y0, y1)


def mark_raster(image: np.ndarray, bounds: tuple, xy, radius: int = 8) -> np.ndarray:
    """A copy of a raster map with a white cross (black outline) at data point `xy`, clipped to the picture."""
    size = image.shape[0]
    x0, x1, y0, y1 = bounds
    cx = int(round((float(xy[0]) - x0) / (x1 - x0) * (size - 2)))
    cy = int(round((y1 - float(xy[1])) / (y1 - y0) * (size - 2)))
    cx, cy = min(max(cx, 0), size - 1), min(max(cy, 0), size - 1)
    marked = image.copy()
    for width, color in ((3, 0), (1, 255)):
        lo, hi = max(cy - radius, 0), min(cy + radius + 1, size)
        marked[lo:hi, max(cx - width, 0):cx + width + 1] = color
        lo, hi = max(cx - radius, 0), min(cx + radius + 1, size)
        marked[max(cy - width, 0):cy + width + 1, lo:hi] = color
    return marked


SIDE_COLORS = {"A": "#4e79a7", "B": "#f28e2b"}  # Compare's two models, the same in every chart


def plain(text) -> str:
    """User or file text (a model's or a class's name) for a Plotly label: Plotly reads <b>, <a href=…> and entities
    in its texts, so a name is shown as its characters only once &, < and > are entities."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def bars(categories, series: dict, title: str, height: int = 220, y_title: str = "",
         y_range: tuple[float, float] | None = None, hover: str | None = None) -> dict:
    """Bars per category, one colour per series (grouped when several): Compare's per-class numbers and KL per
    dimension. `series`: {name: values}, coloured by SIDE_COLORS when the name starts with "A" or "B". Names and
    categories are shown as plain text (`plain`)."""
    fig = go.Figure()
    for k, (name, values) in enumerate(series.items()):
        color = SIDE_COLORS.get(str(name)[:1], PALETTE[k % len(PALETTE)])
        fig.add_trace(go.Bar(x=[plain(c) for c in categories], y=[float(v) for v in values], name=plain(name),
                             marker_color=color, hovertemplate=hover))
    fig.update_layout(barmode="group", height=height, margin=dict(l=0, r=0, t=28, b=0),
                      title=dict(text=title, font=dict(size=13)), yaxis_title=y_title, showlegend=len(series) > 1,
                      # under the bars: above them, long model names ran over the title
                      legend=dict(orientation="h", y=-0.18, x=0, xanchor="left", yanchor="top"))
    if y_range is not None:
        fig.update_yaxes(range=list(y_range))
    fig.update_xaxes(type="category")
    return fig.to_dict()
