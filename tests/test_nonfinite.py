"""A decoder with finite but huge weights gives NaN: decode_images says so (never a silent black image), and the
Generate page shows that message instead of black pictures."""
import shutil

import numpy as np
import pytest
import torch

from vae_core.models.torch_vae import checkpoint
from vae_core.errors import NumericError


@pytest.fixture
def overflowing_models(tiny_models_dir, tmp_path):
    """A copy of the tiny model whose decoder weights are multiplied by 1e30: finite on disk, NaN when decoding."""
    models = tmp_path / "models"
    shutil.copytree(tiny_models_dir / "digits-tiny", models / "digits-huge", ignore=shutil.ignore_patterns("cache"))
    loaded = checkpoint.load_checkpoint(models / "digits-huge")
    with torch.no_grad():
        for name, param in loaded.model.named_parameters():
            if name.startswith("decoder") and name.endswith("weight"):
                param.mul_(1e30)
    assert all(torch.isfinite(p).all() for p in loaded.model.parameters())
    checkpoint.save_checkpoint(models / "digits-huge", loaded.model, metrics=loaded.metrics,
                               train_info=loaded.train_info)
    return models


def test_decode_images_refuses_non_finite_output(overflowing_models):
    model = checkpoint.load_checkpoint(overflowing_models / "digits-huge").model
    with pytest.raises(NumericError, match="non-finite"):
        model.decode_images(np.ones((2, model.config.latent_dim), np.float32))


def test_generate_page_says_the_model_produces_non_finite_values(app, overflowing_models, monkeypatch):
    from vae_core.map.projection import ProjectionSpec

    monkeypatch.setenv("VAE_MODELS_DIR", str(overflowing_models))
    app.session_state["model_path"] = str(overflowing_models / "digits-huge")
    app.session_state["map_spec"] = ProjectionSpec("pca")
    app.switch_page("pages/generate.py")
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    errors = [str(e.value) for e in app.error]
    assert errors and all("non-finite" in e for e in errors), errors
