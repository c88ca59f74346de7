"""The Map's training movie under AppTest (issue 21): offered for a model with snapshots (closed, nothing computed
until opened), its aligned maps from a background job, the frames and decoders the page gets, the KL heatmap and the
ELBO split from the snapshots, the GIF (one frame per epoch, at the pinned spot); not offered without snapshots;
an unreadable snapshot file skipped and counted.

AppTest cannot run the component's JavaScript: `session_state["map_movie"] = {"spot": [x, y]}` is what the page sends
after a click on the movie's map."""
import base64
import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.conftest import settle
from ui.components import movie as movie_component
from ui.components import served
from vae_core.map import movie as movies
from vae_core.map import movie_gif
from vae_core.map.projection import ProjectionSpec
from vae_core.map.raster import map_bounds
from vae_core.models import load_model, snapshots

PAGE = "pages/map.py"
OPEN, STATE = "map_movie_open", "map_movie"


@pytest.fixture
def deferred(monkeypatch):
    """The download buttons' deferred callables by file name (the page builds the GIF only when it is clicked)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    found: dict[str, object] = {}
    original = MediaFileManager.add_deferred

    def keep(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        found[file_name] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)
    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    return found


def run_map(app, folder, open_movie=False, spot=None):
    app.session_state["model_path"] = str(folder)
    app.session_state["map_method"] = "PCA"  # instant, and the movie follows the Map's projection: PCA too
    if open_movie:
        app.session_state[OPEN] = True
    if spot is not None:
        app.session_state[STATE] = {"spot": spot}
    app.switch_page(PAGE)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def movie_expanders(app) -> list:
    return [e for e in app.expander if "Training movie" in e.label]


def players(app) -> list:
    return [e for e in app.main if getattr(e, "type", None) == "bidi_component"
            and "frames" in json.loads(e.proto.json)]


def player_data(app) -> dict:
    found = players(app)
    assert len(found) == 1, "the movie is not shown"
    return json.loads(found[0].proto.json)


def charts(app) -> dict:
    return {c.proto.id: json.loads(c.proto.spec) for c in app.get("plotly_chart")}


def digits_labels(movie) -> np.ndarray:
    from vae_core import data
    return data.load_dataset("digits").test_labels[movie.rows]


def values(plotted) -> np.ndarray:
    """A Plotly array as the figure JSON holds it: a list, or a typed array {dtype, bdata, shape}."""
    if isinstance(plotted, dict):
        shape = [int(v) for v in str(plotted.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(plotted["bdata"]), dtype=plotted["dtype"]).reshape(shape)
    return np.asarray(plotted, dtype=np.float64)


def figure(app, title: str) -> dict:
    return next(f for f in charts(app).values() if title in f["layout"]["title"]["text"])


def test_offered_closed_and_nothing_computed_until_opened(app, new_model):
    from ui import jobs

    run_map(app, new_model)
    assert [e.label for e in movie_expanders(app)] == ["Training movie · 2 snapshots, epochs 1–2"]
    assert not players(app)
    assert not [job for job in jobs.shared_jobs().running() if job.key[0] == "movie"]
    assert not (new_model / "cache").exists() or not list((new_model / "cache").rglob("movie-*.npy"))


def test_the_opened_movie_gets_its_frames_decoders_heatmap_and_elbo_split(app, new_model):
    run_map(app, new_model, open_movie=True)  # the first run starts the alignment in the background
    settle(app)
    data = player_data(app)
    movie = movies.movie(load_model(new_model), ProjectionSpec(method="pca"))  # now from the cache the job wrote
    assert data["epochs"] == [1, 2] == movie.epochs.tolist()
    assert data["k"] == 8 and data["shape"] == [1, 28, 28] and len(data["classNames"]) == 10

    frames = served.file_of(data["frames"]).read_bytes()
    magic, m, n, d, classes, *bounds = movie_component.HEADER.unpack_from(frames)
    assert (magic, m, n, d, classes) == (movie_component.MAGIC, 2, len(movie.rows), 4, 10)
    maps = np.frombuffer(frames, "<f4", m * n * 2, movie_component.HEADER.size).reshape(m, n, 2)
    np.testing.assert_array_equal(maps, movie.maps)  # the library's aligned maps, as they are
    means = np.frombuffer(frames, "<f4", m * n * d, movie_component.HEADER.size + maps.nbytes).reshape(m, n, d)
    np.testing.assert_array_equal(means, np.stack([s.mu for s in movie.snapshots]))
    labels = np.frombuffer(frames, "<i2", n, movie_component.HEADER.size + maps.nbytes + means.nbytes)
    assert labels.tolist() == digits_labels(movie).tolist()  # coloured by class
    # each epoch's own decoder, as its snapshot holds it (checked), published by its bytes
    for url, snapshot in zip(data["decoders"], movie.snapshots):
        assert served.file_of(url).read_bytes() == snapshot.decoder_onnx()
    assert data["decoders"][0] != data["decoders"][1]

    heat = figure(app, "KL per dimension")["data"][0]
    np.testing.assert_allclose(values(heat["z"]), movie.kl_heatmap.T, rtol=1e-6)
    split = {t["name"]: values(t["y"]) for t in figure(app, "ELBO split")["data"]}
    np.testing.assert_allclose(split["Recon"], movie.numbers("recon"))
    np.testing.assert_allclose(split["KL"], movie.numbers("kl"))
    np.testing.assert_allclose(split["−ELBO = Recon + KL"], -movie.numbers("elbo"), rtol=1e-6)  # adds up
    for text in data["numbers"]:  # the numbers shown per epoch add up as shown
        elbo, recon, kl = (float(v.replace("−", "-")) for v in
                           text.replace("ELBO ", "").replace("= −(Recon ", "").replace("+ KL ", "").rstrip(")").split())
        assert elbo == pytest.approx(-(recon + kl), abs=1e-9)


def test_the_gif_has_one_frame_per_epoch_at_the_pinned_spot(app, new_model, deferred):
    run_map(app, new_model, open_movie=True)
    settle(app)
    button = next(b for b in app.get("download_button") if b.proto.label.startswith("Download the movie as a GIF"))
    assert "(2 frames)" in button.proto.label
    name = f"{new_model.name}-movie.gif"
    centre_bytes = deferred[name]()
    centre = Image.open(io.BytesIO(centre_bytes))
    assert centre.n_frames == 2 and centre.size == (2 * movie_gif.DEFAULT_SIZE + movie_gif.GAP,
                                                    movie_gif.DEFAULT_SIZE)
    assert any("the map's centre" in c.value for c in app.caption)

    movie = movies.movie(load_model(new_model), ProjectionSpec(method="pca"))
    default = np.asarray(player_data(app)["spot"])
    last = movie.maps[-1]
    assert np.isclose(last, default, atol=1e-6).all(axis=1).any()  # an image's own place, not the empty centre
    x0, x1, y0, y1 = map_bounds(movie.maps.reshape(-1, 2))
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    assert np.isclose(((last - centre) ** 2).sum(axis=1).min(), ((default - centre) ** 2).sum(), rtol=1e-4)
    spot = [float(v) for v in movie.maps[-1][7]]  # a point's own place on the last map
    app.session_state[STATE] = {"spot": spot}
    app.run()
    assert not app.exception
    assert player_data(app)["spot"] == spot  # the lens starts there too
    assert any(f"the spot you pinned: ({spot[0]:.2f}, {spot[1]:.2f})" in c.value for c in app.caption)
    pinned = deferred[name]()
    gif = Image.open(io.BytesIO(pinned))
    assert gif.n_frames == 2
    assert pinned == movie_gif.movie_gif(movie, spot, labels=digits_labels(movie))  # the library's GIF of that spot
    assert pinned != centre_bytes


@pytest.mark.parametrize("sent", [{"spot": ["1", 2]}, {"spot": [1e9, 0.0]}, {"spot": [float("nan"), 0.0]},
                                  {"spot": [1.0]}, "spot"])
def test_a_forged_spot_is_dropped(app, new_model, sent):
    run_map(app, new_model, open_movie=True)
    settle(app)
    app.session_state[STATE] = sent
    app.run()
    assert not app.exception
    assert any("the map's centre" in c.value for c in app.caption)


def test_no_snapshots_no_movie(app, new_model):
    shutil.rmtree(new_model / snapshots.FOLDER)
    run_map(app, new_model, open_movie=True)
    assert not movie_expanders(app) and not players(app)
    assert not any("snapshot" in c.value for c in app.caption)


def test_an_unreadable_snapshot_file_is_skipped_and_counted(app, new_model):
    (new_model / snapshots.FOLDER / snapshots.file_name(7)).write_bytes(b"half a file")
    run_map(app, new_model, open_movie=True)
    assert [e.label for e in movie_expanders(app)] == [
        "Training movie · 2 snapshots, epochs 1–2 · 1 unreadable snapshot file skipped"]
    settle(app)
    assert player_data(app)["epochs"] == [1, 2]
    assert any("1 unreadable snapshot file skipped" in c.value for c in app.caption)


def test_only_unreadable_snapshots_say_so(app, new_model):
    for path in (new_model / snapshots.FOLDER).iterdir():
        path.write_bytes(b"\0" * 10)
    run_map(app, new_model)
    assert not movie_expanders(app)
    assert any("2 snapshot files could not be read" in c.value for c in app.caption)
