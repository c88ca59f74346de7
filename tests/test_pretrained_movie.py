"""The shipped Fashion-MNIST model's training movie: its 8 snapshots are whole, agree with its recorded run and its
weights, stay within their byte budget, and the movie's aligned maps come from the shipped cache (no fit)."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from vae_core import data
from vae_core.map import movie as movies
from vae_core.map import movie_gif
from vae_core.models import snapshots
from vae_core.models.torch_vae import checkpoint
from vae_core.paths import PRETRAINED_DIR

DEFAULT = PRETRAINED_DIR / "fashion-mnist-z16"
SNAPSHOT_BUDGET = 8 * 1024 * 1024  # 8 x 956 kB measured (README "The shipped models")

pytestmark = pytest.mark.skipif(not data.list_sources()[0].available,
                                reason="Fashion-MNIST files are not installed (make test installs them)")


@pytest.fixture(scope="module")
def loaded():
    return checkpoint.load_checkpoint(DEFAULT)


def test_the_shipped_snapshots_are_whole_and_agree_with_the_run(loaded):
    series = snapshots.read_snapshots(DEFAULT)
    assert series.epochs == list(range(1, 9)) and series.unreadable == 0
    assert sum(p.stat().st_size for p in (DEFAULT / "snapshots").iterdir()) <= SNAPSHOT_BUDGET
    history = json.loads((DEFAULT / "train.json").read_text())["history"]
    assert [s.elbo for s in series.snapshots] == pytest.approx([h["test_elbo"] for h in history])
    last = series.snapshots[-1]
    np.testing.assert_allclose(last.kl_per_dim, loaded.metrics["kl_per_dim"], rtol=1e-5)
    test_images = data.load_dataset("fashion-mnist").test_images
    mu, _ = loaded.model.encode_means(data.to_tensor(test_images[last.rows]))
    assert last.mu.shape == (2000, 16)
    np.testing.assert_allclose(last.mu, mu, atol=5e-3)  # float16 means of the shipped weights
    assert series.snapshots[0].elbo < last.elbo - 10  # the movie starts visibly worse than it ends


def test_the_shipped_movie_needs_no_fit(loaded, monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_CACHE_DIR", str(tmp_path))  # only the shipped cache can answer
    monkeypatch.setattr(movies, "align_frames", lambda *a, **k: pytest.fail("the movie was aligned again"))
    movie = movies.movie(loaded)
    assert movie.maps.shape == (8, 2000, 2) and np.isfinite(movie.maps).all()
    assert np.abs(movie.maps).max() == pytest.approx(10.0, abs=1e-3)
    steps = [np.linalg.norm(b - a, axis=1).mean() / 20.0 for a, b in zip(movie.maps[:-1], movie.maps[1:])]
    assert max(steps) < 0.05  # aligned: a point moves a few % of the width per epoch (independent UMAPs: ~20 %)
    assert movie.kl_heatmap.shape == (8, 16)
    gif = movie_gif.movie_gif(movie, movie.maps[-1][0], labels=data.load_dataset("fashion-mnist").test_labels[
        movie.rows])
    assert Image.open(io.BytesIO(gif)).n_frames == 8
