"""AppTest of the Interpolate page on the tiny digits model: two strips with their pixel steps, the GIF download,
the attribute-vector strength, and view bundles (round trip through ui/bundle_io, refusals)."""
import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from tests.conftest import shown
from ui.session import bundles
from ui.session import items, keys
from vae_core import data, latent, models
from vae_core.models.torch_vae import checkpoint
from vae_core.map import encodings
from vae_core.bundle import bundle_from_json, bundle_to_json
from vae_core.images import grid

PAGE = "pages/interpolate.py"
STEP_CAPTION = re.compile(r"mean step \*\*([\d.]+)\*\* · largest \*\*([\d.]+)\*\*")


@pytest.fixture
def media(monkeypatch):
    """Bytes behind st.image URLs, and the callables of deferred download buttons by file name."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    stored: dict[str, bytes] = {}
    downloads: dict[str, object] = {}
    original_store, original_defer = MemoryMediaFileStorage.load_and_get_id, MediaFileManager.add_deferred

    def keep(self, path_or_data, mimetype, kind, filename=None):
        file_id = original_store(self, path_or_data, mimetype, kind, filename)
        stored[file_id] = path_or_data
        return file_id

    def keep_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        downloads[file_name] = data_callable
        return original_defer(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    monkeypatch.setattr(MediaFileManager, "add_deferred", keep_deferred)

    class Media:
        def image(self, element) -> np.ndarray:
            url = element.value[0]
            return np.asarray(Image.open(io.BytesIO(next(d for i, d in stored.items() if i in url))))

        def download(self, suffix: str) -> bytes:
            names = [name for name in downloads if name.endswith(suffix)]
            assert names, list(downloads)
            return downloads[names[-1]]()

    return Media()


@pytest.fixture(scope="module")
def reference(tiny_models_dir):
    """The tiny model and its test-split encoding, computed independently of the page."""
    loaded = checkpoint.load_checkpoint(tiny_models_dir / "digits-tiny")
    encoded = encodings.encode_split(loaded, data.load_dataset("digits"), "test")
    far = np.linalg.norm(encoded.mu[:60, None] - encoded.mu[None, :60], axis=2)
    a, b = np.unravel_index(np.argmax(far), far.shape)  # two far-apart rows: a path with visible change
    return loaded.model, encoded, int(a), int(b)


@pytest.fixture(autouse=True)
def _navigation(navigation_like_the_server):
    """Every test here runs app.py like the server does (see conftest)."""


@pytest.fixture
def page(app, open_page):
    open_page(app, PAGE)
    assert app.number_input, "the page shows no inputs: did the sidebar select the tiny model?"
    return app


@pytest.fixture
def app_factory(app, tiny_models_dir):
    """More fresh sessions of the same app (the `app` fixture has set the environment)."""
    from streamlit.testing.v1 import AppTest

    def make():
        at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=180)
        at.session_state[keys.DATASET] = "digits"
        return at
    return make


def plotly_values(values) -> np.ndarray:
    """Plotly writes numpy arrays as base64 typed arrays, lists otherwise."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values)


def image_with(at, caption: str):
    found = [im for im in at.image if any(caption in c for c in im.captions)]
    assert len(found) == 1, [im.captions for im in at.image]
    return found[0]


def downsample(picture: np.ndarray, shape) -> np.ndarray:
    """Undo the page's integer nearest-neighbour upscaling."""
    scale = picture.shape[0] // shape[0]
    assert picture.shape[:2] == (shape[0] * scale, shape[1] * scale)
    return picture[::scale, ::scale]


def choose_rows(at, a: int, b: int, steps: int):
    at.number_input(key="ep_a_row").set_value(a)
    at.number_input(key="ep_b_row").set_value(b)
    at.slider(key="interp_steps").set_value(steps)
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def test_two_dataset_points_show_linear_and_slerp_strips_with_their_pixel_steps(page, media, reference):
    model, encoded, a, b = reference
    choose_rows(page, a, b, 7)
    captions = [c.value for c in page.caption if "mean step" in c.value]
    assert len(captions) == 2
    strips = {}
    for kind, path in (("Linear", latent.lerp(encoded.mu[a], encoded.mu[b], 7)),
                       ("Slerp", latent.slerp(encoded.mu[a], encoded.mu[b], 7))):
        frames = model.decode_images(path)
        expected = grid(frames, ncols=7)
        strips[kind] = downsample(media.image(image_with(page, f"{kind}: 7 steps")), expected.shape)
        np.testing.assert_array_equal(strips[kind], expected)
        steps = latent.pixel_steps(frames)
        shown = next(STEP_CAPTION.search(c) for c in captions if c.startswith(kind))
        assert float(shown.group(1)) == pytest.approx(steps.mean(), abs=0.006)
        assert float(shown.group(2)) == pytest.approx(steps.max(), abs=0.006)
        chart = next(json.loads(c.proto.spec) for c in page.get("plotly_chart")
                     if f"{kind}: change per step" in c.proto.spec)
        np.testing.assert_allclose(plotly_values(chart["data"][0]["y"]), steps, rtol=1e-5)
        # the chart numbers steps like the caption: its peak sits at k of "between steps k and k+1"
        x = plotly_values(chart["data"][0]["x"])
        worst = int(re.search(r"between steps (\d+) and", next(c for c in captions if c.startswith(kind))).group(1))
        assert x[int(np.argmax(steps))] == worst
    assert not np.array_equal(strips["Linear"], strips["Slerp"])  # two different paths, not one drawn twice
    maps = [json.loads(c.proto.spec) for c in page.get("plotly_chart") if "slerp path" in c.proto.spec]
    assert len(maps) == 1 and {"linear path", "slerp path", "A", "B"} <= {t.get("name") for t in maps[0]["data"]}
    names = [t.get("name") for t in maps[0]["data"]]
    assert names.index("A") > names.index("linear path") and names.index("B") > names.index("slerp path")  # on top


def distinct_runs(frames: np.ndarray) -> list[np.ndarray]:
    """Frames with identical neighbours merged, as GIF writers store them."""
    kept = [frames[0]]
    for frame in frames[1:]:
        if not np.array_equal(frame, kept[-1]):
            kept.append(frame)
    return kept


def test_gif_download_is_a_multi_frame_gif_of_the_strip(page, media, reference):
    model, encoded, a, b = reference
    choose_rows(page, a, b, 6)
    page.slider(key="interp_frame_ms").set_value(200)
    page.select_slider(key="interp_scale").set_value(2)
    page.run()
    expected = distinct_runs(model.decode_images(latent.lerp(encoded.mu[a], encoded.mu[b], 6)))
    gif = Image.open(io.BytesIO(media.download(".gif")))
    assert gif.format == "GIF" and gif.is_animated and gif.n_frames == len(expected) >= 2
    frames = [np.asarray(f.convert("L")) for f in ImageSequence.Iterator(gif)]
    for got, want in zip(frames, expected):
        np.testing.assert_array_equal(downsample(got, want.shape), want)
    assert gif.info["duration"] >= 200
    png = Image.open(io.BytesIO(media.download(".png")))
    assert png.format == "PNG" and png.size[1] == (28 + 4) * 2

    page.toggle(key="interp_pingpong").set_value(True)
    page.run()
    pingpong = Image.open(io.BytesIO(media.download(".gif")))
    assert pingpong.n_frames > gif.n_frames  # back and forth


def test_class_vector_strength_changes_the_result_image(page, media, reference):
    model, encoded, a, _ = reference
    page.number_input(key="ep_vector_point_row").set_value(a)
    page.selectbox(key="vec_from").set_value(0)
    page.selectbox(key="vec_to").set_value(1)
    page.run()
    means = latent.class_means(encoded.mu, encoded.labels, 10)
    vector = latent.attribute_vector(means[0], means[1])
    pictures = {}
    for strength in (1.0, -2.0, 2.0):
        page.slider(key="vec_strength").set_value(strength)
        page.run()
        assert not page.exception
        assert any(f"{strength:+.1f} · (0 → 1)" in c.value for c in page.caption)
        shown = media.image(image_with(page, f"strength {strength:+.1f}"))
        want = model.decode_images(latent.apply_vector(encoded.mu[a], vector, strength))[0]
        np.testing.assert_array_equal(downsample(shown, want.shape), want)
        pictures[strength] = shown
    assert not np.array_equal(pictures[-2.0], pictures[2.0])


def decoded_endpoint(at, media, index: int) -> np.ndarray:
    """The `index`-th "decoded" endpoint picture on the page (A, B, vector point, analogy A, B, C)."""
    return media.image([im for im in at.image if im.captions == ["decoded"]][index])


def test_every_endpoint_source_decodes_its_latent(page, media, reference):
    model, encoded, a, _ = reference
    picture = data.load_dataset("digits").test_images[a]
    page.session_state[keys.UPLOADS] = [{"name": "mine.png", "mu": [9.0] * 4, "input": picture}]
    page.selectbox(key="ep_a_kind").set_value("Upload")
    page.selectbox(key="ep_b_kind").set_value("Random (prior)")
    page.run()
    page.number_input(key="ep_b_seed").set_value(3)
    page.run()
    assert not page.exception and not page.warning, [w.value for w in page.warning]
    upload_z = model.encode_means(data.to_tensor(picture[None]))[0][0]  # re-encoded, not the stale μ
    for index, z in ((0, upload_z), (1, latent.prior_samples(1, 4, 3)[0])):
        want = model.decode_images(z)[0]
        np.testing.assert_array_equal(downsample(decoded_endpoint(page, media, index), want.shape), want)
    want = grid(model.decode_images(latent.lerp(upload_z, latent.prior_samples(1, 4, 3)[0], 10)), ncols=10)
    np.testing.assert_array_equal(downsample(media.image(image_with(page, "Linear: 10 steps")), want.shape), want)


def test_analogy_shows_a_minus_b_plus_c(page, media, reference):
    model, encoded, a, b = reference
    page.number_input(key="ep_analogy_a_row").set_value(a)
    page.selectbox(key="ep_analogy_b_class").set_value(2)
    page.selectbox(key="ep_analogy_c_kind").set_value("Dataset point")
    page.run()
    page.number_input(key="ep_analogy_c_row").set_value(b)
    page.run()
    means = latent.class_means(encoded.mu, encoded.labels, 10)
    want = model.decode_images(encoded.mu[a] - means[2] + encoded.mu[b])[0]
    np.testing.assert_array_equal(downsample(media.image(image_with(page, "A − B + C")), want.shape), want)


def test_selection_vector_from_two_kept_selections_and_saving_it(page, media, reference):
    model, encoded, a, _ = reference
    page.session_state[keys.SELECTIONS] = {"left": [1, 2, 3], "right": [10, 11, 12, 13]}
    page.radio(key="vec_source").set_value("Selection vector")
    page.number_input(key="ep_vector_point_row").set_value(a)
    page.run()
    page.slider(key="vec_strength").set_value(1.5)
    page.run()
    vector = encoded.mu[[10, 11, 12, 13]].mean(axis=0) - encoded.mu[[1, 2, 3]].mean(axis=0)
    want = model.decode_images(encoded.mu[a] + 1.5 * vector)[0]
    np.testing.assert_array_equal(downsample(media.image(image_with(page, "strength +1.5")), want.shape), want)

    page.text_input(key="vec_name").set_value("wider")
    page.button(key="vec_save").click()
    page.run()
    np.testing.assert_allclose(page.session_state[keys.VECTORS]["wider"], vector, atol=1e-5)
    page.button(key="vec_save").click()  # the same name again: refused, the saved vector stays
    page.run()
    assert any("already saved" in w.value for w in page.warning)
    page.radio(key="vec_source").set_value("Saved vector")
    page.run()
    assert page.selectbox(key="vec_saved").value == "wider"


def test_view_bundle_round_trip_restores_the_view(page, media, reference, app_factory):
    model, encoded, a, b = reference
    choose_rows(page, a, b, 5)
    page.selectbox(key="ep_b_kind").set_value("Class mean")
    page.run()
    page.selectbox(key="ep_b_class").set_value(3)
    page.session_state[keys.VECTORS] = {"thicker": [0.5, -0.25, 0.0, 1.0]}
    page.session_state[keys.SELECTIONS] = {"left": [1, 2, 3], "right": [10, 11]}
    page.session_state[keys.PICK] = a
    page.run()
    before = media.image(image_with(page, "Slerp: 5 steps"))
    text = bundle_to_json(bundles.view_bundle(page.session_state, page="interpolate"))

    bundle = bundle_from_json(text)
    assert bundle.model_id == "digits-tiny" and bundle.page == "interpolate"
    rows = lambda name, split: len(encodings.split_images(data.load_dataset(name), split)[1])  # noqa: E731
    updates, notes = bundles.restore_updates(bundle, models.list_models(), rows, {})
    assert notes == []

    fresh = app_factory()
    for key, value in updates.items():
        fresh.session_state[key] = value
    fresh.switch_page(PAGE)
    fresh.run()
    assert not fresh.exception, [e.value for e in fresh.exception]
    assert fresh.number_input(key="ep_a_row").value == a
    assert fresh.selectbox(key="ep_b_kind").value == "Class mean"
    assert fresh.selectbox(key="ep_b_class").value == 3
    assert fresh.session_state[keys.VECTORS] == {"thicker": [0.5, -0.25, 0.0, 1.0]}
    assert fresh.session_state[keys.SELECTIONS] == {"left": [1, 2, 3], "right": [10, 11]}
    assert fresh.session_state[keys.PICK] == a and fresh.session_state[keys.SPEC].method == "pca"
    fresh.slider(key="interp_steps").set_value(5)  # the number of steps is not part of a view
    fresh.run()
    after = media.image(image_with(fresh, "Slerp: 5 steps"))
    np.testing.assert_array_equal(after, before)


def test_restoring_never_overwrites_a_different_saved_entry_of_the_same_name():
    merged = items.merge_named({"v": [1.0], "w": [2.0]}, {"v": [3.0], "w": [2.0], "x": [4.0]})
    assert merged == {"v": [1.0], "w": [2.0], "v (view)": [3.0], "x": [4.0]}


@pytest.mark.parametrize("name", ["../secret", "a/b", "..", "/etc/passwd", "x\\y", "", " "])
def test_view_names_that_could_leave_the_models_folder_are_refused(name):
    from vae_core.errors import VAEError
    with pytest.raises(VAEError):
        bundles.view_path(name)


def test_saved_views_are_read_back_and_never_overwritten(tmp_path, monkeypatch, tiny_models_dir):
    from vae_core.errors import VAEError
    monkeypatch.setenv("VAE_MODELS_DIR", str(tmp_path))
    folder = tiny_models_dir / "digits-tiny"
    text = json.dumps({"version": 1, "model_id": "digits-tiny", "weights_hash": models.weights_hash(folder),
                       "dataset": "digits", "projection": {"method": "pca"}})
    path = bundles.save_view_file("my view", text)
    assert path == tmp_path / "my view.json"
    assert bundles.read_view_file("my view.json").projection["method"] == "pca"
    with pytest.raises(VAEError, match="already exists"):
        bundles.save_view_file("my view", text.replace("pca", "umap"))
    assert json.loads(path.read_text())["projection"]["method"] == "pca"
    with pytest.raises(VAEError, match="no saved view"):
        bundles.read_view_file("missing")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my view.json"]  # no temp files left behind


def sidebar_script():
    import streamlit as st

    from ui import selection
    from ui.session import bundles

    selection.current()  # shows nothing when no model is selected
    bundles.load_view_from_url()
    with st.sidebar:
        bundles.render_view_bundle()


@pytest.fixture
def sidebar(tiny_models_dir, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("VAE_MODELS_DIR", str(tiny_models_dir))
    monkeypatch.setenv("VAE_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_function(sidebar_script, default_timeout=120)
    at.session_state[keys.MODEL] = str(tiny_models_dir / "digits-tiny")
    at.session_state[keys.DATASET] = "digits"
    at.session_state[keys.VECTORS] = {"mine": [1.0, 2.0, 3.0, 4.0]}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("content, problem", [
    (b"{not json", "not valid JSON"),
    (b'{"version": 1, "model_id": "digits-tiny"}', "weights_hash"),
    (json.dumps({"version": 1, "model_id": "no-such-model", "weights_hash": "0" * 16, "dataset": "digits",
                 "projection": {}}).encode(), "not installed"),
])
def test_a_bad_view_file_shows_an_error_and_changes_nothing(sidebar, content, problem):
    before = {key: sidebar.session_state[key] for key in (keys.MODEL, keys.DATASET, keys.VECTORS)}
    sidebar.file_uploader(key=bundles.UPLOADER).set_value(("view.json", content, "application/json"))
    sidebar.run()
    assert not sidebar.exception
    errors = [shown(e.value) for e in sidebar.error]  # as the reader sees them (names are escaped)
    assert len(errors) == 1 and "view.json was not opened" in errors[0] and problem in errors[0], errors
    assert {key: sidebar.session_state[key] for key in before} == before
    assert keys.SPEC not in sidebar.session_state


def test_a_good_view_file_opens_through_the_sidebar_uploader(sidebar, tiny_models_dir):
    folder = tiny_models_dir / "digits-tiny"
    text = json.dumps({"version": 1, "model_id": "digits-tiny", "weights_hash": models.weights_hash(folder),
                       "dataset": "digits", "projection": {"method": "pca"},
                       "vectors": {"mine": [0.0, 0.0, 0.0, 1.0], "new": [1.0, 0.0, 0.0, 0.0]},
                       "endpoints": {"A": {"kind": "dataset", "index": 4, "split": "test"}}})
    sidebar.file_uploader(key=bundles.UPLOADER).set_value(("view.json", text.encode(), "application/json"))
    sidebar.run()
    assert not sidebar.exception and not sidebar.error, [e.value for e in sidebar.error]
    assert any("Opened the view" in s.value for s in sidebar.success)
    assert sidebar.session_state[keys.SPEC].method == "pca"
    assert sidebar.session_state[keys.VECTORS] == {"mine": [1.0, 2.0, 3.0, 4.0], "mine (view)": [0.0, 0.0, 0.0, 1.0],
                                                    "new": [1.0, 0.0, 0.0, 0.0]}
    assert sidebar.session_state[keys.RESTORE_ENDPOINTS] == {"A": {"kind": "dataset", "index": 4,
                                                                        "split": "test"}}


def test_a_view_link_with_a_path_is_refused(sidebar):
    sidebar.query_params["view"] = "../../etc/passwd"
    sidebar.run()
    assert not sidebar.exception
    assert any("not a view name" in e.value for e in sidebar.error)
    assert keys.SPEC not in sidebar.session_state


def scrubber_data(at) -> dict:
    found = [e for e in at.main if getattr(e, "type", None) == "bidi_component"]
    assert len(found) == 1
    return json.loads(found[0].proto.json)


def scrubber_pixels(at) -> np.ndarray:
    data = scrubber_data(at)
    _, h, w = data["shape"]  # grey digits
    return np.frombuffer(base64.b64decode(data["pixels"]), dtype=np.uint8).reshape(h, w)


def test_the_scrubber_gets_the_chosen_path_and_the_server_decodes_the_released_t(page, reference):
    """AppTest runs no JS: check what the scrubber is given, and the server's image at the t it sends back."""
    model, encoded, a, b = reference
    choose_rows(page, a, b, 7)
    data = scrubber_data(page)
    np.testing.assert_allclose(data["a"], encoded.mu[a], atol=1e-6)
    np.testing.assert_allclose(data["b"], encoded.mu[b], atol=1e-6)
    assert data["kind"] == "slerp" and data["t"] == 0.5 and data["decoder"].endswith(".onnx")
    assert len(data["path"]) == 41  # the path drawn on the scrubber's map, placed like the Map's points
    rev = data["rev"]
    page.session_state["interp_scrub"] = {"t": 0.25}  # what scrubber.js sends when a drag ends
    page.run()
    assert not page.exception
    expected = model.decode_images(latent.slerp(encoded.mu[a], encoded.mu[b], 1001)[250])[0]
    np.testing.assert_array_equal(scrubber_pixels(page), expected)
    assert scrubber_data(page)["t"] == 0.25 and scrubber_data(page)["rev"] == rev
    page.radio(key="interp_scrub_path").set_value("Linear").run()
    data = scrubber_data(page)
    assert data["kind"] == "linear" and data["rev"] != rev  # new path: the page takes it
    expected = model.decode_images(latent.lerp(encoded.mu[a], encoded.mu[b], 1001)[250])[0]
    np.testing.assert_array_equal(scrubber_pixels(page), expected)


def test_the_paths_shown_here_are_drawn_on_the_map(page, reference):
    """Interpolate hands its two paths to the Map, which places them with its own projection as overlays."""
    _, encoded, a, b = reference
    choose_rows(page, a, b, 7)
    handed = page.session_state[keys.MAP_PATHS]
    assert sorted(handed) == ["linear path A→B", "slerp path A→B"]
    np.testing.assert_allclose(handed["linear path A→B"], latent.lerp(encoded.mu[a], encoded.mu[b], 7), atol=1e-5)
    page.switch_page("pages/map.py")
    page.run()
    assert not page.exception, [e.value for e in page.exception]
    sent = [json.loads(e.proto.json) for e in page.main if getattr(e, "type", None) == "bidi_component"]
    paths = {p["name"]: p for p in sent[0]["overlays"]["paths"]}
    assert sorted(paths) == ["linear path A→B", "slerp path A→B"]
    placed = cur_placer_place(encoded, handed["slerp path A→B"])
    np.testing.assert_allclose(np.column_stack([paths["slerp path A→B"]["x"], paths["slerp path A→B"]["y"]]), placed,
                               atol=1e-4)


def cur_placer_place(encoded, latents) -> np.ndarray:
    """Where the Map puts latents: its Placer over the PCA map of this split (the page tests run PCA)."""
    from vae_core.map.projection import ProjectionSpec, fit_projection
    from vae_core.map.placement import Placer

    coords = fit_projection(encoded.mu, ProjectionSpec("pca"))
    return Placer(encoded.mu, coords).place(np.asarray(latents, dtype=np.float32))
