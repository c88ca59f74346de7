"""Encode page (AppTest): a drawn picture gets its input, reconstruction, numbers, place and downloads; bad files
get one message each naming them while the good ones still get results; overrides and Send to Generate work."""
import csv
import io
import json
import re
from decimal import Decimal

import numpy as np
import pytest
import streamlit as st
from PIL import Image, ImageDraw
from streamlit.runtime.media_file_manager import MediaFileManager

from ui.session import keys
from vae_core import data, encode
from vae_core.models.torch_vae import checkpoint
from vae_core.map import encodings
from vae_core.data import uploads
from vae_core.map.placement import Placer
from vae_core.map.projection import ProjectionSpec, fit_projection

PCA = ProjectionSpec(method="pca")  # instant; the page itself does not care which projection


def ring_png(size=(150, 200), width=16) -> bytes:
    """A dark "0" drawn on white paper: the page must invert and crop it."""
    picture = Image.new("L", size, 255)
    ImageDraw.Draw(picture).ellipse((30, 25, size[0] - 30, size[1] - 25), outline=0, width=width)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def ring_on_a_grey_table() -> bytes:
    """The same "0" drawn dark on a mid-grey, blotchy, noisy table and photographed (JPEG): a background to remove."""
    rng = np.random.default_rng(0)
    blotches = np.asarray(Image.fromarray(rng.normal(0, 1, (8, 8)).astype(np.float32)).resize((150, 200)))
    table = 128 + 12 * blotches + rng.normal(0, 6, (200, 150))
    ink = np.asarray(Image.open(io.BytesIO(ring_png())), np.float32) < 128
    photo = np.clip(np.where(ink, 0.25 * table, table), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(photo).convert("RGB").save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def bar_png() -> bytes:
    picture = Image.new("RGB", (60, 60), "black")
    ImageDraw.Draw(picture).rectangle((25, 8, 35, 52), fill="white")  # a light "1" on black: used as is
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def downloads(monkeypatch):
    """Bytes of every download button, by file name (AppTest keeps them in a mock media store)."""
    files = {}
    original = MediaFileManager.add

    def add(self, path_or_data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        if file_name:
            files[file_name] = path_or_data
        return original(self, path_or_data, mimetype, coordinates, file_name, is_for_static_download)

    monkeypatch.setattr(MediaFileManager, "add", add)
    return files


def rerun(app):
    # Under AppTest a rerun of a page runs the page file alone (pages/ also looks like a legacy pages folder), so
    # the sidebar does not re-select the model: select it here before every run, as the sidebar would.
    app.session_state[keys.MODEL] = app.model_path
    app.session_state[keys.SPEC] = PCA
    app.run()
    assert not app.exception, [e.value for e in app.exception]


@pytest.fixture
def enc(app, tiny_models_dir):
    app.model_path = str(tiny_models_dir / "digits-tiny")
    rerun(app)
    app.switch_page("pages/encode.py")
    rerun(app)
    return app


@pytest.fixture(scope="module")
def expected(tiny_models_dir):
    """What vae_core says about the pictures, computed outside the enc."""
    loaded = checkpoint.load_checkpoint(tiny_models_dir / "digits-tiny")
    encoded = encodings.encode_split(loaded, data.load_dataset("digits"), "test")
    placer = Placer(encoded.mu, fit_projection(encoded.mu, PCA))

    def encode_files(files):
        return encode.encode_uploads(loaded, uploads.read_uploads(files, loaded.config.image_shape), encoded, placer)
    return encode_files


def metric_values(app, label):
    return [m.value for m in app.metric if m.label == label]


def image_captions(app) -> list[str]:
    return [image.proto.imgs[0].caption for image in app.get("image")]


def first_strip(app) -> list[str]:
    """The captions of the first picture card's strip: from its original to its reconstruction."""
    captions = image_captions(app)
    start = captions.index("original")
    return captions[start:captions.index("reconstruction", start) + 1]


def border_mean(array: np.ndarray) -> float:
    return float(np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]]).mean())


def test_a_drawn_digit_gets_input_reconstruction_numbers_place_and_downloads(enc, downloads, expected):
    assert "Upload a picture" in enc.info[0].value
    enc.file_uploader(key="encode_files").set_value([("ring.png", ring_png(), "image/png")])
    rerun(enc)
    want = expected([("ring.png", ring_png())])[0]
    assert not enc.error
    assert metric_values(enc, "ELBO") == [f"{want.elbo:.1f}"]
    assert metric_values(enc, "Typicality") == [f"{want.percentile:.0f}%"]
    # the split, one estimate adding up as shown, its estimator in the help (issue 22)
    split = next(re.search(r"ELBO (\S+) = −\(recon (\S+) \+ KL (\S+)\) nats", c.value) for c in enc.caption
                 if " = −(recon " in c.value)
    elbo, recon, kl = (Decimal(v) for v in split.groups())
    assert elbo == -(recon + kl) and split.group(1) == f"{want.elbo:.1f}"
    assert "single-sample estimate" in next(m for m in enc.metric if m.label == "ELBO").help
    # the steps (original, inverted, cropped, model input, reconstruction); the clicked-star panel (input,
    # reconstruction); 8 neighbours
    assert first_strip(enc) == ["original", "② inverted", "③ cropped, centred", "model input 28×28",
                                "reconstruction"]
    assert len(enc.get("image")) == 5 + 2 + 8
    captions = " ".join(c.value for c in enc.caption)
    assert f"map ({want.xy[0]:.2f}, {want.xy[1]:.2f})" in captions  # the same place the library computes
    assert "inverted" in captions and "cropped" in captions  # the enc says what was done to the picture

    rows = list(csv.reader(io.StringIO(downloads["digits-tiny-uploads.csv"].decode())))
    dims = 4
    assert rows[0] == ["file", *[f"mu_{d}" for d in range(dims)], *[f"sigma_{d}" for d in range(dims)],
                       "map_x", "map_y", "elbo", "recon", "kl", "percentile"]
    assert len(rows) == 2 and rows[1][0] == "ring.png"
    np.testing.assert_allclose([float(v) for v in rows[1][1:1 + dims]], want.mu, rtol=1e-5, atol=1e-6)
    sheet = np.asarray(Image.open(io.BytesIO(downloads["digits-tiny-uploads.png"])))
    assert sheet.shape == (2 * (3 * 30 + 2), 2 * (30 + 2))  # 3 rows of 28 px tiles (2 px gaps), scaled ×2
    np.testing.assert_array_equal(sheet[2 * 32:2 * 60:2, 4:60:2], want.input)  # row 2 = the model input

    kept = enc.session_state[keys.UPLOADS]
    assert [k["name"] for k in kept] == ["ring.png"] and len(kept[0]["mu"]) == dims
    np.testing.assert_array_equal(kept[0]["input"], want.input)


def test_bad_files_get_one_message_each_and_good_ones_still_work(enc, expected):
    good = ring_png()
    enc.file_uploader(key="encode_files").set_value([
        ("ring.png", good, "image/png"), ("empty.png", b"", "image/png"),
        ("webpage.png", b"<!DOCTYPE html><html><body>not a picture</body></html>", "image/png"),
        ("cut.png", good[: len(good) // 2], "image/png"), ("bar.png", bar_png(), "image/png")])
    rerun(enc)
    errors = [e.value for e in enc.error]
    assert len(errors) == 3
    for name, reason in (("empty.png", "empty"), ("webpage.png", "HTML"), ("cut.png", "truncated")):
        assert sum(name in e for e in errors) == 1 and any(name in e and reason in e for e in errors), errors
    want = expected([("ring.png", good), ("bar.png", bar_png())])
    assert metric_values(enc, "ELBO") == [f"{w.elbo:.1f}" for w in want]
    assert [k["name"] for k in enc.session_state[keys.UPLOADS]] == ["ring.png", "bar.png"]


def test_invert_override_click_on_a_star_and_send_to_generate(enc, expected, monkeypatch):
    enc.file_uploader(key="encode_files").set_value([("ring.png", ring_png(), "image/png"),
                                                      ("bar.png", bar_png(), "image/png")])
    rerun(enc)
    before = metric_values(enc, "ELBO")
    enc.segmented_control(key="encode_invert::ring.png").set_value("Don't")
    rerun(enc)
    after = metric_values(enc, "ELBO")
    assert after[1] == before[1] and after[0] != before[0]  # only the ring changed: white paper is now its input
    assert enc.session_state["encode_overrides"] == {"ring.png": {"background": "Auto", "invert": "Don't",
                                                                  "crop": True}}
    assert "② inverted" not in first_strip(enc)  # the strip shows the steps that were taken

    enc.session_state["encode_map"] = {"selection": {"points": [{"curve_number": 1, "point_index": 1,
                                                                   "customdata": 1, "x": 0.0, "y": 0.0}]}}
    rerun(enc)
    bar = expected([("bar.png", bar_png())])[0]
    names = [m.value for m in enc.markdown if m.value.startswith("**")]
    assert names == ["**bar.png**", "**ring.png**", "**bar.png**"]  # the star panel, then the two cards
    assert any(f"map ({bar.xy[0]:.2f}, {bar.xy[1]:.2f})" in c.value for c in enc.caption)
    # the picked star leaves the dataset's points as they were (Plotly would draw them at 0.2x: issue 22)
    chart = next(json.loads(c.proto.spec) for c in enc.get("plotly_chart") if "your pictures" in c.proto.spec)
    points, stars = chart["data"]
    assert points["unselected"]["marker"]["opacity"] == 1 and points["marker"].get("opacity", 1) == 1
    assert all(colour.endswith(",0.35)") for _, colour in points["marker"]["colorscale"])
    assert stars["unselected"]["marker"]["opacity"] >= 0.5

    switched = []  # stay on this page (Generate consumes the hand-over) but record where it would go
    monkeypatch.setattr(st, "switch_page", switched.append)
    enc.button(key="encode_send::bar.png").click()
    rerun(enc)
    assert switched == ["pages/generate.py"]
    start = enc.session_state[keys.GENERATE_START]
    assert start["label"] == "bar.png"
    np.testing.assert_allclose(start["z"], bar.mu, rtol=1e-6)


def test_a_camera_photo_is_encoded_like_an_upload(enc, expected):
    enc.toggle(key="encode_camera_on").set_value(True)
    rerun(enc)
    photo = io.BytesIO()
    Image.open(io.BytesIO(ring_png())).convert("RGB").save(photo, format="JPEG", quality=90)
    enc.camera_input(key="encode_camera").set_value(("photo.jpg", photo.getvalue(), "image/jpeg"))
    rerun(enc)
    want = expected([("camera photo.jpg", photo.getvalue())])[0]
    assert not enc.error
    assert metric_values(enc, "ELBO") == [f"{want.elbo:.1f}"]
    assert [k["name"] for k in enc.session_state[keys.UPLOADS]] == ["camera photo.jpg"]


def test_a_grey_table_is_removed_shown_as_a_step_and_its_switch_puts_it_back(enc):
    enc.file_uploader(key="encode_files").set_value([("table.jpg", ring_on_a_grey_table(), "image/jpeg")])
    rerun(enc)
    assert not enc.error
    assert first_strip(enc) == ["original", "① background removed", "③ cropped, centred", "model input 28×28",
                                "reconstruction"]
    kept = enc.session_state[keys.UPLOADS][0]["input"]
    assert border_mean(kept) < 5 and kept.max() > 200  # a light ring on black, as the digits are
    captions = " ".join(c.value for c in enc.caption).replace("\\", "")  # as shown: markdown escapes removed
    assert "background removed: mid-grey" in captions and "textured" in captions  # says what was done
    switch = enc.segmented_control(key="encode_background::table.jpg")
    assert switch.label == "① Background" and switch.value == "Auto"
    assert [enc.segmented_control(key="encode_invert::table.jpg").label, enc.toggle(key="encode_crop::table.jpg")
            .label] == ["② Invert", "③ Crop"]
    before = metric_values(enc, "ELBO")

    switch.set_value("Keep")
    rerun(enc)
    kept = enc.session_state[keys.UPLOADS][0]["input"]
    assert border_mean(kept) > 100  # the grey table is back in the model input (not inverted: it is mid-grey)
    assert "① background removed" not in first_strip(enc) and metric_values(enc, "ELBO") != before
    assert enc.session_state["encode_overrides"] == {"table.jpg": {"background": "Keep", "invert": "Auto",
                                                                   "crop": True}}


def test_notes_quoting_a_file_name_show_it_as_text(enc):
    photo = io.BytesIO()
    Image.open(io.BytesIO(ring_png())).convert("RGB").save(photo, format="JPEG", quality=90)
    enc.file_uploader(key="encode_files").set_value([("**x**[y](z).png", photo.getvalue(), "image/png")])
    rerun(enc)
    note = next(c.value for c in enc.caption if "despite its name" in c.value)  # a JPEG named .png
    assert "\\*\\*x\\*\\*\\[y\\](z).png is really a JPEG" in note  # escaped: no bold, no link
