"""vae_core: the UI-free library behind the VAE latent-space explorer.

Flow: data -> model (encoder means) -> projection -> (app: figure, selection) -> latent ops -> decoder -> images.
See ARCHITECTURE.md for the module map. No Streamlit import anywhere in this package.
"""
import os

# Idle OpenMP threads spin by default; on a busy 2-core machine that starved the working thread (2 torch threads
# fell from ~590 to ~50 img/s here). Must be set before torch is first imported; a user's own value wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .errors import CheckpointError, DataError, ImageError, TrainingError, VAEError


def bring(model, out, image_shape, dataset, **options):
    """A VAE as its author wrote it -> an explorable model folder (vae_core/bringing.py; imported on first use, so
    `import vae_core` stays light)."""
    from .bringing import bring as _bring

    return _bring(model, out, image_shape, dataset, **options)


__all__ = ["VAEError", "DataError", "ImageError", "CheckpointError", "TrainingError", "bring"]
