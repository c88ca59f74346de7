"""The one model interface: every page, metric and map calls `VAEModel`, never a format.

Two formats sit behind it (models/torch_vae/: our VAE in config.json + safetensors; models/onnx/: anyone's encoder
and decoder as ONNX graphs with a vae.json). Only models/ knows which one a model is. What a caller may use:

    model.config            image_shape (C, H, W), latent_dim, dataset, class_names
    model.likelihood        what decode's x_hat means: bernoulli_logits | bernoulli_probs | gaussian (+ sigma)
    encode(x) -> (mu, logvar)             x float (N, C, H, W) in [0, 1], on model.device
    decode(z) -> x_hat                    (N, C, H, W), meaning what `likelihood` says
    log_likelihood(x_hat, x) -> (N,)      log p(x | x_hat) in nats, x in [0, 1]; NaN where it can't be computed
    pixel_means(x_hat) -> [0, 1]          what the app shows; the only place a decoder output becomes pixels
    decode_means(z) -> numpy [0, 1]       pixel means (N, C, H, W); NaN refused
    decode_images(z) -> uint8             the same as pictures (N, H, W) / (N, H, W, C)
    encode_means(x) -> (mu, logvar)       numpy, batched to bound memory
    display_decoder_onnx() -> bytes       z -> pixel means as one ONNX graph, for the browser's engine

Written down once here (as AntixK/PyTorch-VAE's BaseVAE and pythae's BaseAE do); the shared behaviour is
implemented here too, so no format can drift (only one decode_images checked for NaN before).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
import torch
import torch.nn as nn

from ..errors import NumericError
from . import folder, likelihoods

NON_FINITE = ("The model produces non-finite values (NaN or infinity) when decoding this latent: its weights overflow "
              "float32. Retrain it with a lower learning rate, or pick another model.")


class ModelConfig(Protocol):
    """What every model's config tells a caller (our VAEConfig and the ONNX manifest both have these)."""
    image_shape: tuple[int, int, int]
    latent_dim: int
    dataset: str
    class_names: list[str]


class VAEModel(nn.Module, metaclass=abc.ABCMeta):
    """q(z|x) = N(mu, diag exp(logvar)), p(z) = N(0, I), p(x|z) as `likelihood` says. See the module docstring."""

    kind: ClassVar[str]               # "ours" | "onnx": a label for people (the sidebar's tag), never for branching
    config: ModelConfig
    likelihood: str = "bernoulli_logits"
    sigma: float | None = None        # the Gaussian's fixed σ, on the decoder's own scale
    input_range: tuple[float, float] = (0.0, 1.0)  # the scale the graphs work on; callers always give [0, 1]
    binarized: bool = False           # trained on binarised pixels: the test set is binarised to evaluate it

    @abc.abstractmethod
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: float (N, C, H, W) in [0, 1] -> mu, logvar, each (N, D)."""

    @abc.abstractmethod
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (N, D) -> x_hat (N, C, H, W), meaning what `likelihood` says."""

    @abc.abstractmethod
    def display_decoder_onnx(self) -> bytes:
        """One ONNX graph z (N, D) -> pixel means in [0, 1] (N, C, H, W): the browser runs it, never a copy."""

    # --- shared behaviour ----------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """Where inputs go: the parameters' device; a parameter-free model (ONNX) runs on the CPU."""
        return next(self.parameters(), torch.empty(0)).device

    def to_input_range(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] images -> the scale the graphs were trained on (input_range)."""
        lo, hi = self.input_range
        return x if (lo, hi) == (0.0, 1.0) else lo + (hi - lo) * x

    def log_likelihood(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """(N,) log p(x | x_hat) for x in [0, 1], on the decoder's own scale."""
        return likelihoods.log_likelihood(self.likelihood, x_hat, self.to_input_range(x), self.sigma)

    def pixel_means(self, x_hat: torch.Tensor) -> torch.Tensor:
        """The decoder's pixel means in [0, 1]."""
        return likelihoods.pixel_means(self.likelihood, x_hat, self.input_range)

    @torch.no_grad()
    def decode_means(self, z) -> np.ndarray:
        """Latents (D,) or (N, D), numpy or torch -> pixel means float32 (N, C, H, W) in [0, 1]; NaN refused."""
        z = torch.as_tensor(np.asarray(z, dtype=np.float32), device=self.device)
        if z.ndim == 1:
            z = z[None]
        x_hat = self.decode(z)
        if not bool(torch.isfinite(x_hat).all()):  # NaN would cast to 0: a black image and not a word about it
            raise NumericError(NON_FINITE)
        return self.pixel_means(x_hat).cpu().numpy()

    def decode_images(self, z) -> np.ndarray:
        """Latents (D,) or (N, D) -> uint8 images (N, H, W) or (N, H, W, C): the mean of p(x|z)."""
        images = np.round(self.decode_means(z) * 255.0).astype(np.uint8)
        return images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)

    @torch.no_grad()
    def encode_means(self, x: torch.Tensor, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """Float images (N, C, H, W) in [0, 1] -> (mu, logvar) as float32 numpy, batched to bound memory."""
        mus, logvars = [], []
        for start in range(0, len(x), batch_size):
            mu, logvar = self.encode(torch.as_tensor(x[start:start + batch_size]).to(self.device))
            mus.append(mu.cpu())
            logvars.append(logvar.cpu())
        return torch.cat(mus).numpy(), torch.cat(logvars).numpy()


@dataclass
class LoadedModel:
    """A model folder, loaded: the model, its measured numbers, its run, where it lives, and its weights' hash."""
    model: VAEModel
    metrics: dict
    train_info: dict
    path: Path
    weights_hash: str
    notes: list[str] = field(default_factory=list)  # what loading found and did (graphs adapted, a warning)

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def cache_folder(self) -> Path:
        """Where derived data for exactly these weights is written (see models/folder.py)."""
        return folder.cache_folder(self.path, self.weights_hash)

    @property
    def cache_folders(self) -> list[Path]:
        """Where cached data is looked for, first hit wins: a shipped model's own cache, then `cache_folder`."""
        return folder.cache_folders(self.path, self.weights_hash)

    @property
    def read_only(self) -> bool:
        return folder.is_read_only(self.path)


@dataclass
class ModelInfo:
    """One entry of the model list: read cheaply, never raising (a broken folder is listed with its problem)."""
    path: Path
    name: str
    dataset: str
    latent_dim: int
    epochs: int
    metrics: dict
    read_only: bool
    modified: float
    error: str | None = None  # a broken folder is listed with its problem, not hidden
    notes: list[str] = field(default_factory=list)  # fields of metrics.json / train.json that were ignored
    source: str = "ours"      # the format's `kind`: "ours" (config.json + safetensors) or "onnx" (vae.json + graphs)
    kind_label: str = "ours"  # how people see the kind: "ours" or "ONNX" (the sidebar's tag)
    trainable: bool = True    # trained here (epochs, resume); False: run as it came, never trained further

    @classmethod
    def blank(cls, path: Path, source: str, error: str | None = None, kind_label: str | None = None,
              trainable: bool = True) -> ModelInfo:
        """An entry with nothing read yet (filled in by the format, or left with its error)."""
        return cls(path=path, name=path.name, dataset="", latent_dim=0, epochs=0, metrics={}, read_only=False,
                   modified=0.0, error=error, source=source, kind_label=kind_label or source, trainable=trainable)


class ModelFormat(Protocol):
    """One way a model folder can be written (registry.py dispatches over these)."""
    kind: str                        # "ours" | "onnx"
    marker: str                      # the file whose presence says a folder is of this format
    required: tuple[str, ...]        # files a complete folder has (zips and deletes check them)

    def own_file(self, name: str) -> bool: ...          # a file this format writes in a folder (delete's check)
    def load(self, folder: Path) -> LoadedModel: ...
    def read_config(self, folder: Path) -> ModelConfig: ...    # cheap: no model is built
    def describe(self, folder: Path) -> ModelInfo: ...
    def weights_hash(self, folder: Path) -> str: ...
    def training_refusal(self, folder: Path) -> str | None: ...  # why it can't be trained here, or None
