"""Map: the latent space of the selected model, projected to 2-D. Click a point, empty space, or lasso a group."""
from ui import page  # light: Streamlit and the standard library

# First, before the imports below (seconds on a fresh server): a direct link must run app.py (sidebar, routing).
page.ensure_navigation()

import numpy as np
import streamlit as st

from ui import figures, jobs, loaders, map_data, selection
from ui.movie import movie_section
from ui.steps import Steps
from ui.session import keys, url
from ui.components import map as map_component
from ui.session.keys import (COLOUR_MODES, MAP_COLOUR, MAP_FOCUS, MAP_METHOD_WIDGET, MAP_PATHS, MAP_SPLIT_WIDGET,
                             METHOD_LABELS, SPLIT_LABELS)
from ui.text import md_escape
from ui.widgets import chart, elbo_metrics, explain_missing, show_image, thumbnails
from vae_core import images as imgs
from vae_core.map.inverse import MIN_POINTS
from vae_core.metrics import POINT_ESTIMATOR
from vae_core.map.projection import ProjectionSpec

METHODS = {label: method for method, label in METHOD_LABELS.items() if method != "latent"}
SPLITS = {label: split for split, label in SPLIT_LABELS.items()}
FOCUS = MAP_FOCUS  # what the detail panel shows: {"kind": "point"|"space"|"selection", ...}
SEEN = "map_event_seen"  # seq of the last map event handled (each click/selection carries a new one)
MAP_KEY = "map"
FAR_IMAGE = {  # what the image of a spot far from the data is, by the way empty space is decoded
    "knn": "The image is the blend of the 8 nearest points' latents, decoded: a guess.",
    "learned": "The image is the learned inverse's guess for this spot, decoded.",
    "exact": "The image is the decoder's output at this very z (the map is the latent space).",
}
PATHS = MAP_PATHS  # {name: (N, D) latents}: paths another page asks the Map to draw (placed with the Placer)
MAP_HEIGHT = 560  # px: with the rows above and the legend below, the map fits a 1400×1000 screen
PREPARED = "map_prepared"  # the last map this session drew: its preparation steps are listed only for a new one


def choose_view(latent_dim: int) -> tuple[ProjectionSpec, str, str, bool]:
    """The Map's own choices (projection, points, 3-D), drawn from the declared state they show (a link or a view
    bundle may have set it). A 2-D latent is offered as its own map: exactly invertible."""
    methods = dict(METHODS)
    if latent_dim == 2:
        methods = {METHOD_LABELS["latent"]: "latent", **methods}
    shown = st.session_state.get(keys.SPEC) or ProjectionSpec()
    if shown.method not in methods.values():  # "latent" from another model, say
        shown = ProjectionSpec(method=next(iter(methods.values())))
    if st.session_state.get(MAP_METHOD_WIDGET) not in methods:
        st.session_state[MAP_METHOD_WIDGET] = METHOD_LABELS[shown.method]
    st.session_state.setdefault(MAP_SPLIT_WIDGET, SPLIT_LABELS[st.session_state.get(keys.SPLIT) or "test"])
    # one row, the title with the map's own choices: the map, the lens and the detail must fit a 1400×1000 screen
    c0, c1, c2, c3 = st.columns([1.1, 1.4, 1.3, 0.9], vertical_alignment="bottom")
    c0.markdown("#### Latent map")
    projection = c1.segmented_control("Projection", list(methods), key=MAP_METHOD_WIDGET) \
        or METHOD_LABELS[shown.method]
    split_label = c2.selectbox("Points", list(SPLITS), key=MAP_SPLIT_WIDGET,
                               help="The test split (10,000 images for Fashion-MNIST) or every image (70,000: slower)")
    view_3d = c3.toggle("3-D view", key="map_3d", help="A rotatable 3-D projection; pick points on the 2-D map",
                        disabled=methods[projection] == "latent")
    spec, split = ProjectionSpec(method=methods[projection], dims=2), SPLITS[split_label]
    if st.session_state.get(keys.SPLIT) not in (None, split):
        st.session_state.pop(FOCUS, None)  # row ids change meaning with the split (not with the projection)
    # None: a first visit by a link that named a point but no split or projection (/?point=42): the defaults,
    # which the point was checked against, so its detail stays
    st.session_state[keys.SPEC], st.session_state[keys.SPLIT] = spec, split
    return spec, split, projection, view_3d


def waiting_note(requested: ProjectionSpec, job) -> None:
    """While the map asked for is computed in the background: what is shown instead, its progress, or why it failed."""
    name = f"{'3-D ' if requested.dims == 3 else ''}{METHOD_LABELS[requested.method]}"
    if job.status == jobs.FAILED:
        st.warning(f"The {name} map could not be computed, so the PCA map is shown: {md_escape(job.error)}", icon="⚠️")
        st.button("Try again", key=f"map_retry_{requested.key()}", on_click=loaders.retry, args=(job.key,))
        return
    st.info(f"This model's {name} map is being computed in the background, so the PCA map is shown meanwhile: "
            f"everything works on it, on every page. The {name} map replaces it when ready, keeping your picked "
            "point and selection.", icon="⏳")


selected = selection.selected_model()
if selected is None:
    st.stop()
spec, split, projection, view_3d = choose_view(selected.config.latent_dim)
this_map, encoding = (str(selected.path), split, spec), f"Encoding: {SPLIT_LABELS[split].lower()}"
preparing = Steps("Preparing the map", [encoding, "Projecting it", "The points for the page",
                                        "The lens, the thumbnails and the dense regions"],
                  shown=st.session_state.get(PREPARED) != this_map)  # where the map will be, while it is built
with preparing.step(encoding):
    cur = selection.current(spec, split)  # `cur.spec` is PCA while the requested map is computed (`cur.requested`)
if cur is None:
    st.stop()
spec3, job3 = None, None
with page.friendly_errors("The 3-D projection"):
    if view_3d:
        spec3, job3 = cur.map_now(ProjectionSpec(method=spec.method, dims=3))

published = None
with page.friendly_errors("Building the map"):
    encoded = cur.encoded()
    with preparing.step("Projecting it"):
        coords = cur.coords()
    with preparing.step("The points for the page"):
        published = map_data.points_url(cur)
if published is None:  # the error was shown; nothing to explore
    st.stop()
points_url, points = published
# once per full run, not per click: both scan every point (a million on the largest maps)
frame, far = map_data.bounds(points), map_data.far_distance(points)
with preparing.step("The lens, the thumbnails and the dense regions"):
    # the learned inverse of a stand-in map is not fitted: the nearest points' blend decodes it until the real one
    inverse_fit, inverse_job = (None, None) if cur.requested else map_data.inverse_now(cur)
    map_data.prepare_layers(cur, points, frame)  # what the map's fragment then finds ready
preparing.close()
st.session_state[PREPARED] = this_map
for dims, job in ((2, cur.pending), (3, job3)):
    if job is not None:
        waiting_note(ProjectionSpec(method=spec.method, dims=dims), job)
jobs.watch([cur.pending, job3, inverse_job])  # each running job's progress; the page runs again when one ends
split_images, _ = cur.images()
names = cur.dataset.class_names
model = cur.loaded.model


def label_name(row: int) -> str:
    return cur.dataset.label_name(encoded.labels[row])


def read_event() -> None:
    """Turn the map's last click or selection (sent by the page, or set by a test) into the detail panel's focus."""
    event = map_component.new_event(MAP_KEY, SEEN, len(encoded))  # checked: a forged event is dropped
    if not event:
        return
    if event["kind"] == "point":
        st.session_state[FOCUS] = {"kind": "point", "row": event["row"]}
        st.session_state[keys.PICK] = event["row"]
    elif event["kind"] == "space":  # a spot is of the map it was clicked on: another map puts other latents there
        st.session_state[FOCUS] = {"kind": "space", "xy": event["xy"], "map": cur.spec.key()}
        st.session_state.pop(keys.PICK, None)  # no point is picked now: the link must not reopen the last one
    else:
        st.session_state[FOCUS] = {"kind": "selection", "rows": event["rows"], "total": event["total"]}


def highlights(focus: dict | None) -> dict:
    """What the map marks for the detail panel's focus: the picked point and its 8 neighbours, a spot, a selection."""
    if not focus:
        return {}
    if focus["kind"] == "point":
        row = focus["row"]
        idx, _ = cur.placer().neighbours(encoded.mu[row], k=9)
        return {"row": row, "neighbours": [int(i) for i in idx if int(i) != row][:8]}
    if focus["kind"] == "space":  # the spot and the points its image was blended from (or fitted near)
        found = cur.placer().latent_at(np.asarray(focus["xy"], dtype=np.float32))
        return {"xy": focus["xy"], "neighbours": [int(i) for i in found.neighbours]}
    return {"rows": focus["rows"][:map_component.MAX_SELECTION]}


def overlays() -> dict:
    """Uploads (Encode) as stars and any paths another page handed over, placed on this map."""
    placer, found = cur.placer(), {"uploads": [], "paths": []}
    for up in st.session_state.get(keys.UPLOADS) or []:
        if len(np.ravel(up["mu"])) == encoded.mu.shape[1]:
            x, y = placer.place(np.asarray(up["mu"], dtype=np.float32))
            found["uploads"].append({"name": str(up["name"])[:40], "x": float(x), "y": float(y)})
    for name, path in (st.session_state.get(PATHS) or {}).items():
        path = np.asarray(path, dtype=np.float32)
        if path.ndim == 2 and path.shape[1] == encoded.mu.shape[1]:
            found["paths"].append({"name": str(name), **map_component.xy_list(placer.place(path))})
    return found


def open_in_generate(z: np.ndarray, label: str, row: int | None = None) -> None:
    handed = {"z": [float(v) for v in z], "label": label}
    if row is not None:  # Generate's "Dataset point" box then shows this point too
        handed["row"] = int(row)
    st.session_state[keys.GENERATE_START] = handed


def point_detail(row: int) -> None:
    placer = cur.placer()
    z = encoded.mu[row]
    st.markdown(f"**#{row} · {md_escape(label_name(row))}**")
    left, right = st.columns(2)
    with left:
        show_image(split_images[row], "original")
    with right:
        show_image(model.decode_images(z)[0], "reconstruction")
    elbo_metrics(encoded.elbo[row], encoded.kl[row], POINT_ESTIMATOR)
    explain_missing(encoded.elbo[row])
    idx, _ = placer.neighbours(z, k=9)
    idx = [int(i) for i in idx if int(i) != row][:8]
    st.caption("8 nearest neighbours in latent space")
    thumbnails([split_images[i] for i in idx], [f"#{i} {label_name(i)}" for i in idx], ncols=4, size=84)
    if st.button("Open in Generate", icon="🎛️", key="open_point", on_click=open_in_generate,
                 args=(z, f"#{row} ({label_name(row)})", row)):
        st.switch_page("pages/generate.py")


def inverse_choice() -> tuple[str, object]:
    """How empty space is decoded (the lens and a click): the better of the two measured guesses by default."""
    if len(encoded) < MIN_POINTS:  # a tiny test split (a small folder of pictures): the 8-nearest blend alone
        st.caption(f"Empty space is decoded from the nearest points' latents: {len(encoded)} points are too few to "
                   "learn the map's inverse from.")
        return "knn", None
    if cur.spec.method == "latent":  # the map is the latent space
        return "exact", None
    fitted = inverse_fit
    if fitted is None:  # a stand-in map, or the inverse is being fitted (or failed): the blend meanwhile
        why = (f"the learned inverse could not be fitted ({md_escape(inverse_job.error)})"
               if inverse_job is not None and inverse_job.status == jobs.FAILED else
               "the learned inverse is being fitted" if inverse_job is not None else
               "this map stands in for the one being computed")
        st.caption(f"Empty space is decoded from a blend of the 8 nearest points' latents: {why}.")
        return "knn", None
    learned, fidelity = fitted
    options = ["learned", "knn"] if fidelity.better == "learned" else ["knn", "learned"]
    method = st.radio("Decode empty space with", options, format_func=lambda m: map_data.INVERSE_NAMES[m],
                      key=f"map_inverse_{cur.spec.method}", horizontal=True,
                      help=f"Measured on {fidelity.n_points:,} held-out points: each guess decoded against the decoded "
                           "encoder mean, mean absolute difference in grey levels (0–255). The better is the default.")
    st.caption(f"Error on held-out points (grey levels, lower is better): learned inverse {fidelity.learned:.1f} · "
               f"8-nearest blend {fidelity.knn:.1f}")
    return method, learned


def space_detail(xy: list[float], method: str, learned) -> None:
    spot = np.asarray(xy, dtype=np.float32)
    found = cur.placer().latent_at(spot)
    st.markdown(f"**Empty space at ({xy[0]:.2f}, {xy[1]:.2f})**")
    z = {"exact": lambda: spot.copy(), "learned": lambda: learned.latent_at(spot), "knn": lambda: found.z}[method]()
    show_image(model.decode_images(z)[0], f"decoded from {map_data.INVERSE_NAMES[method]}")
    spacing = points.arrays["nn"][np.isfinite(points.arrays["nn"])]
    share = float((spacing <= found.distance).mean() * 100) if len(spacing) else 0.0
    if found.far:
        rank = ("farther than any point lies from its own nearest neighbour" if share >= 99.5 else
                f"farther than {share:.0f}% of points lie from their own nearest neighbour")
        st.warning(f"This spot is outside the data: the nearest point is {found.distance:.2f} map units away, {rank}. "
                   f"{FAR_IMAGE[method]} No image was put here, so this is not something the model was shown.",
                   icon="🛰️")
    else:
        st.caption(f"Nearest point {found.distance:.2f} map units away (within the data: {share:.0f}% of points "
                   "are at least that close to their own nearest neighbour).")
    used = [int(i) for i in found.neighbours]
    st.caption("The 8 points blended, nearest first" if method == "knn" else
               "The 8 nearest points on the map: the inverse was fitted on pairs like these and guesses between them")
    thumbnails([split_images[i] for i in used], [f"#{i} {label_name(i)}" for i in used], ncols=4, size=64)
    if st.button("Open in Generate", icon="🎛️", key="open_space", on_click=open_in_generate,
                 args=(z, f"map spot ({xy[0]:.1f}, {xy[1]:.1f})")):
        st.switch_page("pages/generate.py")


def selection_detail(rows: list[int], total: int) -> None:
    rows = sorted(set(rows))
    if not rows:
        st.info("The box or lasso holds no points: draw it around some points (hidden classes are not selected).",
                icon="🫙")
        return
    if total > len(rows):
        st.caption(f"The selection holds {total:,} points; the first {len(rows):,} are used here.")
    counts = np.bincount(encoded.labels[rows], minlength=len(names))
    top = ", ".join(f"{names[i]} {counts[i]}" for i in np.argsort(-counts)[:4] if counts[i])
    st.markdown(f"**{len(rows):,} points selected** · {md_escape(top)}")
    shown = rows[:64]
    sheet = imgs.to_png(imgs.grid(split_images[shown], ncols=8), 2)
    st.image(sheet, output_format="PNG", caption=f"{len(shown)} of {len(rows):,} selected images")
    st.download_button("Download this grid (PNG)", data=sheet, file_name="selection.png", mime="image/png",
                       on_click="ignore", key="selection_png", icon="⬇️")
    mean_z = encoded.mu[rows].mean(axis=0)
    c1, c2 = st.columns([1, 2])
    with c1:
        show_image(model.decode_images(mean_z)[0], "decoded mean latent", size=140)
    with c2:
        saved = st.session_state.setdefault(keys.SELECTIONS, {})
        name = st.text_input("Keep this selection as", value=f"selection {len(saved) + 1}", key="selection_name")
        if st.button("Keep selection", key="keep_selection"):
            saved[name.strip() or f"selection {len(saved) + 1}"] = [int(r) for r in rows]
            st.toast(f"Kept “{name}” ({len(rows)} points): use it on the Interpolate page.")
        if st.button("Open mean in Generate", key="open_mean", on_click=open_in_generate,
                     args=(mean_z, f"mean of {len(rows)} points")):
            st.switch_page("pages/generate.py")


def export_csv(rows=None) -> bytes:
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


def map_caption() -> str:
    """What the map is, in one line above it (its hints are in the panel beside it)."""
    method = f"{'3-D ' if view_3d else ''}{METHOD_LABELS[cur.spec.method]}"
    text = f"{len(encoded):,} points · {method} of the {encoded.mu.shape[1]}-D encoder means"
    if cur.spec.method == "pca":
        share = map_data.explained_variance(cur)
        text += (f" · the two axes explain {share[0]:.0%} + {share[1]:.0%} = {share[:2].sum():.0%} of the latent "
                 "variance" if len(share) >= 2 else "")
    if points.left_out:
        text += f" · {points.left_out:,} points left out (NaN/infinite map coordinates)"
    if view_3d:  # what the 3-D view can do: look, not pick
        return text + " · drag to rotate, scroll to zoom, double-click to reset; click a class in the legend to hide it"
    return text


def lens_data(method: str) -> dict | None:
    """The lens's graphs; without them the map still works (the lens then says why it is off)."""
    try:
        return map_data.lens(cur, method)
    except Exception as err:  # noqa: BLE001 - an export failure must not take the map down
        return {"error": f"The lens is off: {type(err).__name__}: {err}"}


def density_layer() -> dict | None:
    """The contours and dense-region labels; without them the map still works (the toggles are then hidden)."""
    try:
        return map_data.density(cur, points, frame)
    except Exception as err:  # noqa: BLE001 - a failed layer must not take the map down
        return {"error": f"The density layer is off: {type(err).__name__}: {err}"}


def csv_download(focus: dict | None) -> None:
    chosen = focus.get("rows") if focus and focus["kind"] == "selection" else None
    c1, c2 = st.columns([1.2, 2], vertical_alignment="bottom")
    scope = c1.radio("CSV of", ["all points", "the selection"], horizontal=True, key="map_csv_scope",
                     disabled=not chosen, help="Box or lasso some points to download just those")
    rows = sorted(set(chosen)) if chosen and scope == "the selection" else None
    c2.download_button(f"Download {'the selection' if rows else 'all points'} as CSV",
                       data=lambda: export_csv(rows), file_name=f"{cur.loaded.path.name}-map.csv",
                       mime="text/csv", on_click="ignore", icon="⬇️", key="map_csv",
                       help="index, label, μ (all dims), map coordinates, reconstruction error and KL")


@st.fragment
def map_and_detail() -> None:
    """Map + detail panel in one fragment: a click reruns only this; the map itself is never redrawn by Python."""
    read_event()
    focus = st.session_state.get(FOCUS)
    if focus and focus["kind"] == "point" and focus["row"] >= len(encoded):
        focus = None
    if focus and focus["kind"] == "space" and focus.get("map") != cur.spec.key():
        st.session_state.pop(FOCUS, None)  # the map it was clicked on was replaced (PCA by the UMAP it stood in for)
        st.toast("The empty spot you clicked was on the map that has just been replaced: click the new map again.",
                 icon="🗺️")
        focus = None
    left, right = st.columns([5, 3], gap="medium")  # the map is where people look: most of the width
    method, learned = "knn", None
    with left:
        # the colour is switched in the page (no rerun); the next run keeps it in the declared state (the link)
        state = st.session_state.get(MAP_KEY)
        sent = state.get("event") if isinstance(state, dict) else None
        color = sent.get("color") if isinstance(sent, dict) else None
        color = next((c for c in (color, st.session_state.get(MAP_COLOUR)) if isinstance(c, str) and c in COLOUR_MODES),
                     "label")
        st.session_state[MAP_COLOUR] = color
        about, options = st.columns([4, 1.15], vertical_alignment="center")
        about.caption(map_caption())
        # secondary controls in a popover: the map, the lens and the detail stay on one screen
        with options.popover("Options", icon="⚙️", width="stretch"):
            if not view_3d:
                with page.friendly_errors("The map's inverse"):
                    method, learned = inverse_choice()
            csv_download(focus)
        if view_3d:
            with page.friendly_errors("The 3-D projection"):
                coords3 = cur.coords(spec3)  # the stand-in (PCA) while the 3-D map asked for is computed
                values = {"label": encoded.labels, "recon": encoded.recon, "kl": encoded.kl}.get(color, encoded.labels)
                chart(figures.latent_map_3d(coords3, values, color, names, axis_name=projection, height=MAP_HEIGHT),
                      "map3d")
        else:
            with page.friendly_errors("Drawing the map"):
                map_component.latent_map(
                    MAP_KEY, points_url, frame, names, figures.PALETTE, COLOUR_MODES,
                    color if color in COLOUR_MODES else "label", far,
                    focus=highlights(focus), overlays=overlays(), lens=lens_data(method), atlas=map_data.atlas(cur),
                    density=density_layer(), height=MAP_HEIGHT, zoom=st.session_state.pop(keys.MAP_ZOOM, None))
    with right, page.friendly_errors("Showing the detail"):
        if view_3d:  # the 3-D view looks, it does not pick: the last pick (if any) stays below
            st.info("The 3-D view is for looking around: drag to rotate, scroll to zoom, click a class in the legend "
                    "to hide it. To pick a point, decode empty space or lasso a group, turn it off: the 2-D map does "
                    "those.", icon="🧊")
        if focus is None:
            if not view_3d:
                st.info("Click a point to see the original, its reconstruction and its neighbours; click empty "
                        "space to decode that spot; Box or Lasso (in the map's toolbar) a group to see it as a grid. "
                        "The lens beside the map decodes wherever the cursor is; the zoom is kept in the link.",
                        icon="👈")
        elif focus["kind"] == "point":
            point_detail(focus["row"])
        elif focus["kind"] == "space":
            space_detail(focus["xy"], method, learned)
        elif focus["kind"] == "selection":
            selection_detail([r for r in focus["rows"] if r < len(encoded)], focus.get("total", 0))
    url.publish()  # a click reruns only this fragment: the address bar follows the picked point


map_and_detail()
movie_section(cur)  # under the map, for a model with snapshots: closed until opened (nothing computed before)
