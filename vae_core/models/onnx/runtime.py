"""An ONNX encoder/decoder pair run by onnxruntime, behind the one model interface (models/base.py's VAEModel).

It implements encode, decode and the display decoder; the rest (log_likelihood on the manifest's likelihood and
scale, pixel_means, decode_images, encode_means) is the interface's shared code. Inputs arrive in [0, 1] as for
every model and are rescaled to the manifest's input_range here.
"""
from __future__ import annotations

import numpy as np
import torch

from ..base import VAEModel
from .display import means_decoder
from .manifest import OnnxConfig

CHUNK = 1024  # rows per onnxruntime call when the graph's batch size is free: bounds memory like encode_means


def make_session(data: bytes, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


class OnnxVAE(VAEModel):
    """A VAE from encoder.onnx + decoder.onnx; parameter-free as far as torch knows (it runs on the CPU)."""

    kind = "onnx"

    def __init__(self, encoder: bytes, decoder: bytes, config: OnnxConfig, batch: dict | None = None,
                 threads: int | None = None, names: dict | None = None):
        super().__init__()
        self.config = config
        threads = torch.get_num_threads() if threads is None else threads
        self.encoder_session = make_session(encoder, threads)
        self.decoder_session = make_session(decoder, threads)
        # the checked, self-contained graphs: the display decoder is built from them, a bench reruns them
        self.encoder_graph, self.decoder_graph = encoder, decoder
        batch = batch or {}
        self.encoder_batch, self.decoder_batch = batch.get("encoder"), batch.get("decoder")
        self.names = names or config.tensor_names  # the contract's, once the loader adapted the graphs
        self.likelihood, self.sigma, self.input_range = config.likelihood, config.sigma, tuple(config.input_range)

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

    # --- the model interface (models/base.py) --------------------------------------------------------------------
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

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encode(x)
        return self.decode(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)), mu, logvar

    def display_decoder_onnx(self) -> bytes:
        return means_decoder(self.decoder_graph, self.likelihood, self.input_range, self.names)
