"""Generate: one slider per latent dimension (most informative first), the decoded image live, where that z lands on
the map, traversals of the top dimensions, and a grid of fresh samples."""
import numpy as np
import streamlit as st
from PIL import Image, ImageDraw, ImageFont

from ui import figures, state, url
from ui.state_items import GENERATE_Z
from ui.text import md_escape
from ui.widgets import upscale_for
from vae_core import images as imgs
from vae_core import latent

state.ensure_navigation()  # a direct link on a fresh server must still run app.py (sidebar, routing)

TOP = 16          # sliders shown before the rest go into an expander
N_SIGMA = 3.0     # slider range: ±3σ of each dimension's spread over the data
TRAVERSE = 6      # dimensions in the traversal grid
STEPS = 9         # images per traversal row (odd: the middle one is the current z)
SAMPLES = 64      # 8×8 sample grid
PAD_GREY = 40     # images.grid's padding colour: the traversal labels sit on it

cur, encoded = state.current_encoded()
model = cur.loaded.model
dim = model.config.latent_dim
names = cur.dataset.class_names

kl = encoded.mean_kl_per_dim
order = latent.kl_order(kl)                 # slider order: most informative first
active = latent.active_dims(encoded.mu)     # collapsed dims get an "inactive" mark
spread = encoded.spread
half = np.abs(encoded.mu.mean(axis=0)) + N_SIGMA * spread    # centred on 0, covers mean ± 3σ
slider_steps = np.array([float(f"{h / 100:.1g}") for h in half])  # ~200 positions per slider, a round step
half = np.ceil(half / slider_steps) * slider_steps               # ends on the step grid: the browser snaps to it
# Slider keys carry the model and split: another model has other ranges, and a stale value must never fall outside.
prefix = f"gen_{cur.loaded.weights_hash[:12]}_{cur.split}"
keys = [f"{prefix}_z{d}" for d in range(dim)]
BASE, LAST = f"{prefix}_base", f"{prefix}_last"   # where Reset returns to; the last z (survives page switches)
PRIOR_SEED, SAMPLE_SEED = "gen_prior_seed", "gen_sample_seed"


def label_name(row: int) -> str:
    return cur.dataset.label_name(encoded.labels[row])


def set_z(z, label: str, base: bool = True) -> None:
    """Move every slider to z (clipped to its range). Called before the sliders exist in this run."""
    z = np.asarray(z, dtype=np.float64)
    clipped = np.clip(z, -half, half)
    for d, key in enumerate(keys):
        st.session_state[key] = float(clipped[d])
    if base:
        outside = np.abs(clipped - z) > 1e-9
        st.session_state[BASE] = {"z": clipped.tolist(), "label": label, "clipped": int(outside.sum()),
                                  "clipped_inactive": int((outside & ~active).sum())}


def current_z() -> np.ndarray:
    return np.array([st.session_state[key] for key in keys], dtype=np.float32)


def sample_prior() -> None:
    seed = st.session_state.get(PRIOR_SEED, 0) + 1
    st.session_state[PRIOR_SEED] = seed
    set_z(latent.prior_samples(1, dim, seed)[0], f"a prior sample (seed {seed})")


def start_from_point() -> None:
    row = int(st.session_state[f"{prefix}_index"])
    set_z(encoded.mu[row], f"#{row} ({label_name(row)})")


def start_from_origin() -> None:
    set_z(np.zeros(dim), "the origin")


def reset() -> None:
    base = st.session_state.get(BASE) or {"z": np.zeros(dim).tolist(), "label": "the origin"}
    set_z(base["z"], base["label"])


def new_samples() -> None:
    st.session_state[SAMPLE_SEED] = st.session_state.get(SAMPLE_SEED, 0) + 1

# A latent handed over by another page (Map, Encode, Interpolate): consumed once.
handed = st.session_state.pop(state.GENERATE_START, None)
if handed is not None:
    try:
        z = np.asarray(handed.get("z", []), dtype=np.float64).ravel()
    except (AttributeError, TypeError, ValueError):  # not a dict, or not numbers
        z = np.zeros(0)
    if z.shape != (dim,) or not np.isfinite(z).all():
        st.warning(f"The latent handed over has {z.size} values but this model has {dim} dimensions: ignored. "
                   "Was it made with another model?", icon="⚠️")
    else:
        set_z(z, str(handed.get("label") or "another page"))
        row = handed.get("row")
        if isinstance(row, int) and 0 <= row < len(encoded):  # keep "Dataset point" on the point handed over
            st.session_state[f"{prefix}_index"] = row
        st.success(f"Started from {md_escape(st.session_state[BASE]['label'])}", icon="🗺️")
if any(key not in st.session_state for key in keys):  # first visit, or sliders dropped while on another page
    if LAST in st.session_state:
        set_z(st.session_state[LAST], "", base=False)
    else:
        set_z(encoded.mu[0], f"#0 ({label_name(0)})")

st.markdown("#### Generate")
st.caption("Each slider is one latent dimension, most informative first; the image is decoded from the sliders' z as "
           "you move them. Start from a prior sample, an image of the dataset, the origin, or a point sent from "
           "the Map.")
c1, c2, c3, c4, c5 = st.columns([1.1, 1.1, 1.1, 0.8, 0.8], vertical_alignment="bottom")
c1.button("Sample from prior", icon="🎲", key="gen_prior", on_click=sample_prior, width="stretch",
          help="z ~ N(0, I); each click draws a new seeded sample. Values beyond a slider's range are clipped.")
c2.number_input(f"Dataset point (0–{len(encoded) - 1:,})", min_value=0, max_value=len(encoded) - 1, step=1,
                key=f"{prefix}_index", help=f"Row of the {cur.split} split, as numbered on the Map")
c3.button("Start from this point", icon="🖼️", key="gen_point", on_click=start_from_point, width="stretch",
          help="The encoder mean of that image")
c4.button("Origin", icon=":material/center_focus_strong:", key="gen_origin", on_click=start_from_origin,
          width="stretch", help="z = 0: the centre of the prior")
c5.button("Reset", icon=":material/restart_alt:", key="gen_reset", on_click=reset, width="stretch",
          help="Back to the starting point, undoing slider moves")
base = st.session_state.get(BASE, {})
clipped_note = ""
if base.get("clipped"):  # prior samples often fall outside the narrow range of the dimensions the data barely uses
    inactive_part = (f", {base['clipped_inactive']} of them in inactive dimensions, which the decoder mostly ignores"
                     if base.get("clipped_inactive") else "")
    clipped_note = (f" · {base['clipped']} value(s) were outside their slider's range (±{N_SIGMA:g}σ of the data) "
                    f"and were clipped{inactive_part}")
st.caption(f"Starting point: **{md_escape(base.get('label', '?'))}**{clipped_note} · {int(active.sum())} of {dim} "
           "dimensions active (Var of the encoder mean > 0.01)")


def slider(d: int) -> None:
    inactive = "" if active[d] else " · :gray[inactive]"
    help_text = (f"Dimension {d}: mean KL {kl[d]:.3f} nats per image; spread σ = {spread[d]:.3f} over the "
                 f"{cur.split} split. Range ±{N_SIGMA:g}σ around 0.")
    if not active[d]:
        help_text += " Inactive unit: its encoder mean hardly varies over the data, so the decoder mostly ignores it."
    st.slider(f"z{d} · {kl[d]:.2f} nats{inactive}", min_value=float(-half[d]), max_value=float(half[d]),
              step=float(slider_steps[d]), format="%.3f" if half[d] < 0.1 else "%.2f", key=keys[d], help=help_text)


def sliders(dims) -> None:
    """Two columns filled top to bottom: read down the first, then the second, in KL order."""
    columns, per_column = st.columns(2), (len(dims) + 1) // 2
    for i, d in enumerate(dims):
        with columns[i // per_column]:
            slider(int(d))


@st.cache_resource(show_spinner=False, max_entries=8)
def mini_background(key: tuple, spec, _coords, _labels, n_classes: int) -> tuple[np.ndarray, tuple]:
    """The mini map without its mark: rasterised once per (model, split, projection), marked per slider move."""
    return figures.raster_map(_coords, _labels, n_classes)


def mini_map_png(xy: np.ndarray) -> bytes:
    background, bounds = mini_background(cur.key, cur.spec, cur.coords(), encoded.labels, len(names))
    return imgs.to_png(figures.mark_raster(background, bounds, xy))


@st.cache_resource(show_spinner=False, max_entries=32)
def row_labels(labels: tuple[str, ...], height: int, first_row: int, row_height: int, channels: int,
               width: int = 130) -> np.ndarray:
    """A strip in the grid's padding colour with each row's label, centred on its row (drawn once per model)."""
    strip = Image.new("L", (width, height), PAD_GREY)
    draw, font = ImageDraw.Draw(strip), ImageFont.load_default(size=15)
    for row, text in enumerate(labels):
        draw.text((width - 8, first_row + row * row_height + row_height // 2), text, fill=215, font=font, anchor="rm")
    array = np.asarray(strip)
    return array if channels == 1 else np.repeat(array[..., None], channels, axis=2)


def labelled_rows(grid: np.ndarray, labels: list[str], scale: int, pad: int = 2) -> bytes:
    """The traversal grid upscaled (nearest neighbour) with each row's label at its left, as one PNG."""
    up = imgs.upscale(grid, scale)
    strip = row_labels(tuple(labels), up.shape[0], pad * scale, (grid.shape[0] - pad) // len(labels) * scale,
                       1 if up.ndim == 2 else up.shape[2])
    return imgs.to_png(np.concatenate([strip, up], axis=1))


@st.fragment
def explorer() -> None:
    """Sliders, decoded image and mini map: a slider move reruns only this."""
    left, middle, right = st.columns([1.6, 1, 1], gap="medium")
    with left:
        sliders(order[:TOP])
        if dim > TOP:
            with st.expander(f"{dim - TOP} more dimensions (lower KL)"):
                sliders(order[TOP:])
    z = current_z()
    st.session_state[GENERATE_Z] = [float(v) for v in z]  # declared state: the link and view bundles carry it
    st.session_state[LAST] = z.tolist()
    with middle, state.friendly_errors("Decoding"):
        image = model.decode_images(z)[0]
        png = imgs.to_png(image, upscale_for(image.shape, 320))
        st.image(png, caption="decoded from the sliders' z", output_format="PNG")
        st.download_button("Download PNG", data=png, file_name=f"{cur.loaded.path.name}-generated.png",
                           mime="image/png", icon="⬇️", key="gen_download", on_click="ignore")
        st.caption("z = (" + ", ".join(f"{v:+.2f}" for v in z) + ")")
    with right, state.friendly_errors("Placing z on the map"):
        xy = cur.placer().place(z)
        st.image(mini_map_png(xy), output_format="PNG", width="stretch")
        st.caption(f"Where this z lands on the Map's {cur.spec.method.upper()} ({len(encoded):,} {cur.split} points, "
                   "placed by its nearest encoded neighbours; ✚ marks z)")
    url.publish()  # a slider move reruns only this fragment: the address bar follows z


explorer()

# Traversals sit outside the live fragment: 54 decodes + a big PNG on every slider step made each step ~50 ms
# slower on 2 cores. They follow the sliders on any full rerun, or at once with the button.
with state.friendly_errors("The traversal grid"):
    z = np.asarray(st.session_state.get(LAST, current_z()), dtype=np.float64)
    dims = order[:min(TRAVERSE, dim)]
    frames = model.decode_images(latent.traversal(z, dims, spread, steps=STEPS, n_sigma=N_SIGMA).reshape(-1, dim))
    grid = imgs.grid(frames, ncols=STEPS, pad_value=PAD_GREY)
    head, button = st.columns([3, 1], vertical_alignment="bottom")
    head.markdown("##### Traversals of the most informative dimensions")
    button.button("Traverse around the current z", icon="🔁", key="gen_traverse")
    st.image(labelled_rows(grid, [f"z{d} · {kl[d]:.2f} nats" for d in dims], scale=2), output_format="PNG",
             caption=f"Each row sweeps one dimension from −{N_SIGMA:g}σ to +{N_SIGMA:g}σ around z (middle column), "
                     "all others held fixed. Drawn for the sliders' z when the page loaded or a start button was "
                     "pressed: after moving sliders, press \"Traverse around the current z\".")


@st.cache_resource(show_spinner="Fitting a mixture to the encoder means…", max_entries=8)
def aggregate_posterior(key: tuple, _mu: np.ndarray) -> latent.AggregatePosterior:
    return latent.AggregatePosterior(_mu)


def sample_latents() -> tuple[np.ndarray, str]:
    """The grid's latents and where they come from: the same in the script and in the "to the sliders" callback."""
    seed = st.session_state.get(SAMPLE_SEED, 0)
    if st.session_state.get("gen_aggregate"):
        return aggregate_posterior(cur.key, encoded.mu).sample(SAMPLES, seed), f"the aggregate posterior (seed {seed})"
    return latent.prior_samples(SAMPLES, dim, seed), f"the prior N(0, I) (seed {seed})"


def sample_to_sliders() -> None:
    number = int(st.session_state["gen_sample_number"])
    with state.friendly_errors("Putting the sample in the sliders"):  # the mixture may be fitted here first
        zs, source = sample_latents()
        set_z(zs[number - 1], f"sample {number} from {source}")
        st.toast(f"Sample {number} is in the sliders at the top of the page", icon="🎲")  # they are out of view here


st.markdown("##### Samples")
c1, c2, c3, c4 = st.columns([2, 1, 1.2, 1.3], vertical_alignment="bottom")
c1.toggle("Sample like the data (aggregate posterior)", key="gen_aggregate",
          help="Off: z ~ N(0, I), the prior. On: z from a 10-component Gaussian mixture fitted to the "
               "encoder means, which avoids the holes between clusters where prior samples turn to blends.")
c2.button("New samples", icon="🎲", key="gen_new_samples", on_click=new_samples)
c3.number_input(f"Sample (1–{SAMPLES}, row by row)", min_value=1, max_value=SAMPLES, step=1, key="gen_sample_number",
                help="Samples are numbered from the top left, left to right, then down")
c4.button("Put it in the sliders", icon=":material/north:", key="gen_sample_to_sliders", on_click=sample_to_sliders,
          width="stretch", help="Start the sliders from this sample's z (values beyond a slider's range are clipped)")
with state.friendly_errors("Sampling"):
    zs, source = sample_latents()
    samples = model.decode_images(zs)
    st.image(imgs.to_png(imgs.grid(samples, ncols=8), 2), output_format="PNG",
             caption=f"{SAMPLES} samples from {source}")
