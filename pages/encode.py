"""Encode: your own pictures through the model — what it receives, how it encodes and redraws them, how typical
they are, their nearest training images, and where they land on the map."""
from ui import page  # light: Streamlit and the standard library

# First, before the imports below (seconds on a fresh server): a direct link must run app.py (sidebar, routing).
page.ensure_navigation()

import dataclasses

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ui import figures, selection
from ui.session import keys
from ui.session.item import clip
from ui.text import md_escape
from ui.widgets import chart, explain_missing, nats, show_image, split_helps, split_texts, thumbnails
from vae_core import images as imgs
from vae_core import data, encode
from vae_core.metrics import POINT_ESTIMATOR
from vae_core.data import uploads

TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff", "zip"]
# The switches of the steps from a picture to the model input, in their order (vae_core.images.Preparation)
BACKGROUND = {"Auto": None, "Remove": True, "Keep": False}
INVERT = {"Auto": None, "Invert": True, "Don't": False}
BACKGROUND_KEY, INVERT_KEY, CROP_KEY = "encode_background::", "encode_invert::", "encode_crop::"  # + picture name
OVERRIDES = "encode_overrides"  # name -> {"background", "invert": label, "crop": bool}: the switches, kept while paging
DEFAULTS = {"background": next(label for label, value in BACKGROUND.items() if value == imgs.AUTO.background),
            "invert": next(label for label, value in INVERT.items() if value == imgs.AUTO.invert),
            "crop": imgs.AUTO.crop}  # the switches' starting values: the library's defaults, as labels
# What each step's picture is captioned, numbered like its switch below the strip
STEP_CAPTIONS = {"background": "① background removed", "inverted": "② inverted", "cropped": "③ cropped, centred"}
RESULT = "encode_result"   # (key, bad files, encoded uploads) of the last run: widgets elsewhere don't redo it
FOCUS = "encode_focus"     # name of the upload last clicked on the map
PER_PAGE = 10
PICTURES_MB = 50           # per uploaded file (a zip of pictures included): the reader caps pixels further
MAX_KEPT = 200             # encoded uploads kept in the session for other pages


def model_input_rule() -> str:
    """What a picture becomes for this model, in words: it follows the model's own input (grey or colour, size)."""
    channels, height, width = cur.loaded.config.image_shape
    kind = ("grey, light object on black (a mid-grey or textured background removed)" if channels == 1
            else "colour")
    return f"{kind}, cropped to the object and centred at {height}×{width}"



def choose_pictures() -> tuple[list, object]:
    """The uploader and the camera: the picked files, and the photo (if one was taken)."""
    st.markdown("#### Encode your own pictures")
    st.caption(f"Each picture is turned into exactly what the model receives ({model_input_rule()}), then encoded, "
               "redrawn and placed on the map. Pictures are processed in memory and never saved.")
    files = st.file_uploader("Pictures, or a zip of them", type=TYPES, accept_multiple_files=True,
                             max_upload_size=PICTURES_MB,
                             key="encode_files",
                             help="PNG, JPEG, GIF, BMP, WebP, TIFF, or a .zip of those. Up to 200 images at once.")
    with st.expander("📷 Take a photo"):
        photo = st.camera_input("Photo", key="encode_camera", label_visibility="collapsed") if st.toggle(
            "Turn on the camera", key="encode_camera_on") else None
    return list(files or []) + ([photo] if photo is not None else []), photo


def show_kept() -> None:
    """Pictures encoded earlier in this session (the uploader empties when the page is left): shown, not forgotten."""
    kept = st.session_state.get(keys.UPLOADS) or []
    if not kept:
        st.info("Upload a picture (a digit, a piece of clothing, anything) to see how the model sees it.", icon="📤")
        return
    st.markdown(f"##### Kept from earlier in this session ({len(kept)})")  # shown even when none has a picture
    st.caption("Their model inputs and how this model redraws them; the Interpolate page offers them as endpoints. "
               "Upload them again to see the map, neighbours and numbers.")
    shown = [up for up in kept if up.get("input") is not None][-32:]
    thumbnails([up["input"] for up in shown], [clip(up.get("name", ""), 24) for up in shown], ncols=8, size=56)
    fits = [up["input"] for up in shown if tuple(up["input"].shape[:2]) == tuple(cur.loaded.config.image_shape[1:])]
    if fits:
        model = cur.loaded.model
        st.caption("redrawn by this model")
        thumbnails(list(model.decode_images(model.encode_means(data.to_tensor(np.stack(fits)))[0])), None, ncols=8,
                   size=56)
    if st.button("Forget them", key="encode_forget"):
        st.session_state[keys.UPLOADS] = []
        st.rerun()


def remember(name: str) -> None:
    """Keep a picture's switches outside the widgets, so they survive paging and leaving the page."""
    st.session_state.setdefault(OVERRIDES, {})[name] = {
        "background": st.session_state.get(BACKGROUND_KEY + name) or DEFAULTS["background"],
        "invert": st.session_state.get(INVERT_KEY + name) or DEFAULTS["invert"],
        "crop": bool(st.session_state.get(CROP_KEY + name, DEFAULTS["crop"]))}


def preparation(switches: dict) -> imgs.Preparation:
    return imgs.Preparation(background=BACKGROUND[switches["background"]], invert=INVERT[switches["invert"]],
                            crop=switches["crop"])


def keep_for_other_pages(done: list[encode.EncodedUpload]) -> None:
    """Kept after the uploader empties (other pages, and this one when the user comes back), newest last."""
    kept = {u["name"]: u for u in st.session_state.get(keys.UPLOADS) or []}
    for up in done:
        kept.pop(up.name, None)
        kept[up.name] = {"name": up.name, "mu": [float(v) for v in up.mu], "input": up.input}
    st.session_state[keys.UPLOADS] = list(kept.values())[-MAX_KEPT:]


def encode_pictures(picked: list, photo) -> tuple[list, list] | None:
    """(bad files as (name, error), encoded uploads), computed once per pictures + settings + model + map."""
    settings = {name: preparation(switches) for name, switches in st.session_state.get(OVERRIDES, {}).items()}
    run_key = (cur.key, cur.spec, cur.split, tuple(f.file_id for f in picked),
               tuple(sorted(settings.items(), key=str)))
    result = st.session_state.get(RESULT)
    if result is not None and result[0] == run_key:
        return result[1], result[2]
    with page.friendly_errors("Encoding the pictures"):
        encoded, placer = cur.encoded(), cur.placer()
        test_elbo = encoded.elbo if cur.split == "test" else dataclasses.replace(cur, split="test").encoded().elbo
        with st.spinner(f"Reading {len(picked)} file(s)…"):
            named = [(f.name if f is not photo else "camera photo.jpg", f.getvalue()) for f in picked]
            read = uploads.read_uploads(named, cur.loaded.config.image_shape, settings)
        bar = st.progress(0.0, text="Encoding…") if len(read) > 5 else None
        done = encode.encode_uploads(cur.loaded, read, encoded, placer, reference_elbo=test_elbo,
                                      progress=(lambda f, m: bar.progress(f, text=m)) if bar else None)
        if bar:
            bar.empty()
        bad = [(r.name, r.error) for r in read if r.error]
        st.session_state[RESULT] = (run_key, bad, done)
        keep_for_other_pages(done)
        return bad, done
    return None


def show_bad_files(bad: list[tuple[str, str]]) -> None:
    """One line each, naming the file and the reason."""
    if len(bad) <= 5:
        for _, error in bad:
            st.error(md_escape(error), icon="🚫")
    elif bad:
        st.error(f"**{len(bad)} files could not be used** (the others are below):\n\n"
                 + "\n".join(f"- {md_escape(error)}" for _, error in bad), icon="🚫")


def label_name(row: int) -> str:
    return cur.dataset.label_name(encoded.labels[row])


def send_to_generate(up: encode.EncodedUpload) -> None:
    st.session_state[keys.GENERATE_START] = {"z": [float(v) for v in up.mu], "label": up.name}


def mu_sigma_chart(up: encode.EncodedUpload) -> dict:
    """μ per latent dimension with ±σ error bars: how sure the encoder is about each coordinate."""
    fig = go.Figure(go.Bar(x=np.arange(len(up.mu)), y=up.mu, error_y=dict(type="data", array=up.sigma, thickness=1),
                           marker_color="#4e79a7", hovertemplate="z%{x}: μ %{y:.2f}<extra></extra>"))
    fig.update_layout(height=170, margin=dict(l=0, r=0, t=22, b=0), title=dict(text="μ ± σ per dimension",
                      font=dict(size=12)), xaxis=dict(dtick=1 if len(up.mu) <= 16 else None), bargap=0.15)
    return fig.to_dict()


def on_the_map(done: list[encode.EncodedUpload]) -> None:
    """Where they land on the map; a clicked star shows that picture beside it."""
    points = "all images" if cur.split == "all" else f"the {cur.split} split"
    st.markdown(f"##### On the map ({cur.spec.method.upper()} of {points})")
    left, right = st.columns([3, 2], gap="medium")
    with left:
        xy = np.stack([up.xy for up in done])
        figure = figures.mini_map(cur.coords(), encoded.labels, len(names), {"your pictures": xy}, height=380)
        stars = figure["data"][1]  # only the uploads are clickable: customdata = index into `done`
        stars.update(customdata=list(range(len(done))), hovertext=[up.name for up in done], hoverinfo="text",
                     marker=dict(symbol="star", size=18, color="#ffd92f", line=dict(width=1.5, color="black")))
        event = chart(figure, "encode_map", on_select="rerun", selection_mode="points")
        st.caption("★ = your pictures, placed among the dataset's points by their nearest neighbours in latent "
                   "space (the same picture always lands on the same spot). Click a star.")
    points = ((event or {}).get("selection") or {}).get("points") or []
    clicked = [p for p in points if p.get("curve_number") == 1 and p.get("customdata") is not None]
    if clicked:
        index = int(clicked[0]["customdata"])
        st.session_state[FOCUS] = done[index].name if index < len(done) else None
    focus = next((up for up in done if up.name == st.session_state.get(FOCUS)), done[0])
    with right:
        st.markdown(f"**{md_escape(focus.name)}**")
        a, b = st.columns(2)
        with a:
            show_image(focus.input, "model input", size=140)
        with b:
            show_image(focus.reconstruction, "reconstruction", size=140)
        typical = f", higher than {focus.percentile:.0f}% of test images" if np.isfinite(focus.elbo) else ""
        st.caption(f"ELBO {nats(focus.elbo)} nats{typical} · map ({focus.xy[0]:.2f}, {focus.xy[1]:.2f})")
        explain_missing(focus.elbo)


def downloads(done: list[encode.EncodedUpload]) -> None:
    model_name = cur.loaded.path.name
    d1, d2, _ = st.columns([1, 1, 2])
    d1.download_button("CSV of encodings", data=encode.to_csv(done), file_name=f"{model_name}-uploads.csv",
                       mime="text/csv", icon="⬇️", key="encode_csv", on_click="ignore",
                       help="file, μ and σ (all dimensions), map x/y, ELBO, reconstruction error, KL, percentile")
    d2.download_button("PNG sheet", data=imgs.to_png(encode.contact_sheet(done), 2),
                       file_name=f"{model_name}-uploads.png", mime="image/png", icon="🖼️", key="encode_sheet",
                       on_click="ignore", help="rows: original (fitted to the input size), model input, reconstruction")


def preparation_strip(up: encode.EncodedUpload) -> None:
    """From the picture to the model input, one small picture per step that changed it, then the reconstruction."""
    height, width = up.input.shape[:2]
    pictures = [(up.original if up.original is not None else up.input, "original")]
    pictures += [(picture, STEP_CAPTIONS[step]) for step, picture in up.steps]
    pictures += [(up.input, f"model input {height}×{width}"), (up.reconstruction, "reconstruction")]
    for column, (picture, caption) in zip(st.columns(len(pictures), gap="xsmall"), pictures):
        with column:
            show_image(picture, caption, size=84)


def preparation_switches(up: encode.EncodedUpload) -> None:
    """The steps' switches, numbered like the strip's pictures, and what was done in words."""
    switches = {**DEFAULTS, **st.session_state.get(OVERRIDES, {}).get(up.name, {})}
    grey = cur.loaded.config.image_shape[0] == 1
    # wide enough for the three labels of each control on one line (at 1400 px the strip's column was not)
    o1, o2, o3, o4 = st.columns([2.2, 2.2, 1.1, 1.6], vertical_alignment="bottom")
    o1.segmented_control("① Background", list(BACKGROUND), default=switches["background"],
                         key=BACKGROUND_KEY + up.name, on_change=remember, args=(up.name,),
                         help="Auto removes a mid-grey or textured background, estimated from the border pixels, "
                              + ("so the object is left light on black. " if grey else
                                 "only when asked: a colour model sees colours as they are (Remove blacks it out, "
                                 "keeping the object's colours). ")
                              + "A plain black or white background is left to ② Invert.")
    o2.segmented_control("② Invert", list(INVERT), default=switches["invert"], key=INVERT_KEY + up.name,
                         on_change=remember, args=(up.name,),
                         help=("The model expects a light object on black. " if grey else "")
                         + "Auto inverts a picture whose border is light.")
    o3.toggle("③ Crop", value=switches["crop"], key=CROP_KEY + up.name, on_change=remember, args=(up.name,),
              help="Crop to the object and centre it (off: the whole picture, scaled to fit)")
    if o4.button("Send to Generate", icon="🎛️", key=f"encode_send::{up.name}", on_click=send_to_generate,
                 args=(up,)):
        st.switch_page("pages/generate.py")
    what = [n for n in up.notes if n]
    what += [] if not up.inverted or any(n.startswith("inverted") for n in what) else ["inverted"]
    what += ["cropped to the object and centred"] if up.cropped else []
    # notes quote file names (a JPEG named .png): text, never markup
    elbo, recon, kl = split_texts(up.elbo, up.kl)  # one estimate, adding up as shown (metrics.POINT_ESTIMATOR)
    st.caption(f"ELBO {elbo} = −(recon {recon} + KL {kl}) nats · " + md_escape(" · ".join(what) or "used as is"))


def picture_card(up: encode.EncodedUpload) -> None:
    """One picture: its steps to the model input and the reconstruction, μ ± σ, numbers, the steps' switches,
    neighbours."""
    with st.container(border=True):
        st.markdown(f"**{md_escape(up.name)}**")
        c_steps, c_chart, c_nums = st.columns([4.4, 2.2, 1.2])
        with c_steps:
            preparation_strip(up)
        with c_chart:
            chart(mu_sigma_chart(up), f"encode_mu::{up.name}", toolbar=False)
        with c_nums:
            st.metric("ELBO", split_texts(up.elbo, up.kl)[0], help=split_helps(up.elbo, up.kl, POINT_ESTIMATOR)[0])
            st.metric("Typicality", f"{up.percentile:.0f}%" if np.isfinite(up.elbo) else "n/a",
                      help="share of test images whose ELBO is at most this one's: low = unusual for this model")
        preparation_switches(up)
        st.caption("8 nearest dataset images in latent space")
        thumbnails([split_images[i] for i in up.neighbours],
                   [f"{label_name(i)} · {d:.2f}" for i, d in zip(up.neighbours, up.distances)], ncols=8, size=56)


def picture_cards(done: list[encode.EncodedUpload]) -> None:
    shown = done
    if len(done) > PER_PAGE:
        pages = (len(done) + PER_PAGE - 1) // PER_PAGE
        page = st.number_input(f"Page (of {pages}, {PER_PAGE} pictures each)", 1, pages, 1, key="encode_page")
        shown = done[(page - 1) * PER_PAGE:page * PER_PAGE]
    for up in shown:
        picture_card(up)


# --- the page, top to bottom -----------------------------------------------------------------------------------
cur = selection.current()
if cur is None:
    st.stop()
picked, photo = choose_pictures()
if not picked:
    with page.friendly_errors("Showing the kept pictures"):
        show_kept()
    st.stop()
outcome = encode_pictures(picked, photo)
if outcome is None:  # the error was shown
    st.stop()
bad, done = outcome
show_bad_files(bad)
if not done:
    st.warning("None of the files could be encoded. Try a PNG or JPEG picture.", icon="📤")
    st.stop()
encoded, split_images, names = cur.encoded(), cur.images()[0], cur.dataset.class_names
on_the_map(done)
downloads(done)
picture_cards(done)
