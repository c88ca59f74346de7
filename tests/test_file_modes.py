"""Model and cache files get the umask's permissions (0644 under umask 022), not tempfile.mkstemp's 0600."""
import os
import stat

import numpy as np
import pytest
import torch

from vae_core.models.torch_vae import checkpoint
from vae_core.map import projection
from vae_core.models.torch_vae.model import VAE, VAEConfig
from vae_core.map.cache import Cache


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_saved_model_and_cache_files_follow_the_umask(tmp_path, umask):
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_shape=(1, 8, 8), latent_dim=2, channels=(2, 4), hidden=8, dataset="digits"))
    folder = checkpoint.save_checkpoint(tmp_path / "m", model, metrics={"elbo": -1.0},
                                        training_state={"epoch": 1, "optimizer": {}, "rng": torch.get_rng_state()})
    expected = 0o666 & ~umask
    for name in ("config.json", "model.safetensors", "metrics.json", "train.json", "optimizer.safetensors"):
        assert mode(folder / name) == expected, (name, oct(mode(folder / name)), oct(expected))
    latents = np.random.rand(30, 2).astype(np.float32)
    coords = projection.cached_projection(Cache.at(tmp_path / "cache"), "digits-test", latents,
                                          projection.ProjectionSpec("pca"))
    assert coords.shape == (30, 2)
    written = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert written and all(mode(p) == expected for p in written), [(p.name, oct(mode(p))) for p in written]
