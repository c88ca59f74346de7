"""Map: the latent space of the selected model, projected to 2-D. Click a point, empty space, or lasso a group."""
import numpy as np
import streamlit as st

from ui import figures, state, url
from ui.state_items import (COLOUR_LABELS, MAP_COLOUR, MAP_COLOUR_WIDGET, MAP_FOCUS, MAP_METHOD_WIDGET,
                            MAP_SPLIT_WIDGET, METHOD_LABELS, SPLIT_LABELS)
from ui.text import md_escape
from ui.widgets import explain_missing, nats, show_image, thumbnails
from vae_core import images as imgs
from vae_core.projection import ProjectionSpec

state.ensure_navigation()  # a direct link on a fresh server must still run app.py (sidebar, routing)

METHODS = {label: method for method, label in METHOD_LABELS.items()}
COLORS = {label: mode for mode, label in COLOUR_LABELS.items()}
SPLITS = {label: split for split, label in SPLIT_LABELS.items()}
FOCUS = MAP_FOCUS  # what the detail panel shows: {"kind": "point"|"space"|"selection", ...}


def choose_view() -> tuple[ProjectionSpec, str, str, bool]:
    """The Map's own choices (projection, points, colour, 3-D), drawn from the declared state they show."""
    shown = st.session_state.get(state.SPEC) or ProjectionSpec()
    st.session_state.setdefault(MAP_METHOD_WIDGET, METHOD_LABELS[shown.method])  # a link or bundle may set these
    st.session_state.setdefault(MAP_SPLIT_WIDGET, SPLIT_LABELS[st.session_state.get(state.SPLIT) or "test"])
    st.session_state.setdefault(MAP_COLOUR_WIDGET, COLOUR_LABELS[st.session_state.get(MAP_COLOUR) or "label"])
    c1, c2, c3, c4 = st.columns([1, 1.3, 1.3, 1])
    method = c1.segmented_control("Projection", list(METHODS), key=MAP_METHOD_WIDGET) or METHOD_LABELS[shown.method]
    split_label = c2.selectbox("Points", list(SPLITS), key=MAP_SPLIT_WIDGET,
                               help="The test split (10,000 images for Fashion-MNIST) or every image (70,000: slower)")
    color_label = c3.selectbox("Colour by", list(COLORS), key=MAP_COLOUR_WIDGET)
    view_3d = c4.toggle("3-D view", key="map_3d", help="A rotatable 3-D projection; pick points on the 2-D map")
    spec, split = ProjectionSpec(method=METHODS[method], dims=2), SPLITS[split_label]
    if st.session_state.get(state.SPEC) != spec or st.session_state.get(state.SPLIT) != split:
        st.session_state[state.SPEC] = spec
        st.session_state[state.SPLIT] = split
        st.session_state.pop(FOCUS, None)  # row ids change meaning with the split
    st.session_state[MAP_COLOUR] = COLORS[color_label]
    return spec, split, method, view_3d


st.markdown("#### Latent map")
spec, split, method, view_3d = choose_view()
color_label = COLOUR_LABELS[st.session_state[MAP_COLOUR]]
cur = state.current(spec, split)
if cur is None:
    st.stop()

figure = None
with state.friendly_errors("Building the map"):
    encoded = cur.encoded()
    coords = cur.coords()
    figure = state.map_figure(cur, COLORS[color_label])
if figure is None:  # the error was shown; nothing to explore
    st.stop()
split_images, _ = cur.images()
names = cur.dataset.class_names
model = cur.loaded.model


def label_name(row: int) -> str:
    return cur.dataset.label_name(encoded.labels[row])


def read_focus(event) -> None:
    """Turn the chart's selection into the detail panel's focus. An empty selection (double-click) keeps the last."""
    selection = (event or {}).get("selection") or {}
    points = selection.get("points") or []
    ids = []
    for point in points:
        value = point.get("customdata")
        value = value[0] if isinstance(value, (list, tuple)) else value
        if value is not None:
            ids.append(int(value))
    rows = [i for i in ids if i >= 0]
    dragged = bool(selection.get("box") or selection.get("lasso"))
    if dragged and rows:
        st.session_state[FOCUS] = {"kind": "selection", "rows": rows}
    elif len(ids) == 1 and rows:
        st.session_state[FOCUS] = {"kind": "point", "row": rows[0]}
        st.session_state[state.PICK] = rows[0]
    elif len(ids) == 1:  # a background grid cell: empty space
        point = points[0]
        st.session_state[FOCUS] = {"kind": "space", "xy": [float(point["x"]), float(point["y"])]}


def open_in_generate(z: np.ndarray, label: str, row: int | None = None) -> None:
    handed = {"z": [float(v) for v in z], "label": label}
    if row is not None:  # Generate's "Dataset point" box then shows this point too
        handed["row"] = int(row)
    st.session_state[state.GENERATE_START] = handed


def point_detail(row: int) -> None:
    placer = cur.placer()
    z = encoded.mu[row]
    st.markdown(f"**#{row} · {md_escape(label_name(row))}**")
    left, right = st.columns(2)
    with left:
        show_image(split_images[row], "original")
    with right:
        show_image(model.decode_images(z)[0], "reconstruction")
    m1, m2, m3 = st.columns(3)
    m1.metric("ELBO", nats(encoded.elbo[row]), help="nats: reconstruction log-likelihood − KL")
    m2.metric("Recon", nats(encoded.recon[row]), help="−log p(x|z), nats")
    m3.metric("KL", nats(encoded.kl[row]), help="KL(q(z|x) ‖ p(z)), nats")
    explain_missing(encoded.elbo[row])
    idx, _ = placer.neighbours(z, k=9)
    idx = [int(i) for i in idx if int(i) != row][:8]
    st.caption("8 nearest neighbours in latent space")
    thumbnails([split_images[i] for i in idx], [f"#{i} {label_name(i)}" for i in idx], ncols=4, size=84)
    if st.button("Open in Generate", icon="🎛️", key="open_point", on_click=open_in_generate,
                 args=(z, f"#{row} ({label_name(row)})", row)):
        st.switch_page("pages/generate.py")


def space_detail(xy: list[float]) -> None:
    found = cur.placer().latent_at(np.asarray(xy, dtype=np.float32))
    st.markdown(f"**Empty space at ({xy[0]:.2f}, {xy[1]:.2f})**")
    show_image(model.decode_images(found.z)[0], "decoded from the nearest points' latents")
    if found.far:
        st.warning(f"This spot is far from any data (nearest point {found.distance:.2f} map units away): the decoder "
                   "is extrapolating, so expect an unusual image.", icon="🛰️")
    if st.button("Open in Generate", icon="🎛️", key="open_space", on_click=open_in_generate,
                 args=(found.z, f"map spot ({xy[0]:.1f}, {xy[1]:.1f})")):
        st.switch_page("pages/generate.py")


def selection_detail(rows: list[int]) -> None:
    rows = sorted(set(rows))
    counts = np.bincount(encoded.labels[rows], minlength=len(names))
    top = ", ".join(f"{names[i]} {counts[i]}" for i in np.argsort(-counts)[:4] if counts[i])
    st.markdown(f"**{len(rows):,} points selected** · {md_escape(top)}")
    shown = rows[:64]
    sheet = imgs.to_png(imgs.grid(split_images[shown], ncols=8), 2)
    st.image(sheet, output_format="PNG", caption=f"{len(shown)} of {len(rows):,} selected images")
    c1, c2 = st.columns(2)
    c1.download_button("Download this grid (PNG)", data=sheet, file_name="selection.png", mime="image/png",
                       on_click="ignore", key="selection_png", icon="⬇️")
    c2.download_button(f"Download the {len(rows):,} selected points as CSV", data=lambda: export_csv(rows),
                       file_name=f"{cur.loaded.path.name}-selection.csv", mime="text/csv", on_click="ignore",
                       key="selection_csv", icon="⬇️", help="index, label, μ (all dims), map coordinates, "
                                                            "reconstruction error and KL of the selected points")
    mean_z = encoded.mu[rows].mean(axis=0)
    c1, c2 = st.columns([1, 2])
    with c1:
        show_image(model.decode_images(mean_z)[0], "decoded mean latent", size=140)
    with c2:
        saved = st.session_state.setdefault(state.SELECTIONS, {})
        name = st.text_input("Keep this selection as", value=f"selection {len(saved) + 1}", key="selection_name")
        if st.button("Keep selection", key="keep_selection"):
            saved[name.strip() or f"selection {len(saved) + 1}"] = [int(r) for r in rows]
            st.toast(f"Kept “{name}” ({len(rows)} points): use it on the Interpolate page.")
        if st.button("Open mean in Generate", key="open_mean", on_click=open_in_generate,
                     args=(mean_z, f"mean of {len(rows)} points")):
            st.switch_page("pages/generate.py")


def export_csv(rows=None) -> bytes:
    """`rows` (all points when None) as CSV: index, label, μ, map x/y, reconstruction error, KL."""
    import io
    buffer = io.StringIO()
    dims = encoded.mu.shape[1]
    header = ["index", "label", *[f"mu_{d}" for d in range(dims)], "map_x", "map_y", "recon_error", "kl"]
    buffer.write(",".join(header) + "\n")
    for row in (range(len(encoded)) if rows is None else rows):
        values = [str(row), label_name(row).replace(",", " "), *[f"{v:.6g}" for v in encoded.mu[row]],
                  f"{coords[row, 0]:.6g}", f"{coords[row, 1]:.6g}", f"{encoded.recon[row]:.6g}",
                  f"{encoded.kl[row]:.6g}"]
        buffer.write(",".join(values) + "\n")
    return buffer.getvalue().encode()


@st.fragment
def map_and_detail() -> None:
    """Map + detail panel in one fragment: a click reruns only this, and the map's spec never changes."""
    left, right = st.columns([3, 2], gap="medium")
    with left:
        if view_3d:
            with state.friendly_errors("The 3-D projection"):
                coords3 = cur.coords(ProjectionSpec(method=spec.method, dims=3))
                color = {"label": encoded.labels, "recon": encoded.recon, "kl": encoded.kl}[COLORS[color_label]]
                st.plotly_chart(figures.latent_map_3d(coords3, color, COLORS[color_label], names), key="map3d")
            event = None
        else:
            event = st.plotly_chart(figure, key="map", on_select="rerun", selection_mode=("points", "box", "lasso"),
                                    config={"displaylogo": False, "scrollZoom": True})
        st.caption(f"{len(encoded):,} points · {method} of the {encoded.mu.shape[1]}-D encoder means · "
                   "click a point or empty space; Box/Lasso in the toolbar selects groups; zoom persists.")
    read_focus(event if event is not None else None)
    with right:
        focus = st.session_state.get(FOCUS)
        with state.friendly_errors("Showing the detail"):
            if focus is None:
                st.info("Click a point to see the original, its reconstruction and its neighbours; click empty "
                        "space to decode that spot; lasso a group to see it as a grid.", icon="👈")
            elif focus["kind"] == "point" and focus["row"] < len(encoded):
                point_detail(focus["row"])
            elif focus["kind"] == "space":
                space_detail(focus["xy"])
            elif focus["kind"] == "selection":
                selection_detail([r for r in focus["rows"] if r < len(encoded)])
    url.publish()  # a click reruns only this fragment: the address bar follows the picked point


map_and_detail()
st.download_button(f"Download all {len(encoded):,} points as CSV", data=export_csv,
                   file_name=f"{cur.loaded.path.name}-map.csv", mime="text/csv", on_click="ignore", icon="⬇️",
                   help="Every point of the map (a lasso or box selection has its own download beside it): index, "
                        "label, μ (all dims), map coordinates, reconstruction error and KL")
