"""The training movie (map/movie.py, movie_gif.py, raster.py): one aligned map per snapshot, cached (a second call
aligns nothing), steadier than independent maps; the KL heatmap and the ELBO split per epoch from the snapshots;
the GIF has one frame per snapshot with the spot marked."""
import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from vae_core import data, training
from vae_core.errors import VAEError
from vae_core.map import align, movie_gif, raster
from vae_core.map import movie as movies
from vae_core.map.projection import ProjectionSpec
from vae_core.models import load_model, snapshots
from vae_core.models.torch_vae.model import VAEConfig


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    dataset = data.load_dataset("digits")
    config = VAEConfig(image_shape=dataset.image_shape, latent_dim=4, channels=(8, 16), hidden=32, dataset="digits",
                       class_names=dataset.class_names)
    out = tmp_path_factory.mktemp("movie") / "tiny"
    training.train_model(config, training.TrainConfig(epochs=4, batch_size=64, seed=0), dataset, out)
    return out


@pytest.fixture(scope="module")
def movie(folder):
    return movies.movie(load_model(folder))


def test_one_aligned_map_per_snapshot(movie, folder):
    assert movie.maps.shape == (4, 300, 2) and movie.maps.dtype == np.float32 and movie.unreadable == 0
    assert movie.epochs.tolist() == [1, 2, 3, 4] and len(movie.rows) == 300
    assert np.abs(movie.maps).max() == pytest.approx(10.0, abs=1e-4)  # one tidy transform for all frames
    independent = [align.tidy_joint([align.umap_fit(s.mu)])[0] for s in movie.snapshots]
    steps, loose = align.displacement_share(movie.maps), align.displacement_share(independent)
    assert steps.mean() < 0.5 * loose.mean(), (steps, loose)


def test_the_heatmap_and_the_elbo_split_come_from_the_snapshots(movie, folder):
    series = snapshots.read_snapshots(folder)
    assert np.array_equal(movie.kl_heatmap, np.stack([s.kl_per_dim for s in series.snapshots]))
    assert movie.kl_heatmap.shape == (4, 4)
    history = json.loads((folder / "train.json").read_text())["history"]
    np.testing.assert_allclose(movie.numbers("elbo"), [h["test_elbo"] for h in history])
    np.testing.assert_allclose(movie.numbers("recon") + movie.numbers("kl"), -movie.numbers("elbo"), rtol=1e-6)


def test_the_movie_is_cached_and_a_broken_file_is_counted(movie, folder, tmp_path, monkeypatch):
    copy = tmp_path / "tiny"
    shutil.copytree(folder, copy)
    (copy / "snapshots" / snapshots.file_name(9)).write_bytes(b"half a file")
    monkeypatch.setattr(movies, "align_frames", lambda *a, **k: pytest.fail("aligned again"))
    again = movies.movie(load_model(copy))  # the same series: its cached maps, copied with the folder
    assert np.array_equal(again.maps, movie.maps) and again.unreadable == 1
    name = movies.movie_file_name(again.snapshots, ProjectionSpec())
    assert (copy / "cache" / load_model(copy).weights_hash / name).is_file()


def test_no_snapshots_is_an_empty_movie(folder, tmp_path):
    copy = tmp_path / "none"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("snapshots", "cache"))
    empty = movies.movie(load_model(copy))
    assert empty.maps.shape == (0, 0, 2) and empty.snapshots == [] and empty.kl_heatmap.size == 0
    with pytest.raises(VAEError, match="no readable snapshots"):
        movie_gif.movie_gif(empty, (0.0, 0.0))


def test_a_pca_movie_is_aligned_too(folder):
    pca = movies.movie(load_model(folder), ProjectionSpec(method="pca"))
    assert pca.maps.shape == (4, 300, 2)
    assert align.displacement_share(pca.maps).max() < 0.5


def test_the_gif_has_one_frame_per_snapshot_with_the_spot_marked(movie):
    spot = movie.maps[-1][0]
    gif = movie_gif.movie_gif(movie, spot, labels=np.arange(300) % 10, frame_ms=200)
    image = Image.open(io.BytesIO(gif))
    assert image.n_frames == 4 and image.size == (2 * movie_gif.DEFAULT_SIZE + movie_gif.GAP, movie_gif.DEFAULT_SIZE)
    frames = movie_gif.movie_frames(movie, spot)
    assert frames.shape == (4, 240, 484, 3)
    pictures, latents = movie_gif.pictures_at(movie, spot)
    assert pictures.shape == (4, 28, 28) and latents.shape == (4, 4)
    assert len({p.tobytes() for p in pictures}) > 1  # each epoch's own decoder draws its own picture
    panel = frames[-1][:, 240 + movie_gif.GAP:]  # the picture, upscaled 8x and centred: crisp pixels
    np.testing.assert_array_equal(panel[8:8 + 224:8, 8:8 + 224:8, 0], pictures[-1])


def test_raster_map_draws_points_where_they_are_and_marks_the_spot():
    coords = np.array([[0.0, 0.0], [10.0, 10.0], [10.0, 0.0]])
    bounds = (0.0, 10.0, 0.0, 10.0)
    image = raster.raster_map(coords, np.array([0, 1, 2]), size=100, bounds=bounds)
    assert image.shape == (100, 100, 3) and image.dtype == np.uint8
    assert tuple(image[98, 0]) != (raster.BACKGROUND,) * 3       # (0, 0): bottom left
    assert tuple(image[0, 98]) != tuple(image[98, 98])            # two classes, two colours
    assert tuple(image[50, 50]) == (raster.BACKGROUND,) * 3       # nothing in the middle
    marked = raster.mark(image, bounds, (5.0, 5.0))
    assert tuple(marked[49, 49]) == (255, 255, 255) and tuple(image[49, 49]) == (raster.BACKGROUND,) * 3
