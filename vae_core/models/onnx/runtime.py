"""An ONNX encoder/decoder pair run by onnxruntime, with the interface the pages use for our VAE.

The pages and the metrics call `encode`, `decode`, `decode_images`, `encode_means`, `config` and (through
likelihoods.of_model) `log_likelihood`: an OnnxVAE answers all of them, so no page branches on the model's kind.
Inputs arrive in [0, 1] as for our models and are rescaled to the manifest's input_range here.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from .. import likelihoods
from .manifest import OnnxConfig

CHUNK = 1024  # rows per onnxruntime call when the graph's batch size is free: bounds memory like encode_means


def make_session(data: bytes, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


class OnnxVAE(nn.Module):
    """A VAE from encoder.onnx + decoder.onnx; parameter-free as far as torch knows (it runs on the CPU)."""

    def __init__(self, encoder: bytes, decoder: bytes, config: OnnxConfig, batch: dict | None = None,
                 threads: int | None = None):
        super().__init__()
        self.config = config
        threads = torch.get_num_threads() if threads is None else threads
        self.encoder_session = make_session(encoder, threads)
        self.decoder_session = make_session(decoder, threads)
        # the checked, self-contained graphs: the display decoder is built from them, a bench reruns them
        self.encoder_graph, self.decoder_graph = encoder, decoder
        batch = batch or {}
        self.encoder_batch, self.decoder_batch = batch.get("encoder"), batch.get("decoder")
        self.names = config.tensor_names
        self.likelihood = config.likelihood
        lo, hi = config.input_range
        self._scale, self._shift = float(hi - lo), float(lo)

    # --- onnxruntime calls, in chunks (a graph exported with a fixed batch size gets padded chunks) -----------
    def _run(self, session, fixed: int | None, inputs: np.ndarray, input_name: str, outputs: list[str]):
        inputs = np.ascontiguousarray(inputs, dtype=np.float32)
        step = fixed or CHUNK
        parts = []
        for start in range(0, len(inputs), step):
            chunk = inputs[start:start + step]
            n = len(chunk)
            if fixed and n < fixed:
                chunk = np.concatenate([chunk, np.zeros((fixed - n, *chunk.shape[1:]), np.float32)])
            parts.append([out[:n] for out in session.run(outputs, {input_name: chunk})])
        if not parts:
            return [np.zeros((0,), np.float32) for _ in outputs]
        return [np.concatenate([part[i] for part in parts]) for i in range(len(outputs))]

    def to_input_range(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] images -> the scale the graphs were trained on."""
        return x * self._scale + self._shift

    # --- the VAE interface (ours: model.VAE) ---------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: float (N, C, H, W) in [0, 1] -> mu, logvar, each (N, D)."""
        scaled = self.to_input_range(torch.as_tensor(x, dtype=torch.float32)).cpu().numpy()
        mu, logvar = self._run(self.encoder_session, self.encoder_batch, scaled, self.names["x"],
                               [self.names["mu"], self.names["logvar"]])
        return torch.from_numpy(mu), torch.from_numpy(logvar)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (N, D) -> x_hat (N, C, H, W), meaning what vae.json's likelihood says."""
        array = torch.as_tensor(z, dtype=torch.float32).cpu().numpy()
        (x_hat,) = self._run(self.decoder_session, self.decoder_batch, array, self.names["z"], [self.names["x_hat"]])
        return torch.from_numpy(x_hat)

    def log_likelihood(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x | x_hat) for x in [0, 1], on the graph's own scale (input_range)."""
        return likelihoods.log_likelihood(self.likelihood, x_hat, self.to_input_range(x), self.config.sigma)

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x)
        return self.decode(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)), mu, logvar

    @torch.no_grad()
    def decode_images(self, z) -> np.ndarray:
        """Latents (D,) or (N, D) -> uint8 images (N, H, W) or (N, H, W, C): the mean of p(x|z)."""
        z = np.asarray(z, dtype=np.float32)
        if z.ndim == 1:
            z = z[None]
        means = likelihoods.pixel_means(self.likelihood, self.decode(torch.from_numpy(z)), self.config.input_range)
        images = (means * 255.0).round().to(torch.uint8).numpy()
        return images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)

    @torch.no_grad()
    def encode_means(self, x: torch.Tensor, batch_size: int = CHUNK) -> tuple[np.ndarray, np.ndarray]:
        """Float images (N, C, H, W) in [0, 1] -> (mu, logvar) as float32 numpy."""
        mu, logvar = self.encode(x)
        return mu.numpy(), logvar.numpy()
