"""Interpolate: walk between two latents (straight line and great circle), push a latent along an attribute
vector, and do latent analogies (A − B + C). Every input is a dataset point, an upload, a class mean or a prior
sample; each section is a fragment, so moving a slider redraws only that section."""
from ui import page  # light: Streamlit and the standard library

# First, before the imports below (seconds on a fresh server): a direct link must run app.py (sidebar, routing).
page.ensure_navigation()

import re
import zlib
from dataclasses import dataclass

import numpy as np
import streamlit as st

from ui import figures, selection
from ui.session import keys, url
from ui.session.keys import (ENDPOINT_SOURCES, ENDPOINTS, FROM_VIEW, INTERP_PATH, MAP_PATHS, RESTORE_ENDPOINTS,
                            endpoint_key)
from ui.text import md_escape
from ui.components import served
from ui.components.scrubber import ENGINE_STATE, T_STATE, T_STEPS, path_scrubber
from ui.widgets import chart, show_image
from vae_core import animation, data, latent

SOURCES = ENDPOINT_SOURCES  # declared with the page's state: links name endpoints by source
STRIP_WIDTH = 1000                      # px a strip may take on screen; frames are upscaled to about fill it
PATH_COLORS = {"linear path": "#f28e2b", "slerp path": "#59a14f"}
STRENGTHS = np.linspace(-2.0, 2.0, 9)   # the strip under the live result: the whole slider range at a glance

cur, encoded = selection.current_encoded()
split_images, _ = cur.images()
model = cur.loaded.model
names = cur.dataset.class_names
n_rows, dim = len(encoded), encoded.mu.shape[1]
means, counts = latent.class_means(encoded.mu, np.clip(encoded.labels, 0, len(names) - 1), len(names),
                                   return_counts=True)
pick = st.session_state.get(keys.PICK)
start_row = int(pick) if isinstance(pick, (int, np.integer)) and 0 <= pick < n_rows else 0


def label_name(row: int) -> str:
    return cur.dataset.label_name(encoded.labels[row])


def other_class_row(row: int) -> int:
    """The first row of another class than `row`'s: a default second endpoint worth walking to."""
    others = np.flatnonzero(encoded.labels != encoded.labels[row])
    return int(others[0]) if len(others) else min(row + 1, n_rows - 1)


@dataclass
class Endpoint:
    z: np.ndarray           # (D,) latent
    caption: str
    original: np.ndarray | None  # the input picture, when there is one
    saved: dict             # how a view bundle stores it: {"kind": "dataset", ...} or {"kind": "latent", ...}


def restore_pending(key: str, name: str) -> None:
    """A view file loaded in the sidebar left this endpoint for us: set its widgets before they are drawn."""
    endpoint = st.session_state.get(RESTORE_ENDPOINTS, {}).pop(name, None)
    if endpoint is None:
        return
    if endpoint["kind"] == "dataset" and endpoint["index"] < n_rows:
        st.session_state[f"{key}_kind"] = SOURCES[0]
        st.session_state[f"{key}_row"] = int(endpoint["index"])
    elif endpoint["kind"] == "latent" and len(endpoint["z"]) == dim:
        z = np.asarray(endpoint["z"], dtype=np.float32)
        same_class = [c for c in range(len(names)) if counts[c] and np.allclose(z, means[c], rtol=0, atol=1e-5)]
        if same_class:  # bundles store a class mean as its latent: show it as the class again
            st.session_state[f"{key}_kind"], st.session_state[f"{key}_class"] = "Class mean", same_class[0]
        else:
            st.session_state[f"{key}_latent"] = [float(v) for v in z]
            st.session_state[f"{key}_kind"] = FROM_VIEW


def upload_latent(upload: dict) -> np.ndarray | None:
    """Re-encode the upload's model input with *this* model (its stored μ may come from another one)."""
    picture = upload.get("input")
    if isinstance(picture, np.ndarray) and picture.shape[:2] == tuple(model.config.image_shape[1:]):
        return model.encode_means(data.to_tensor(picture[None]))[0][0]
    mu = np.asarray(upload.get("mu", []), dtype=np.float32).ravel()
    return mu if mu.shape == (dim,) else None


def pick_endpoint(name: str, label: str, default_row: int, default_source: str = SOURCES[0],
                  default_class: int = 0) -> Endpoint | None:
    """One input latent, chosen from any source, shown as its input picture (if any) and its decoding."""
    key = endpoint_key(name)
    restore_pending(key, name)
    sources = SOURCES + ([FROM_VIEW] if f"{key}_latent" in st.session_state else [])
    st.session_state.setdefault(f"{key}_kind", default_source)
    source = st.selectbox(label, sources, key=f"{key}_kind")
    endpoint = None
    if source == "Dataset point":
        if not 0 <= st.session_state.get(f"{key}_row", default_row) < n_rows:
            st.session_state[f"{key}_row"] = default_row  # a row id from a bigger split
        st.session_state.setdefault(f"{key}_row", default_row)
        row = int(st.number_input(f"Row (0–{n_rows - 1})", 0, n_rows - 1, step=1, key=f"{key}_row",
                                  help="A row of the Map's split; the Map's last clicked point is the default"))
        endpoint = Endpoint(encoded.mu[row], f"#{row} · {label_name(row)}", split_images[row],
                            {"kind": "dataset", "index": row, "split": cur.split})
    elif source == "Upload":
        uploads = st.session_state.get(keys.UPLOADS) or []
        if not uploads:
            st.info("No uploaded images yet: add your own on the **Encode** page.", icon="📤")
            return None
        index = st.selectbox("Uploaded image", range(len(uploads)), key=f"{key}_upload",
                             format_func=lambda i: str(uploads[i].get("name", f"upload {i + 1}")))
        z = upload_latent(uploads[min(index, len(uploads) - 1)])
        if z is None:
            st.warning("This upload was encoded for another model; encode it again on the Encode page.", icon="⚠️")
            return None
        upload = uploads[min(index, len(uploads) - 1)]
        endpoint = Endpoint(z, str(upload.get("name", "upload")), upload.get("input"),
                            {"kind": "latent", "z": [float(v) for v in z]})
    elif source == "Class mean":
        st.session_state.setdefault(f"{key}_class", min(default_class, len(names) - 1))
        c = st.selectbox("Class", range(len(names)), key=f"{key}_class", format_func=lambda i: names[i])
        if counts[c] == 0:
            st.warning(f"No image of class {md_escape(names[c])} in this split: its mean is the origin.", icon="⚠️")
        endpoint = Endpoint(means[c], f"mean of {names[c]} ({counts[c]} images)", None,
                            {"kind": "latent", "z": [float(v) for v in means[c]]})
    elif source == "Random (prior)":
        seed = int(st.number_input("Seed", 0, 2**31 - 1, step=1, key=f"{key}_seed",
                                   help="The same seed gives the same sample from N(0, I)"))
        z = latent.prior_samples(1, dim, seed)[0]
        endpoint = Endpoint(z, f"prior sample, seed {seed}", None, {"kind": "latent", "z": [float(v) for v in z]})
    else:
        z = np.asarray(st.session_state[f"{key}_latent"], dtype=np.float32)
        endpoint = Endpoint(z, "latent from a view file", None, {"kind": "latent", "z": [float(v) for v in z]})
    st.session_state.setdefault(ENDPOINTS, {})[name] = endpoint.saved  # saved with the view
    # short image captions: a caption wider than its image stretches it
    st.caption(f"**{md_escape(endpoint.caption)}**")
    left, right = st.columns(2)
    if endpoint.original is not None:
        with left:
            show_image(endpoint.original, "input", size=112)
    with right if endpoint.original is not None else left:
        show_image(model.decode_images(endpoint.z)[0], "decoded", size=112)
    return endpoint


def strip_scale(n_frames: int, side: int, width: int = STRIP_WIDTH) -> int:
    """Integer upscaling so a strip of n frames (2 px gaps) is at most about `width` px wide."""
    return max(1, width // (n_frames * (side + 2) + 2))


def show_path(title: str, frames: np.ndarray) -> None:
    """One strip with its per-step change: even steps are a smooth path, one spike is a jump across a gap."""
    steps = latent.pixel_steps(frames)
    worst = int(np.argmax(steps))
    left, right = st.columns([3, 1])
    with left:
        st.image(animation.strip_png(frames, strip_scale(len(frames), frames.shape[1])), output_format="PNG",
                 caption=f"{title}: {len(frames)} steps")
        st.caption(f"{title} · mean step **{steps.mean():.2f}** · largest **{steps[worst]:.2f}** "
                   f"(between steps {worst + 1} and {worst + 2}) · pixel units 0–255")
    with right:
        # x = the step's first frame, numbered from 1 like the caption's "between steps k and k+1"
        chart(figures.line_chart(steps, f"{title}: change per step", height=150, x=np.arange(1, len(steps) + 1),
                                 hover="from step %{x} to the next: %{y:.2f}<extra></extra>"),
              f"steps_{title}", toolbar=False)


@st.fragment
def paths_section() -> None:
    with page.friendly_errors("Interpolating"):
        paths_body()
    url.publish()  # an endpoint change reruns only this fragment: the address bar follows A, B and the path


def paths_body() -> None:
    ends = st.columns(2, gap="large")
    with ends[0]:
        a = pick_endpoint("A", "Start (A)", start_row)
    with ends[1]:
        b = pick_endpoint("B", "End (B)", other_class_row(start_row))
    if a is None or b is None:
        return
    n = st.slider("Steps", 5, 20, 10, key="interp_steps")
    paths = {"Linear": latent.lerp(a.z, b.z, n), "Slerp": latent.slerp(a.z, b.z, n)}
    # the Map draws the last paths shown here as overlays (its own projection places them)
    st.session_state[MAP_PATHS] = {f"{kind.lower()} path A→B": path for kind, path in paths.items()}
    frames = {kind: model.decode_images(path) for kind, path in paths.items()}
    for kind in paths:
        show_path(kind, frames[kind])
    scrub_section(a, b)
    left, right = st.columns([3, 2], gap="large")
    with left, page.friendly_errors("Drawing the paths on the map"):
        placer = cur.placer()
        marks = {"A": placer.place(a.z), "B": placer.place(b.z),
                 "linear path": placer.place(paths["Linear"]), "slerp path": placer.place(paths["Slerp"])}
        figure = figures.mini_map(cur.coords(), encoded.labels, len(names), marks, height=320)
        for trace in figure["data"]:  # tell the two paths apart at a glance
            if trace.get("name") in PATH_COLORS:
                trace["line"] = {"color": PATH_COLORS[trace["name"]], "width": 2}
                trace["marker"]["line"]["color"] = PATH_COLORS[trace["name"]]
        chart(figure, "interp_minimap", toolbar=False)
        st.caption("Both paths placed on the map: a path that runs through empty space decodes to blends.")
    with right:
        download_controls(frames, f"{a.caption}-to-{b.caption}")


def scrub_section(a: Endpoint, b: Endpoint) -> None:
    """Any t along the chosen path, decoded in the page while the scrubber is dragged (not only the strip's steps)."""
    with page.friendly_errors("The scrubber"):
        st.markdown("**Scrub along a path**")
        kind = st.radio("Path to scrub", ["Slerp", "Linear"], horizontal=True, key="interp_scrub_path",
                        help="Drag t from A (0) to B (1): the image is decoded in your browser at every position, "
                             "and the point moves along the path on the map")
        walk = latent.slerp if kind == "Slerp" else latent.lerp
        scrubbed = st.session_state.get("interp_scrub") or {}
        t = scrubbed.get(T_STATE, 0.5)
        t = min(max(float(t), 0.0), 1.0) if isinstance(t, (int, float)) else 0.5
        z = walk(a.z, b.z, T_STEPS + 1)[round(t * T_STEPS)]  # the same z as the page's formula at this t
        decoder = served.decoder_url(cur.loaded)
        placement, minimap = served.map_urls(cur)
        rev = zlib.crc32(np.asarray(a.z, np.float32).tobytes() + np.asarray(b.z, np.float32).tobytes() + kind.encode())
        path_scrubber("interp_scrub", rev=rev, a=a.z, b=b.z, kind=kind.lower(), t=t, shape=model.config.image_shape,
                      decoder=decoder, placement=placement, minimap=minimap,
                      path_xy=cur.placer().place(walk(a.z, b.z, 41)), pixels=model.decode_images(z)[0],
                      aria=f"t along the {kind.lower()} path from A to B")
        if scrubbed.get(ENGINE_STATE):
            st.caption("⚠️ In-page decoding is off here: the image at t is decoded on the server when you let go.")


def download_controls(frames: dict[str, np.ndarray], title: str) -> None:
    st.markdown("**Download a strip**")
    kind = st.radio("Path", list(frames), horizontal=True, key=INTERP_PATH)
    frame_ms = st.slider("Frame duration (ms)", 40, 1000, 150, step=10, key="interp_frame_ms")
    pingpong = st.toggle("Ping-pong (forth and back)", key="interp_pingpong")
    scale = st.select_slider("Pixel size", [1, 2, 3, 4, 6, 8], value=4, key="interp_scale",
                             help="Each image pixel becomes a block this wide: crisp, never blurred")
    chosen = frames[kind]
    stem = re.sub(r"[^a-z0-9]+", "-", f"{kind}-{title}".lower()).strip("-")[:80]  # a safe file name
    st.download_button("Strip as PNG", data=lambda: animation.strip_png(chosen, scale), file_name=f"{stem}.png",
                       mime="image/png", on_click="ignore", icon="🖼️", key="interp_png")
    st.download_button("Animated GIF", data=lambda: animation.strip_gif(chosen, scale, frame_ms, pingpong),
                       file_name=f"{stem}.gif", mime="image/gif", on_click="ignore", icon="🎞️", key="interp_gif")


def choose_vector() -> tuple[str, np.ndarray] | None:
    """A class vector, a saved vector or a selection vector, with the name it would be saved under."""
    source = st.radio("Vector", ["Class vector", "Saved vector", "Selection vector"], horizontal=True,
                      key="vec_source")
    if source == "Class vector":
        c1, c2 = st.columns(2)
        first = c1.selectbox("From class", range(len(names)), key="vec_from", format_func=lambda i: names[i])
        second = c2.selectbox("To class", range(len(names)), index=min(1, len(names) - 1), key="vec_to",
                              format_func=lambda i: names[i])
        return f"{names[first]} → {names[second]}", latent.attribute_vector(means[first], means[second])
    if source == "Saved vector":
        saved = st.session_state.get(keys.VECTORS) or {}
        usable = [name for name, v in saved.items() if len(v) == dim]
        if not usable:
            st.info("No saved vectors for this model yet: build one here and press **Save vector**.", icon="💾")
            return None
        name = st.selectbox("Saved vector", usable, key="vec_saved")
        return name, np.asarray(saved[name], dtype=np.float32)
    selections = st.session_state.get(keys.SELECTIONS) or {}
    if len(selections) < 2:
        st.info("Lasso two groups on the **Map** and keep each one (“Keep selection”): the vector goes from the "
                "first group's mean to the second's.", icon="🗺️")
        return None
    c1, c2 = st.columns(2)
    first = c1.selectbox("From selection", list(selections), key="vec_sel_from")
    second = c2.selectbox("To selection", list(selections), index=1, key="vec_sel_to")
    return f"{first} → {second}", latent.selection_vector(encoded.mu, selections[first], selections[second])


def save_vector_form(default_name: str, vector: np.ndarray) -> None:
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    name = c1.text_input("Name", value=default_name, key="vec_name", max_chars=100).strip()
    if c2.button("Save vector", icon="💾", key="vec_save"):
        saved = st.session_state.setdefault(keys.VECTORS, {})
        if not name:
            st.warning("Give the vector a name first.", icon="⚠️")
        elif name in saved:
            st.warning(f"A vector named “{md_escape(name)}” is already saved; choose another name.", icon="⚠️")
        else:
            saved[name] = [float(v) for v in vector]
            st.toast(f"Saved “{md_escape(name)}”: reuse it here or in a view file.", icon="💾")


@st.fragment
def vector_section() -> None:
    with page.friendly_errors("Applying the vector"):
        vector_body()


def vector_body() -> None:
    st.caption("An attribute vector is a direction in latent space, e.g. from one class's mean to another's. "
               "Add it to any point with a strength and watch the picture change.")
    chosen = choose_vector()
    if chosen is None:
        return
    vector_name, vector = chosen
    st.caption(f"‖{md_escape(vector_name)}‖ = {np.linalg.norm(vector):.2f} (the typical spread of a latent dim is "
               f"{float(encoded.spread.mean()):.2f})")
    left, right = st.columns([1, 2], gap="large")
    with left:
        point = pick_endpoint("vector point", "Apply to", start_row)
    if point is None:
        return
    with right:
        strength = st.slider("Strength", -2.0, 2.0, 1.0, step=0.1, key="vec_strength",
                             help="z + strength · vector; 0 is the point itself, negative goes the other way")
        result = latent.apply_vector(point.z, vector, strength)
        st.caption(f"**{md_escape(point.caption)}** {strength:+.1f} · ({md_escape(vector_name)})")
        show_image(model.decode_images(result)[0], f"strength {strength:+.1f}", size=224)
        sweep = model.decode_images(np.stack([latent.apply_vector(point.z, vector, s) for s in STRENGTHS]))
        st.image(animation.strip_png(sweep, strip_scale(len(sweep), sweep.shape[1], width=600)),
                 output_format="PNG", caption="strength −2 … +2")
        save_vector_form(vector_name, vector)


@st.fragment
def analogy_section() -> None:
    with page.friendly_errors("The analogy"):
        analogy_body()


def analogy_body() -> None:
    st.caption("A − B + C: take what makes A differ from B and add it to C. With B the mean of A's class, this "
               "moves A's style (slant, thickness) onto another class.")
    cols = st.columns(4, gap="medium")
    first_label = int(encoded.labels[start_row]) if 0 <= encoded.labels[start_row] < len(names) else 0
    with cols[0]:
        a = pick_endpoint("analogy A", "A", start_row)
    with cols[1]:
        b = pick_endpoint("analogy B", "minus B", start_row, "Class mean", first_label)
    with cols[2]:
        c = pick_endpoint("analogy C", "plus C", start_row, "Class mean", (first_label + 1) % len(names))
    if a is None or b is None or c is None:
        return
    result = latent.analogy(a.z, b.z, c.z)
    with cols[3]:
        st.markdown("**= result**")
        show_image(model.decode_images(result)[0], "A − B + C", size=224)
        if st.button("Save A − B as a vector", key="analogy_save", icon="💾"):
            saved = st.session_state.setdefault(keys.VECTORS, {})
            name = f"{a.caption} − {b.caption}"[:100]
            if name in saved:
                st.warning(f"A vector named “{md_escape(name)}” is already saved.", icon="⚠️")
            else:
                saved[name] = [float(v) for v in latent.attribute_vector(b.z, a.z)]
                st.toast(f"Saved “{md_escape(name)}”.", icon="💾")


st.markdown("#### Interpolate")
tab_paths, tab_vectors, tab_analogy = st.tabs(["Path between two points", "Attribute vectors", "Analogy"])
with tab_paths:
    paths_section()
with tab_vectors:
    vector_section()
with tab_analogy:
    analogy_section()
