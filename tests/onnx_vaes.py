"""VAEs that are not ours, for the ONNX tests: small MLPs trained here and exported with the README's snippet."""
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vae_core.models import VAEModel

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_export():
    """The `export_vae` function exactly as the README shows it (so the documented snippet is the tested one)."""
    text = README.read_text()
    code = re.search(r"<!-- export-snippet -->\s*```python\n(.*?)```", text, re.S).group(1)
    namespace = {}
    exec(compile(code, "README.md export snippet", "exec"), namespace)
    return namespace["export_vae"]


class MLPVAE(VAEModel):
    """pixels-hidden-D, like pytorch/examples' VAE; `out` says what the decoder gives: logits, probs or tanh means.
    Written against the model interface (models/base.py), so the metrics take it as they take ours; a tanh decoder
    is a Gaussian on [-1, 1] images with the `sigma` it was trained with."""

    kind = "test"
    LIKELIHOODS = {"logits": "bernoulli_logits", "probs": "bernoulli_probs", "tanh": "gaussian"}

    def __init__(self, image_shape=(1, 28, 28), latent_dim=6, hidden=256, out="logits", sigma=None):
        super().__init__()
        pixels = int(np.prod(image_shape))
        self.image_shape, self.out = tuple(image_shape), out
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(pixels, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent_dim))
        self.dec = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, pixels))
        self.config = SimpleNamespace(image_shape=self.image_shape, latent_dim=latent_dim, dataset="", class_names=[])
        self.likelihood, self.sigma = self.LIKELIHOODS[out], sigma
        self.input_range = (-1.0, 1.0) if out == "tanh" else (0.0, 1.0)

    def display_decoder_onnx(self) -> bytes:
        raise NotImplementedError("a test module: export it with the README's snippet instead")

    def encode(self, x):
        mu, logvar = self.enc(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z):
        h = self.dec(z).view(-1, *self.image_shape)
        return {"logits": h, "probs": torch.sigmoid(h), "tanh": torch.tanh(h)}[self.out]


class Half(nn.Module):
    """One half of a VAE as its own module, for torch.onnx.export."""

    def __init__(self, vae, which):
        super().__init__()
        self.vae, self.which = vae, which

    def forward(self, t):
        return self.vae.encode(t) if self.which == "encode" else self.vae.decode(t)


def train_one_epoch(vae, images01: torch.Tensor, sigma=None, scale=(0.0, 1.0), seed=0, batch=64):
    """One epoch of the ELBO (Bernoulli, or Gaussian with fixed sigma on images mapped to `scale`)."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(vae.parameters(), lr=1e-3)
    lo, hi = scale
    for start in range(0, len(images01), batch):
        x = images01[start:start + batch] * (hi - lo) + lo
        mu, logvar = vae.encode(x)
        x_hat = vae.decode(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar))
        if sigma is None and vae.out == "logits":
            recon = F.binary_cross_entropy_with_logits(x_hat, x, reduction="none").flatten(1).sum(1)
        elif sigma is None:
            recon = F.binary_cross_entropy(x_hat.clamp(1e-6, 1 - 1e-6), x, reduction="none").flatten(1).sum(1)
        else:
            recon = (0.5 * ((x - x_hat) / sigma) ** 2).flatten(1).sum(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        loss = (recon + kl).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return vae.eval()


def export(vae, out, likelihood, dataset, **optional):
    readme_export()(Half(vae, "encode"), Half(vae, "decode"), out, vae.image_shape, vae.config.latent_dim,
                    likelihood, dataset, **optional)
    return Path(out)


def endless_loop(model) -> str:
    """Add to `model`'s graph a Loop of 2^62 iterations (a graph that runs forever) and return the name of its result,
    a float scalar (0.0): the hostile-model tests and bench/concurrency.py wire it into an output."""
    from onnx import TensorProto, helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["acc_in", "one"], ["acc_out"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [])],
        [helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])])
    model.graph.initializer.extend([helper.make_tensor("trips", TensorProto.INT64, [], [1 << 62]),
                                    helper.make_tensor("go", TensorProto.BOOL, [], [True]),
                                    helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])])
    model.graph.node.append(helper.make_node("Loop", ["trips", "go", "zero"], ["spin"], body=body))
    return "spin"
