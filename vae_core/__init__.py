"""vae_core: the UI-free library behind the VAE latent-space explorer.

Flow: data -> model (encoder means) -> projection -> (app: figure, selection) -> latent ops -> decoder -> images.
See ARCHITECTURE.md for the module map. No Streamlit import anywhere in this package.
"""
from .errors import CheckpointError, DataError, ImageError, TrainingError, VAEError

__all__ = ["VAEError", "DataError", "ImageError", "CheckpointError", "TrainingError"]
