"""AppTest of the Generate page on the tiny digits model. AppTest runs no JavaScript, so the latent pad is driven
as the browser drives it: the test reads the data the page sends the pad (its z, slider layout and the server's
image), and answers with the pad's state, {"z": {"z": [...], "seq", "rev"}}, as pad.js does when a drag ends.
Then: the decoded image, the PNG download, the traversals and the view bundle follow that z; hand-overs, start
buttons, KL order, inactive marks, widened ranges, the sample grid, and refusals of bad input."""
import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ui.components import served
from ui.session import keys
from ui.text import md_escape
from vae_core import latent
from vae_core.map.projection import ProjectionSpec

PAGE = "pages/generate.py"
PCA_MAP = ProjectionSpec(method="pca")  # the mini map on PCA: the page is the same, without UMAP's JIT compile


@pytest.fixture(autouse=True)
def _navigation(navigation_like_the_server):
    """Every test here, also those building their own AppTest, runs app.py like the server does (see conftest)."""


@pytest.fixture
def media(monkeypatch):
    """Every media file the app stores (st.image, download_button data), by file id: AppTest only shows URLs."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    stored: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        stored[file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)

    def png(url: str) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(next(data for file_id, data in stored.items() if file_id in url))))

    return png


@pytest.fixture(scope="module")
def reference(tiny_models_dir):
    """The tiny model and its test-split encoding, computed here independently of the page."""
    from vae_core import data
    from vae_core.models.torch_vae import checkpoint
    from vae_core.map import encodings

    loaded = checkpoint.load_checkpoint(tiny_models_dir / "digits-tiny")
    encoded = encodings.encode_split(loaded, data.load_dataset("digits"), "test")
    return loaded, encoded


@pytest.fixture
def page(app, media, open_page):
    open_page(app, PAGE)
    assert pads(app), "the page shows no latent pad: did the sidebar select the tiny model?"
    return app


def pads(at) -> list:
    return [e for e in at.main if getattr(e, "type", None) == "bidi_component"]


def pad(at) -> dict:
    """The data the page sent the pad in its last run."""
    found = pads(at)
    assert len(found) == 1
    return json.loads(found[0].proto.json)


def pad_z(at) -> np.ndarray:
    return np.array(pad(at)["z"], dtype=np.float64)


def pad_pixels(at) -> np.ndarray:
    data = pad(at)
    c, h, w = data["shape"]
    image = np.frombuffer(base64.b64decode(data["pixels"]), dtype=np.uint8)
    return image.reshape(h, w) if c == 1 else image.reshape(h, w, c)


def prefix(reference) -> str:
    loaded, _ = reference
    return f"gen_{loaded.weights_hash[:12]}_test"


def release(at, reference, z, rev=None, seq=1) -> None:
    """What pad.js sends when a drag or a key press ends: the final z, and the revision of Python's z it moved."""
    key = prefix(reference)
    rev = at.session_state[f"{key}_rev"] if rev is None else rev
    at.session_state[f"{key}_pad"] = {"z": {"z": [float(v) for v in z], "seq": seq, "rev": rev}}
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def image_with(at, caption_part: str):
    found = [im for im in at.image if any(caption_part in c for c in im.captions)]
    assert len(found) == 1, [im.captions for im in at.image]
    return found[0]


def by_dim(at) -> dict[int, dict]:
    return {info["d"]: info for info in pad(at)["dims"]}


def test_a_released_z_feeds_the_image_download_traversals_and_bundle(page, media, reference):
    loaded, encoded = reference
    model = loaded.model
    np.testing.assert_allclose(pad_z(page), encoded.mu[0], atol=1e-6)  # the first visit starts at row 0
    np.testing.assert_array_equal(pad_pixels(page), model.decode_images(encoded.mu[0])[0])
    assert pad(page)["decoder"] == served.decoder_url(loaded)  # the model's decoder, named by its own bytes
    assert pad(page)["placement"] and pad(page)["minimap"]
    traversal_before = image_with(page, "sweeps one dimension").value[0]

    z = encoded.mu[0] + np.array([0.9, -0.7, 0.5, -0.3]) * encoded.spread
    release(page, reference, z)
    np.testing.assert_allclose(pad_z(page), z, atol=1e-6)
    expected = model.decode_images(z)[0]
    np.testing.assert_array_equal(pad_pixels(page), expected)
    download = page.get("download_button")[0]
    picture = media(download.proto.url)
    scale = picture.shape[0] // expected.shape[0]
    assert scale >= 8  # the PNG is large and crisp: upscaled server-side, nearest neighbour
    np.testing.assert_array_equal(picture[::scale, ::scale], expected)
    np.testing.assert_allclose(page.session_state["generate_z"], z, atol=1e-6)  # a view bundle saves this z
    traversal = image_with(page, "sweeps one dimension")
    assert traversal.value[0] != traversal_before
    grid = media(traversal.value[0])
    dims = [info["d"] for info in pad(page)["dims"]][:4]
    frames = model.decode_images(latent.traversal(z, dims, encoded.spread, steps=9).reshape(-1, 4))
    middle = frames.reshape(4, 9, 28, 28)[0, 4]  # row 1, middle column: z itself
    strip_px = grid.shape[1] - (9 * 30 + 2) * 2  # the label strip on the left
    cell = grid[2 * 2:2 * 2 + 56:2, strip_px + 2 * (2 + 4 * 30):strip_px + 2 * (2 + 4 * 30) + 56:2]
    np.testing.assert_array_equal(cell, middle)
    np.testing.assert_array_equal(middle, expected)


def test_a_z_sent_for_an_older_revision_is_ignored(page, reference):
    _, encoded = reference
    page.button(key="gen_origin").click().run()
    np.testing.assert_array_equal(pad_z(page), np.zeros(4))
    stale = page.session_state[f"{prefix(reference)}_rev"] - 1  # moved before Origin was pressed
    release(page, reference, encoded.mu[3], rev=stale)
    np.testing.assert_array_equal(pad_z(page), np.zeros(4))
    release(page, reference, encoded.mu[3], seq=2)
    np.testing.assert_allclose(pad_z(page), encoded.mu[3], atol=1e-6)


def test_sliders_follow_kl_order_active_first_and_mark_inactive_units(page, reference):
    _, encoded = reference
    dims = pad(page)["dims"]
    assert sorted(info["d"] for info in dims) == [0, 1, 2, 3]
    active = latent.active_dims(encoded.mu)
    kl = encoded.mean_kl_per_dim
    flags = [info["inactive"] for info in dims]
    assert flags == sorted(flags)  # active dimensions first
    for group in (True, False):
        kls = [kl[info["d"]] for info in dims if info["inactive"] != group]
        assert kls == sorted(kls, reverse=True)
    for info in dims:
        d = info["d"]
        assert info["inactive"] == (not active[d])  # one criterion for the order, the mark and the label
        assert info["name"].startswith(f"z{d} · {kl[d]:.2f} nats") and ("inactive" in info["name"]) == info["inactive"]
        assert info["aria"].startswith(f"z{d}, ") and "<" not in info["aria"]
        expected = abs(encoded.mu[:, d].mean()) + 3 * encoded.spread[d]  # ±3σ (+|mean|) around 0
        assert info["min"] == -info["max"] and expected <= info["max"] <= expected * 1.02
    assert any("variance ≤ 0.01" in c.value for c in page.caption)  # the criterion is stated


def test_a_latent_handed_over_goes_into_the_pad_once(page, reference):
    loaded, _ = reference
    z = np.array([0.4, -0.2, 0.1, -0.05])
    page.session_state[keys.GENERATE_START] = {"z": z.tolist(), "label": "#7 (seven)", "row": 7}
    page.run()
    assert not page.exception
    np.testing.assert_allclose(pad_z(page), z, atol=1e-9)
    np.testing.assert_array_equal(pad_pixels(page), loaded.model.decode_images(z)[0])
    assert any("Started from #7 (seven)" in s.value for s in page.success)
    assert next(n for n in page.number_input if n.key.endswith("_index")).value == 7  # the box names the point
    assert keys.GENERATE_START not in page.session_state  # consumed
    page.run()  # consumed once: the message goes, z stays
    assert not page.success
    np.testing.assert_allclose(pad_z(page), z, atol=1e-9)


def test_values_beyond_the_range_widen_their_sliders_instead_of_clipping(page, reference):
    _, encoded = reference
    base = by_dim(page)
    z = np.array([10 * base[0]["max"], 0.0, -10 * base[2]["max"], 0.0])  # two far outside, two inside
    page.session_state[keys.GENERATE_START] = {"z": z.tolist(), "label": "far away"}
    page.run()
    np.testing.assert_allclose(pad_z(page), z)  # not clipped
    now = by_dim(page)
    for d in (0, 2):
        assert now[d]["min"] <= z[d] <= now[d]["max"] and now[d]["max"] < abs(z[d]) + now[d]["step"] + 1e-9
        assert "widened" in now[d]["help"]
    for d in (1, 3):
        assert now[d]["max"] == base[d]["max"]
    note = next(c.value for c in page.caption if c.value.startswith("Starting point"))
    assert "2 value(s) were beyond" in note and "widened" in note
    assert ("inactive" in note.split("widened")[1]) == (not latent.active_dims(encoded.mu)[[0, 2]].all())


def test_a_latent_of_the_wrong_size_is_refused_with_a_message(page):
    before = pad_z(page)
    page.session_state[keys.GENERATE_START] = {"z": [0.1] * 7, "label": "other model"}
    page.run()
    assert not page.exception
    assert any("7 values" in w.value and "4 dimensions" in w.value for w in page.warning)
    np.testing.assert_array_equal(pad_z(page), before)
    page.session_state[keys.GENERATE_START] = {"z": ["a", None], "label": "garbage"}
    page.run()
    assert not page.exception and any("ignored" in w.value for w in page.warning)


def test_start_buttons_prior_origin_point_and_reset(page, reference):
    _, encoded = reference
    page.button(key="gen_origin").click().run()
    np.testing.assert_array_equal(pad_z(page), np.zeros(4))
    page.button(key="gen_prior").click().run()
    first = pad_z(page)
    np.testing.assert_allclose(first, latent.prior_samples(1, 4, 1)[0], atol=1e-6)  # seed 1, not clipped
    page.button(key="gen_prior").click().run()
    assert not np.allclose(pad_z(page), first)  # a new seed each click
    assert any("prior sample (seed 2)" in c.value for c in page.caption)

    next(n for n in page.number_input if n.key.endswith("_index")).set_value(5).run()
    page.button(key="gen_point").click().run()
    np.testing.assert_allclose(pad_z(page), encoded.mu[5], atol=1e-6)
    release(page, reference, encoded.mu[5] + 0.3)
    assert not np.allclose(pad_z(page), encoded.mu[5])
    page.button(key="gen_reset").click().run()
    np.testing.assert_allclose(pad_z(page), encoded.mu[5], atol=1e-6)
    assert not page.exception


@pytest.mark.parametrize("garbage", ["abc", 10**9, -3, 2.5, None])
def test_a_garbage_dataset_point_gets_a_message_and_changes_nothing(app, media, open_page, reference, garbage):
    """A row that is no row of this split (a stale link, a view of another split) is named, and nothing moves."""
    _, encoded = reference
    app.session_state[f"{prefix(reference)}_index"] = garbage  # before the box exists, as a link would set it
    open_page(app, PAGE)
    assert any("is not a row of the test split" in w.value for w in app.warning)
    np.testing.assert_allclose(pad_z(app), encoded.mu[0], atol=1e-6)  # the first visit's z, untouched
    assert next(n for n in app.number_input if n.key.endswith("_index")).value == 0
    app.button(key="gen_point").click().run()  # the box holds a valid row again
    assert not app.exception and not app.warning


def test_a_broken_engine_switches_to_server_decoding_with_one_line(page, reference):
    loaded, encoded = reference
    page.session_state[f"{prefix(reference)}_pad"] = {"engine": "In-page decoding is unavailable (no wasm)"}
    page.run()
    assert any("decoded on the server" in c.value for c in page.caption)
    release(page, reference, encoded.mu[2])  # the page still paints the server's decode of each released z
    np.testing.assert_array_equal(pad_pixels(page), loaded.model.decode_images(encoded.mu[2])[0])


def test_sample_grid_toggle_and_new_samples(page, media):
    grid = image_with(page, "samples from")
    assert "the prior" in grid.captions[0]
    prior_url = grid.value[0]
    page.toggle(key="gen_aggregate").set_value(True).run()
    assert not page.exception
    grid = image_with(page, "samples from")
    assert "aggregate posterior" in grid.captions[0]
    assert grid.value[0] != prior_url
    aggregate_url = grid.value[0]
    page.button(key="gen_new_samples").click().run()
    assert image_with(page, "samples from").value[0] != aggregate_url
    picture = media(image_with(page, "samples from").value[0])
    assert picture.shape[0] == picture.shape[1] == (8 * (28 + 2) + 2) * 2  # 8×8 grid of 28×28 digits, ×2


def test_a_sample_of_the_grid_goes_into_the_pad(page, reference):
    """Sample n of the grid (aggregate posterior, second seed) becomes the pad's z and the decoded image."""
    loaded, encoded = reference
    page.toggle(key="gen_aggregate").set_value(True).run()
    page.button(key="gen_new_samples").click().run()
    page.number_input(key="gen_sample_number").set_value(11).run()
    page.button(key="gen_sample_to_sliders").click().run()
    assert not page.exception
    expected = latent.AggregatePosterior(encoded.mu).sample(64, 1)[10]  # computed here, apart from the page
    np.testing.assert_allclose(pad_z(page), expected, atol=1e-5)
    assert any("sample 11 from the aggregate posterior (seed 1)" in c.value for c in page.caption)
    np.testing.assert_array_equal(pad_pixels(page), loaded.model.decode_images(pad_z(page))[0])


def test_traversal_grid_has_one_row_per_dimension(page, media):
    picture = media(image_with(page, "sweeps one dimension").value[0])
    rows, cols = 4, 9  # z=4: every dimension gets a row; 9 steps; 28×28 digits with 2 px padding, upscaled ×2
    assert picture.shape[0] == (rows * (28 + 2) + 2) * 2
    assert picture.shape[1] > (cols * (28 + 2) + 2) * 2  # plus the label margin


def test_more_than_16_dimensions_keep_16_in_view(tmp_path, monkeypatch, media):
    """An untrained z=20 model (layout only: its weights don't matter): 16 sliders in view, 4 under "more"."""
    import torch
    from streamlit.testing.v1 import AppTest

    from vae_core import data
    from vae_core.models.torch_vae import checkpoint
    from vae_core.models.torch_vae.model import VAE, VAEConfig

    dataset = data.load_dataset("digits")
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_shape=dataset.image_shape, latent_dim=20, channels=(8, 16), hidden=32,
                          dataset="digits", class_names=dataset.class_names))
    checkpoint.save_checkpoint(tmp_path / "models" / "digits-z20", model)
    monkeypatch.setenv("VAE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("VAE_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=180)
    at.session_state["dataset_name"] = "digits"
    at.session_state["model_path"] = str(tmp_path / "models" / "digits-z20")  # not the shipped digits model
    at.session_state[keys.SPEC] = PCA_MAP
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    data_sent = pad(at)
    assert data_sent["top"] == 16 and len(data_sent["dims"]) == 20
    assert sorted(info["d"] for info in data_sent["dims"]) == list(range(20))


def test_a_handed_over_label_is_shown_as_text_not_markdown(page):
    page.session_state[keys.GENERATE_START] = {"z": [0.0] * 4, "label": "my *file*_[x](http://e.vil)"}
    page.run()
    label = md_escape("my *file*_[x](http://e.vil)")  # no emphasis, no link: the characters as typed
    assert any(label in s.value for s in page.success)
    assert any(label in c.value for c in page.caption if c.value.startswith("Starting point"))
