"""Training: the model-agnostic loop (trainer.py), the VAE glue (vae.py), several processes (distributed.py)."""
from .trainer import Progress, TrainConfig, Trainer, TrainResult
from .vae import train_model

__all__ = ["Progress", "TrainConfig", "TrainResult", "Trainer", "train_model"]
