"""Caches of shipped (read-only) models: their own caches are read, new ones go to $VAE_CACHE_DIR, and nothing is
ever written into the shipped folder."""
import shutil

import numpy as np

from vae_core import data, paths
from vae_core.models.torch_vae import checkpoint
from vae_core.map import encodings
from vae_core.map.projection import ProjectionSpec, cached_projection
from vae_core.map.cache import Cache


def files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_shipped_model_reads_its_own_cache_and_writes_new_ones_to_the_cache_dir(tmp_path, monkeypatch):
    shipped = tmp_path / "pretrained"
    shutil.copytree(paths.PRETRAINED_DIR / "digits-z8", shipped / "digits-z8")
    monkeypatch.setattr(paths, "PRETRAINED_DIR", shipped)
    monkeypatch.setenv("VAE_CACHE_DIR", str(tmp_path / "cache"))
    before = files(shipped)
    loaded = checkpoint.load_checkpoint(shipped / "digits-z8")
    assert loaded.read_only and loaded.cache_folder.is_relative_to(tmp_path / "cache")
    dataset = data.load_dataset("digits")

    # The shipped encoding is read as it is: a marked copy of it comes back unchanged, nothing is recomputed.
    own = loaded.cache_folders[0] / "encoded-digits-test-300.npz"
    with np.load(own) as saved:
        arrays = dict(saved)
    arrays["recon"] = np.full_like(arrays["recon"], 123.0)
    np.savez(own, **arrays)
    assert (encodings.encode_split(loaded, dataset, "test").recon == 123.0).all()
    assert not (tmp_path / "cache").exists()

    # A split the model did not ship: encoded and projected into $VAE_CACHE_DIR, the shipped folder untouched.
    encoded = encodings.encode_split(loaded, dataset, "all")
    coords = cached_projection(Cache.of(loaded), "digits-all", encoded.mu, ProjectionSpec("pca"))
    assert files(shipped) == before
    written = files(loaded.cache_folder)
    assert any(name.startswith("encoded-digits-all") for name in written)
    assert any(name.startswith("projection-digits-all-pca") for name in written)
    again = cached_projection(Cache.of(loaded), "digits-all", encoded.mu, ProjectionSpec("pca"))
    np.testing.assert_array_equal(again, coords)


def test_a_trained_model_keeps_its_caches_in_its_own_folder(tiny_models_dir):
    loaded = checkpoint.load_checkpoint(tiny_models_dir / "digits-tiny")
    assert not loaded.read_only
    assert loaded.cache_folders == [tiny_models_dir / "digits-tiny" / "cache" / loaded.weights_hash]
