"""AppTest of the Generate page on the tiny digits model: sliders decode live, hand-over from the Map, KL order,
start buttons, the sample grid's prior/aggregate toggle, and the PNG download."""
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ui import state
from vae_core import latent
from vae_core.projection import ProjectionSpec

PAGE = "pages/generate.py"
LABEL = re.compile(r"^z(\d+) · ([\d.]+) nats")
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

    def png(url: str) -> bytes:
        return next(data for file_id, data in stored.items() if file_id in url)

    return png


@pytest.fixture
def page(app, media, open_page):
    open_page(app, PAGE)
    assert app.slider, "the page shows no sliders: did the sidebar select the tiny model?"
    return app


@pytest.fixture(scope="module")
def reference(tiny_models_dir):
    """The tiny model and its test-split encoding, computed here independently of the page."""
    from vae_core import checkpoint, data, explorer

    loaded = checkpoint.load_checkpoint(tiny_models_dir / "digits-tiny")
    encoded = explorer.encode_split(loaded, data.load_dataset("digits"), "test")
    return loaded.model, encoded


def image_with(at, caption_part: str):
    found = [im for im in at.image if any(caption_part in c for c in im.captions)]
    assert len(found) == 1, [im.captions for im in at.image]
    return found[0]


def slider_z(at) -> np.ndarray:
    """The z the sliders hold, in dimension order (slider order is by KL)."""
    values = {int(LABEL.match(s.label).group(1)): s.value for s in at.slider}
    return np.array([values[d] for d in range(len(values))], dtype=np.float32)


def decoded(at, media) -> np.ndarray:
    picture = np.asarray(Image.open(io.BytesIO(media(image_with(at, "decoded from").value[0]))))
    return picture


def test_slider_moves_change_the_decoded_image_to_the_decoder_output(page, media, reference):
    model, _ = reference
    before_url = image_with(page, "decoded from").value[0]
    before = decoded(page, media)
    expected = model.decode_images(slider_z(page))[0]
    scale = before.shape[0] // expected.shape[0]
    assert scale >= 8  # shown large: upscaled server-side, nearest neighbour
    np.testing.assert_array_equal(before[::scale, ::scale], expected)

    top = page.slider[0]
    top.set_value(top.max).run()
    assert not page.exception
    after_url = image_with(page, "decoded from").value[0]
    assert after_url != before_url
    after = decoded(page, media)
    z = slider_z(page)
    assert z[int(LABEL.match(page.slider[0].label).group(1))] == pytest.approx(top.max)
    np.testing.assert_array_equal(after[::scale, ::scale], model.decode_images(z)[0])
    assert np.abs(after.astype(int) - before.astype(int)).sum() > 0
    # the download is the image on screen, and the z caption follows the sliders
    assert media(page.get("download_button")[0].proto.url) == media(after_url)
    assert any(f"{z[0]:+.2f}" in c.value for c in page.caption if c.value.startswith("z = ("))


def test_sliders_follow_kl_order_and_mark_inactive_units(page, reference):
    _, encoded = reference
    labels = [s.label for s in page.slider]
    assert len(labels) == 4
    parsed = [LABEL.match(label) for label in labels]
    dims = [int(m.group(1)) for m in parsed]
    assert sorted(dims) == [0, 1, 2, 3]
    assert dims[0] == int(np.argmax(encoded.mean_kl_per_dim))
    kls = [float(m.group(2)) for m in parsed]
    assert kls == sorted(kls, reverse=True)
    variance = encoded.mu.var(axis=0)
    for dim, label in zip(dims, labels):
        assert ("inactive" in label) == (variance[dim] <= 0.01), (label, variance[dim])
    for s in page.slider:  # ±3σ (+|mean|) around 0
        d = int(LABEL.match(s.label).group(1))
        expected = abs(encoded.mu[:, d].mean()) + 3 * encoded.spread[d]
        assert s.min == -s.max and expected <= s.max <= expected * 1.02  # ends rounded up onto the step grid


def test_a_latent_handed_over_puts_the_sliders_there_once(page, media):
    z = np.array([0.4 * s.max if i % 2 else 0.4 * s.min for i, s in enumerate(sorted(
        page.slider, key=lambda s: int(LABEL.match(s.label).group(1))))], dtype=np.float32)
    before_url = image_with(page, "decoded from").value[0]
    page.session_state[state.GENERATE_START] = {"z": z.tolist(), "label": "#7 (seven)", "row": 7}
    page.run()
    assert not page.exception
    np.testing.assert_allclose(slider_z(page), z, rtol=1e-5, atol=1e-6)
    assert any("Started from #7 (seven)" in s.value for s in page.success)
    assert next(n for n in page.number_input if n.key.endswith("_index")).value == 7  # the box names the point
    assert state.GENERATE_START not in page.session_state  # consumed
    assert image_with(page, "decoded from").value[0] != before_url
    page.run()  # consumed once: the message goes, the sliders stay
    assert not page.success
    np.testing.assert_allclose(slider_z(page), z, rtol=1e-5, atol=1e-6)


def test_values_beyond_the_sliders_are_clipped_and_counted(page, reference):
    _, encoded = reference
    ranges = np.array([[s.min, s.max] for s in sorted(page.slider, key=lambda s: int(LABEL.match(s.label).group(1)))])
    z = np.array([10 * ranges[0, 1], 0.0, 10 * ranges[2, 0], 0.0])  # two far outside, two inside
    page.session_state[state.GENERATE_START] = {"z": z.tolist(), "label": "far away"}
    page.run()
    np.testing.assert_allclose(slider_z(page), [ranges[0, 1], 0, ranges[2, 0], 0], atol=1e-6)
    note = next(c.value for c in page.caption if c.value.startswith("Starting point"))
    assert "2 value(s) were outside their slider's range" in note
    assert ("inactive" in note) == (not latent.active_dims(encoded.mu)[[0, 2]].all())


def test_a_latent_of_the_wrong_size_is_refused_with_a_message(page):
    before = slider_z(page)
    page.session_state[state.GENERATE_START] = {"z": [0.1] * 7, "label": "other model"}
    page.run()
    assert not page.exception
    assert any("7 values" in w.value and "4 dimensions" in w.value for w in page.warning)
    np.testing.assert_array_equal(slider_z(page), before)
    page.session_state[state.GENERATE_START] = {"z": ["a", None], "label": "garbage"}
    page.run()
    assert not page.exception and any("ignored" in w.value for w in page.warning)


def test_start_buttons_prior_origin_point_and_reset(page, reference):
    _, encoded = reference
    page.button(key="gen_origin").click().run()
    np.testing.assert_array_equal(slider_z(page), np.zeros(4))
    page.button(key="gen_prior").click().run()
    first = slider_z(page)
    assert np.abs(first).sum() > 0
    page.button(key="gen_prior").click().run()
    assert not np.allclose(slider_z(page), first)  # a new seed each click
    assert any("prior sample (seed 2)" in c.value for c in page.caption)

    index = next(n for n in page.number_input if n.key.endswith("_index"))
    index.set_value(5).run()
    page.button(key="gen_point").click().run()
    ranges = np.array([[s.min, s.max] for s in sorted(page.slider, key=lambda s: int(LABEL.match(s.label).group(1)))])
    np.testing.assert_allclose(slider_z(page), np.clip(encoded.mu[5], ranges[:, 0], ranges[:, 1]), atol=1e-6)
    start = slider_z(page)
    page.slider[0].set_value(page.slider[0].min).run()
    assert not np.allclose(slider_z(page), start)
    page.button(key="gen_reset").click().run()
    np.testing.assert_allclose(slider_z(page), start, atol=1e-6)
    assert not page.exception


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
    picture = np.asarray(Image.open(io.BytesIO(media(image_with(page, "samples from").value[0]))))
    assert picture.shape[0] == picture.shape[1] == (8 * (28 + 2) + 2) * 2  # 8×8 grid of 28×28 digits, ×2


def test_a_sample_of_the_grid_goes_into_the_sliders(page, media, reference):
    """Sample n of the grid (aggregate posterior, second seed) becomes the sliders' z and the decoded image."""
    model, encoded = reference
    page.toggle(key="gen_aggregate").set_value(True).run()
    page.button(key="gen_new_samples").click().run()
    page.number_input(key="gen_sample_number").set_value(11).run()
    page.button(key="gen_sample_to_sliders").click().run()
    assert not page.exception
    expected = latent.AggregatePosterior(encoded.mu).sample(64, 1)[10]  # computed here, apart from the page
    ranges = np.array([[s.min, s.max] for s in sorted(page.slider, key=lambda s: int(LABEL.match(s.label).group(1)))])
    np.testing.assert_allclose(slider_z(page), np.clip(expected, ranges[:, 0], ranges[:, 1]), atol=1e-5)
    assert any("sample 11 from the aggregate posterior (seed 1)" in c.value for c in page.caption)
    picture, expected_image = decoded(page, media), model.decode_images(slider_z(page))[0]
    scale = picture.shape[0] // expected_image.shape[0]
    np.testing.assert_array_equal(picture[::scale, ::scale], expected_image)


def test_traversal_grid_has_one_row_per_dimension(page, media):
    traversal = image_with(page, "sweeps one dimension")
    picture = np.asarray(Image.open(io.BytesIO(media(traversal.value[0]))))
    rows, cols = 4, 9  # z=4: every dimension gets a row; 9 steps; 28×28 digits with 2 px padding, upscaled ×2
    assert picture.shape[0] == (rows * (28 + 2) + 2) * 2
    assert picture.shape[1] > (cols * (28 + 2) + 2) * 2  # plus the label margin


def test_more_than_16_dimensions_go_into_an_expander(tmp_path, monkeypatch, media):
    """An untrained z=20 model (layout only: its weights don't matter) keeps the top 16 sliders in view."""
    import torch
    from streamlit.testing.v1 import AppTest

    from vae_core import checkpoint, data
    from vae_core.model import VAE, VAEConfig

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
    at.session_state[state.SPEC] = PCA_MAP
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.slider) == 20
    assert len(at.main.expander) == 1 and "4 more dimensions" in at.main.expander[0].label
    assert len(at.main.expander[0].slider) == 4
    kls = [float(LABEL.match(s.label).group(2)) for s in at.slider]
    assert kls == sorted(kls, reverse=True)
    hidden = at.main.expander[0].slider[0]  # a slider in the expander works like the others
    before = image_with(at, "decoded from").value[0]
    hidden.set_value(hidden.max).run()
    assert image_with(at, "decoded from").value[0] != before
