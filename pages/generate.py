"""Generate: the latent pad (one slider per latent dimension, most informative first) decodes in the page while you
drag; where that z lands on the map; traversals of the top dimensions from the z you let go at; a grid of samples."""
from ui import page  # light: Streamlit and the standard library

# First, before the imports below (seconds on a fresh server): a direct link must run app.py (sidebar, routing).
page.ensure_navigation()

from dataclasses import dataclass

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw, ImageFont

from ui import loaders, selection
from ui.session import keys
from ui.components import served
from ui.session.keys import GENERATE_Z
from ui.text import md_escape
from ui.components.pad import ENGINE_STATE, Z_STATE, Dim, latent_pad
from vae_core import images as imgs
from vae_core import latent

TOP = 16          # sliders shown before the rest go into "more"
N_SIGMA = 3.0     # slider range: ±3σ of each dimension's spread over the data (widened to cover a value handed in)
TRAVERSE = 6      # dimensions in the traversal grid
STEPS = 9         # images per traversal row (odd: the middle one is the current z)
SAMPLES = 64      # 8×8 sample grid
PAD_GREY = 40     # images.grid's padding colour: the traversal labels sit on it
IMAGE_PX = 280    # about the decoded image's side on screen (an integer upscale of it); the mini map sits below it
PRIOR_SEED, SAMPLE_SEED, POINT_MESSAGE = "gen_prior_seed", "gen_sample_seed", "gen_point_message"
INACTIVE_RULE = ("a dimension is inactive when its encoder mean barely changes from image to image (variance ≤ 0.01 "
                 "over the data): the decoder then mostly ignores it")


@dataclass
class Page:
    """Everything about the current model and split that the page's parts share."""
    cur: loaders.Current
    encoded: object
    dim: int
    kl: np.ndarray
    active: np.ndarray   # one criterion for order, labels and marks: latent.active_dims
    order: np.ndarray    # active dimensions first, each group by mean KL, most informative first
    spread: np.ndarray
    half: np.ndarray     # base slider half-range: |mean| + 3σ, on the step grid
    steps: np.ndarray    # ~200 positions per slider, a round step
    prefix: str          # session keys carry the model and split: another model has other ranges

    @property
    def model(self):
        return self.cur.loaded.model

    def key(self, name: str) -> str:
        return f"{self.prefix}_{name}"


def load_page() -> Page:
    cur, encoded = selection.current_encoded()
    kl, active, spread = encoded.mean_kl_per_dim, latent.active_dims(encoded.mu), encoded.spread
    by_kl = latent.kl_order(kl)
    order = np.concatenate([by_kl[active[by_kl]], by_kl[~active[by_kl]]])
    half = np.abs(encoded.mu.mean(axis=0)) + N_SIGMA * spread
    steps = np.array([float(f"{h / 100:.1g}") for h in half])
    half = np.ceil(half / steps) * steps  # ends on the step grid: the browser snaps to it
    prefix = f"gen_{cur.loaded.weights_hash[:12]}_{cur.split}"
    return Page(cur, encoded, len(kl), kl, active, order, spread, half, steps, prefix)


def label_name(p: Page, row: int) -> str:
    return p.cur.dataset.label_name(p.encoded.labels[row])


# --- z: Python's copy is p.key("last"); the pad's own copy moves live and comes back when a drag ends ----------

def set_z(p: Page, z, label: str) -> None:
    """Python puts z in the pad (a start button, a hand-over, Reset): the pad takes it because the revision moves."""
    z = np.asarray(z, dtype=np.float64)
    st.session_state[p.key("last")] = z.tolist()
    st.session_state[p.key("rev")] = st.session_state.get(p.key("rev"), 0) + 1
    beyond = np.abs(z) > p.half + 1e-9
    st.session_state[p.key("base")] = {"z": z.tolist(), "label": label, "widened": int(beyond.sum()),
                                       "widened_inactive": int((beyond & ~p.active).sum())}


def current_z(p: Page) -> np.ndarray:
    return np.asarray(st.session_state[p.key("last")], dtype=np.float64)


def receive_pad_z(p: Page) -> None:
    """The z the pad sent when its last drag or key press ended, taken once, if it answers Python's latest z."""
    sent = (st.session_state.get(p.key("pad")) or {}).get(Z_STATE)
    if not isinstance(sent, dict) or sent == st.session_state.get(p.key("applied")):
        return
    st.session_state[p.key("applied")] = sent
    try:
        z = np.asarray(sent.get("z"), dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return
    if sent.get("rev") == st.session_state.get(p.key("rev")) and z.shape == (p.dim,) and np.isfinite(z).all():
        st.session_state[p.key("last")] = z.tolist()


def take_hand_over(p: Page) -> None:
    """A latent handed over by another page (Map, Encode, Interpolate, a view file): consumed once."""
    handed = st.session_state.pop(keys.GENERATE_START, None)
    if handed is None:
        return
    try:
        z = np.asarray(handed.get("z", []), dtype=np.float64).ravel()
    except (AttributeError, TypeError, ValueError):  # not a dict, or not numbers
        z = np.zeros(0)
    if z.shape != (p.dim,) or not np.isfinite(z).all():
        st.warning(f"The latent handed over has {z.size} values but this model has {p.dim} dimensions: ignored. "
                   "Was it made with another model?", icon="⚠️")
        return
    set_z(p, z, str(handed.get("label") or "another page"))
    row = handed.get("row")
    if isinstance(row, int) and 0 <= row < len(p.encoded):  # keep "Dataset point" on the point handed over
        st.session_state[p.key("index")] = row
    st.success(f"Started from {md_escape(st.session_state[p.key('base')]['label'])}", icon="🗺️")


def ensure_z(p: Page) -> None:
    if p.key("last") not in st.session_state:  # first visit with this model and split
        set_z(p, p.encoded.mu[0], f"#0 ({label_name(p, 0)})")


# --- start buttons ----------------------------------------------------------------------------------------------

def sample_prior(p: Page) -> None:
    seed = st.session_state.get(PRIOR_SEED, 0) + 1
    st.session_state[PRIOR_SEED] = seed
    set_z(p, latent.prior_samples(1, p.dim, seed)[0], f"a prior sample (seed {seed})")


def point_row(p: Page) -> int | None:
    """The Dataset point box's row, or None when it holds anything but a row of this split."""
    value = st.session_state.get(p.key("index"), 0)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    if not float(value).is_integer() or not 0 <= value < len(p.encoded):
        return None
    return int(value)


def start_from_point(p: Page) -> None:
    row = point_row(p)
    if row is None:
        st.session_state[POINT_MESSAGE] = (f"Dataset point {st.session_state.get(p.key('index'))!r} is not a row of "
                                           f"the {p.cur.split} split (0–{len(p.encoded) - 1:,}): nothing changed.")
        return
    set_z(p, p.encoded.mu[row], f"#{row} ({label_name(p, row)})")


def start_from_origin(p: Page) -> None:
    set_z(p, np.zeros(p.dim), "the origin")


def reset(p: Page) -> None:
    base = st.session_state.get(p.key("base")) or {"z": np.zeros(p.dim).tolist(), "label": "the origin"}
    set_z(p, base["z"], base["label"])


def check_point_box(p: Page) -> None:
    """A garbage row (a stale link, another split) gets a message, and the box goes back to a valid row."""
    message = st.session_state.pop(POINT_MESSAGE, None)
    if point_row(p) is None:
        message = message or (f"Dataset point {st.session_state.get(p.key('index'))!r} is not a row of the "
                              f"{p.cur.split} split (0–{len(p.encoded) - 1:,}): set back to 0.")
        st.session_state[p.key("index")] = 0
    if message:
        st.warning(message, icon="⚠️")


def start_controls(p: Page) -> None:
    st.markdown("#### Generate")
    st.caption("Each slider is one latent dimension, active ones first, most informative (highest KL) first. The "
               "image is decoded in your browser as you drag; the traversals below follow when you let go. Start "
               "from a prior sample, an image of the dataset, the origin, or a point sent from the Map.")
    check_point_box(p)
    c1, c2, c3, c4, c5 = st.columns([1.1, 1.1, 1.1, 0.8, 0.8], vertical_alignment="bottom")
    c1.button("Sample from prior", icon="🎲", key="gen_prior", on_click=sample_prior, args=(p,), width="stretch",
              help="z ~ N(0, I); each click draws a new seeded sample. A value beyond a slider's ±3σ widens it.")
    c2.number_input(f"Dataset point (0–{len(p.encoded) - 1:,})", min_value=0, max_value=len(p.encoded) - 1, step=1,
                    key=p.key("index"), help=f"Row of the {p.cur.split} split, as numbered on the Map")
    c3.button("Start from this point", icon="🖼️", key="gen_point", on_click=start_from_point, args=(p,),
              width="stretch", help="The encoder mean of that image")
    c4.button("Origin", icon=":material/center_focus_strong:", key="gen_origin", on_click=start_from_origin,
              args=(p,), width="stretch", help="z = 0: the centre of the prior")
    c5.button("Reset", icon=":material/restart_alt:", key="gen_reset", on_click=reset, args=(p,), width="stretch",
              help="Back to the starting point, undoing slider moves")
    base = st.session_state.get(p.key("base"), {})
    note = ""
    if base.get("widened"):  # prior samples often fall beyond the narrow range of the dimensions the data barely uses
        inactive = (f", {base['widened_inactive']} of them in inactive dimensions, which the decoder mostly ignores"
                    if base.get("widened_inactive") else "")
        note = (f" · {base['widened']} value(s) were beyond their slider's ±{N_SIGMA:g}σ of the data: those "
                f"sliders were widened to cover them{inactive}")
    st.caption(f"Starting point: **{md_escape(base.get('label', '?'))}**{note} · {int(p.active.sum())} of {p.dim} "
               f"dimensions active ({INACTIVE_RULE})")


# --- the pad ----------------------------------------------------------------------------------------------------

def slider_dims(p: Page, z: np.ndarray) -> list[Dim]:
    base_z = np.asarray(st.session_state.get(p.key("base"), {}).get("z", z), dtype=np.float64)
    cover = np.maximum(np.abs(z), np.abs(base_z))
    half = np.maximum(p.half, np.ceil(cover / p.steps - 1e-9) * p.steps)  # widened, never clipped
    dims = []
    for d in map(int, p.order):
        inactive = not p.active[d]
        help_text = (f"Dimension {d}: mean KL {p.kl[d]:.3f} nats per image; spread σ = {p.spread[d]:.3f} over the "
                     f"{p.cur.split} split. Range ±{N_SIGMA:g}σ around 0"
                     + (" (widened to cover the starting value)" if half[d] > p.half[d] + 1e-12 else "") + ".")
        if inactive:
            help_text += " Inactive: its encoder mean hardly varies over the data, so the decoder mostly ignores it."
        dims.append(Dim(d=d, name=f"z{d} · {p.kl[d]:.2f} nats" + (" · inactive" if inactive else ""),
                        aria=f"z{d}, {p.kl[d]:.2f} nats" + (", inactive" if inactive else ""), help=help_text,
                        min=float(-half[d]), max=float(half[d]), step=float(p.steps[d]), inactive=inactive))
    return dims


def map_urls(p: Page) -> tuple[str | None, str | None]:
    with page.friendly_errors("Preparing the mini map"):
        return served.map_urls(p.cur)
    return None, None


def pad_section(p: Page) -> np.ndarray:
    """The pad, and under it what follows the z Python last received: its PNG and where it sits on the map."""
    z = current_z(p)
    decoder = None
    with page.friendly_errors("Preparing the in-page decoder"):
        decoder = served.decoder_url(p.cur.loaded)
    placement, minimap = map_urls(p)
    image = None
    with page.friendly_errors("Decoding"):  # a model with non-finite outputs is named, never shown as black
        image = p.model.decode_images(z)[0]
    if image is None:
        st.stop()
    engine_note = (st.session_state.get(p.key("pad")) or {}).get(ENGINE_STATE)
    latent_pad(p.key("pad"), rev=st.session_state[p.key("rev")], z=z, dims=slider_dims(p, z), top=TOP,
               shape=p.model.config.image_shape, decoder=decoder or "", placement=placement, minimap=minimap,
               pixels=image, size=image.shape[0] * max(1, round(IMAGE_PX / image.shape[0])),
               server_only=decoder is None)
    if engine_note or decoder is None:
        st.caption("⚠️ In-page decoding is off here: the image is decoded on the server each time you let go "
                   "of a slider.")
    st.session_state[GENERATE_Z] = [float(v) for v in z]  # declared state: the link and view bundles carry it
    left, right = st.columns([1, 3], vertical_alignment="center")
    png = imgs.to_png(image, max(1, IMAGE_PX // image.shape[0]))
    left.download_button("Download PNG", data=png, file_name=f"{p.cur.loaded.path.name}-generated.png",
                         mime="image/png", icon="⬇️", key="gen_download", on_click="ignore",
                         help="The image of the z the page last received (when you let go of a slider)")
    right.caption(f"Mini map: the Map's {p.cur.spec.method.upper()} of {len(p.encoded):,} {p.cur.split} points; "
                  "✚ is z, placed by its nearest encoded neighbours, and follows the sliders as you drag.")
    return z


# --- traversals and samples -------------------------------------------------------------------------------------

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


def traversal_section(p: Page, z: np.ndarray) -> None:
    with page.friendly_errors("The traversal grid"):
        dims = p.order[:min(TRAVERSE, p.dim)]
        frames = p.model.decode_images(latent.traversal(z, dims, p.spread, steps=STEPS, n_sigma=N_SIGMA)
                                       .reshape(-1, p.dim))
        grid = imgs.grid(frames, ncols=STEPS, pad_value=PAD_GREY)
        st.markdown("##### Traversals of the most informative dimensions")
        st.image(labelled_rows(grid, [f"z{d} · {p.kl[d]:.2f} nats" for d in dims], scale=2), output_format="PNG",
                 caption=f"Each row sweeps one dimension from −{N_SIGMA:g}σ to +{N_SIGMA:g}σ around z (middle "
                         "column), all others held fixed; redrawn each time you let go of a slider.")


@st.cache_resource(show_spinner="Fitting a mixture to the encoder means…", max_entries=8)
def aggregate_posterior(key: tuple, _mu: np.ndarray) -> latent.AggregatePosterior:
    return latent.AggregatePosterior(_mu)


def sample_latents(p: Page) -> tuple[np.ndarray, str]:
    """The grid's latents and where they come from: the same in the script and in the "to the sliders" callback."""
    seed = st.session_state.get(SAMPLE_SEED, 0)
    if st.session_state.get("gen_aggregate"):
        return aggregate_posterior(p.cur.key, p.encoded.mu).sample(SAMPLES, seed), \
            f"the aggregate posterior (seed {seed})"
    return latent.prior_samples(SAMPLES, p.dim, seed), f"the prior N(0, I) (seed {seed})"


def new_samples() -> None:
    st.session_state[SAMPLE_SEED] = st.session_state.get(SAMPLE_SEED, 0) + 1


def sample_to_sliders(p: Page) -> None:
    number = int(st.session_state["gen_sample_number"])
    with page.friendly_errors("Putting the sample in the sliders"):  # the mixture may be fitted here first
        zs, source = sample_latents(p)
        set_z(p, zs[number - 1], f"sample {number} from {source}")
        st.toast(f"Sample {number} is in the sliders at the top of the page", icon="🎲")  # they are out of view here


def samples_section(p: Page) -> None:
    st.markdown("##### Samples")
    c1, c2, c3, c4 = st.columns([2, 1, 1.2, 1.3], vertical_alignment="bottom")
    c1.toggle("Sample like the data (aggregate posterior)", key="gen_aggregate",
              help="Off: z ~ N(0, I), the prior. On: z from a 10-component Gaussian mixture fitted to the "
                   "encoder means, which avoids the holes between clusters where prior samples turn to blends.")
    c2.button("New samples", icon="🎲", key="gen_new_samples", on_click=new_samples)
    c3.number_input(f"Sample (1–{SAMPLES}, row by row)", min_value=1, max_value=SAMPLES, step=1,
                    key="gen_sample_number", help="Samples are numbered from the top left, left to right, then down")
    c4.button("Put it in the sliders", icon=":material/north:", key="gen_sample_to_sliders", on_click=sample_to_sliders,
              args=(p,), width="stretch", help="Start the sliders from this sample's z (a slider widens to cover it)")
    with page.friendly_errors("Sampling"):
        zs, source = sample_latents(p)
        samples = p.model.decode_images(zs)
        st.image(imgs.to_png(imgs.numbered_grid(samples, ncols=8)), output_format="PNG",
                 caption=f"{SAMPLES} samples from {source}, numbered row by row")


def main() -> None:
    p = load_page()
    receive_pad_z(p)
    take_hand_over(p)
    ensure_z(p)
    start_controls(p)
    z = pad_section(p)
    traversal_section(p, z)
    samples_section(p)


main()
