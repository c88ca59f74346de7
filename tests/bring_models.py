"""Three small VAEs shaped like the ones that motivated `bring` (written here, not copied from their projects), plus odd
ones for the refusal tests and a Keras-style ONNX pair (channels-last, numeric tensor names).

1. FlatMLP        pytorch/examples vae/main.py: encode(x (N, 784)) -> (mu, logvar); decode -> (N, 784) sigmoid.
2. KerasLikeVAE   keras.io VAE: channels-last (N, 28, 28, 1); `vae.encoder(x)` -> (z_mean, z_log_var, z);
                  `vae.decoder(z)` -> (N, 28, 28, 1) sigmoid. No encode/decode methods: Keras models are called.
3. ColourVAE      AntixK VanillaVAE: 3x64x64 NCHW, BatchNorm, encode -> [mu, log_var] (a list), decode hard-codes
                  view(-1, C, 2, 2) and ends in tanh (images on [-1, 1]); loss = MSE(mean) + kld_weight * KL.
"""
from __future__ import annotations

import io
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F


class FlatMLP(nn.Module):
    """784-400-20 style MLP. `logits=True` drops the final sigmoid (a decoder of Bernoulli logits)."""

    def __init__(self, hidden: int = 400, latent: int = 20, pixels: int = 784, logits: bool = False):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(pixels, hidden), nn.Linear(hidden, latent), nn.Linear(hidden, latent)
        self.fc3, self.fc4 = nn.Linear(latent, hidden), nn.Linear(hidden, pixels)
        self.pixels, self.logits = pixels, logits

    def encode(self, x):  # x: (N, 784), flat, as the example's forward hands it over after x.view(-1, 784)
        h = F.relu(self.fc1(x))
        return self.fc21(h), self.fc22(h)

    def decode(self, z):
        out = self.fc4(F.relu(self.fc3(z)))
        return out if self.logits else torch.sigmoid(out)

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, self.pixels))
        return self.decode(mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)), mu, logvar


class _KerasEncoder(nn.Module):
    """Conv2D(32, 3, s2, same) -> Conv2D(64, 3, s2, same) -> Flatten (HWC order, as Keras) -> Dense(16) -> 2 heads."""

    def __init__(self, latent: int):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.dense = nn.Linear(7 * 7 * 64, 16)
        self.z_mean, self.z_log_var = nn.Linear(16, latent), nn.Linear(16, latent)

    def forward(self, x):  # x: (N, 28, 28, 1)
        h = F.relu(self.conv2(F.relu(self.conv1(x.permute(0, 3, 1, 2)))))
        h = F.relu(self.dense(h.permute(0, 2, 3, 1).flatten(1)))
        z_mean, z_log_var = self.z_mean(h), self.z_log_var(h)
        z = z_mean + torch.exp(0.5 * z_log_var) * torch.randn_like(z_mean)  # the Sampling layer
        return z_mean, z_log_var, z


class _KerasDecoder(nn.Module):
    """Dense(7*7*64) -> Reshape(7, 7, 64) -> Conv2DTranspose 64, 32 (s2) -> Conv2DTranspose(1) sigmoid, NHWC out."""

    def __init__(self, latent: int):
        super().__init__()
        self.dense = nn.Linear(latent, 7 * 7 * 64)
        self.up1 = nn.ConvTranspose2d(64, 64, 3, stride=2, padding=1, output_padding=1)
        self.up2 = nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1)
        self.out = nn.ConvTranspose2d(32, 1, 3, padding=1)

    def forward(self, z):
        h = F.relu(self.dense(z)).view(-1, 7, 7, 64).permute(0, 3, 1, 2)
        h = F.relu(self.up2(F.relu(self.up1(h))))
        return torch.sigmoid(self.out(h)).permute(0, 2, 3, 1)  # (N, 28, 28, 1)


class KerasLikeVAE(nn.Module):
    """keras.io's VAE as a torch module: two sub-models, `encoder` and `decoder`, and no encode/decode methods."""

    def __init__(self, latent: int = 2):
        super().__init__()
        self.encoder, self.decoder = _KerasEncoder(latent), _KerasDecoder(latent)

    def forward(self, x):
        z_mean, z_log_var, z = self.encoder(x)
        return self.decoder(z), z_mean, z_log_var


class ColourVAE(nn.Module):
    """VanillaVAE-shaped: 5 stride-2 conv blocks (BatchNorm + LeakyReLU) 64 -> 2, latent `latent`, tanh output."""

    def __init__(self, latent: int = 64, hidden=(16, 32, 64, 128, 256)):
        super().__init__()
        blocks, c = [], 3
        for h in hidden:
            blocks.append(nn.Sequential(nn.Conv2d(c, h, 3, stride=2, padding=1), nn.BatchNorm2d(h), nn.LeakyReLU()))
            c = h
        self.encoder = nn.Sequential(*blocks)
        self.fc_mu, self.fc_var = nn.Linear(hidden[-1] * 4, latent), nn.Linear(hidden[-1] * 4, latent)
        self.decoder_input = nn.Linear(latent, hidden[-1] * 4)
        rev = list(reversed(hidden))
        self.decoder = nn.Sequential(*[
            nn.Sequential(nn.ConvTranspose2d(a, b, 3, stride=2, padding=1, output_padding=1), nn.BatchNorm2d(b),
                          nn.LeakyReLU()) for a, b in zip(rev[:-1], rev[1:])])
        self.final_layer = nn.Sequential(
            nn.ConvTranspose2d(rev[-1], rev[-1], 3, stride=2, padding=1, output_padding=1), nn.BatchNorm2d(rev[-1]),
            nn.LeakyReLU(), nn.Conv2d(rev[-1], 3, 3, padding=1), nn.Tanh())
        self.last = hidden[-1]

    def encode(self, x):
        h = torch.flatten(self.encoder(x), start_dim=1)
        return [self.fc_mu(h), self.fc_var(h)]  # a list, as VanillaVAE's

    def decode(self, z):
        h = self.decoder_input(z).view(-1, self.last, 2, 2)  # hard-coded spatial size, as VanillaVAE's
        return self.final_layer(self.decoder(h))

    def forward(self, x):
        mu, log_var = self.encode(x)
        return [self.decode(mu + torch.randn_like(mu) * torch.exp(0.5 * log_var)), x, mu, log_var]

    @staticmethod
    def loss_function(recons, x, mu, log_var, kld_weight: float):
        """VanillaVAE's loss: MSE averaged over batch AND pixels + kld_weight * KL (summed over D, mean over batch)."""
        kld = torch.mean(-0.5 * torch.sum(1 + log_var - mu ** 2 - log_var.exp(), dim=1), dim=0)
        return F.mse_loss(recons, x) + kld_weight * kld


# --- odd models for the refusal tests -------------------------------------------------------------------------------

class FlattenFirst(nn.Module):
    """An MLP whose encode flattens whatever 4-D or 2-D batch it gets: every layout runs on it."""

    def __init__(self, image_shape=(3, 8, 8), latent: int = 4):
        super().__init__()
        pixels = image_shape[0] * image_shape[1] * image_shape[2]
        self.enc, self.dec = nn.Linear(pixels, 2 * latent), nn.Linear(latent, pixels)
        self.image_shape = tuple(image_shape)

    def encode(self, x):
        return tuple(self.enc(x.flatten(1)).chunk(2, dim=1))

    def decode(self, z):
        return torch.sigmoid(self.dec(z)).view(-1, *self.image_shape)


class TinyConv(nn.Module):
    """A conv encoder on C channels with global pooling: runs on any spatial size, so C == H == W is ambiguous."""

    def __init__(self, channels: int = 3, latent: int = 2):
        super().__init__()
        self.conv = nn.Conv2d(channels, 2 * latent, 1)

    def encode(self, x):
        return tuple(self.conv(x).mean((2, 3)).chunk(2, dim=1))


class NHWCView(nn.Module):
    """A channels-last encoder that checks C and flattens with .view (which needs a contiguous tensor)."""

    def __init__(self, image_shape=(3, 8, 8), latent: int = 4):
        super().__init__()
        c, h, w = image_shape
        self.enc, self.channels = nn.Linear(c * h * w, 2 * latent), c

    def encode(self, x):
        n, h, w, c = x.shape
        if c != self.channels:
            raise ValueError(f"expected {self.channels} channels last, got {c}")
        return tuple(self.enc(x.view(n, h * w * c)).chunk(2, dim=1))


class OneOutput(nn.Module):
    """An encoder that returns only the mean."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 4)

    def encode(self, x):
        return self.fc(x)


# --- a Keras-style ONNX pair ------------------------------------------------------------------------------------------

class _MeansOnly(nn.Module):
    """The means-only sub-model that Keras users export (the Sampling layer's SeedGenerator does not trace)."""

    def __init__(self, encoder, with_z: bool):
        super().__init__()
        self.encoder, self.with_z = encoder, with_z

    def forward(self, x):
        z_mean, z_log_var, z = self.encoder(x)
        return (z_mean, z_log_var, z) if self.with_z else (z_mean, z_log_var)


def keras_style_onnx_pair(vae: KerasLikeVAE, opset: int = 20, with_z: bool = False, fixed_batch: int | None = None):
    """(encoder bytes, decoder bytes) as Keras's own export shapes them: channels-last, opset 20, tensors named
    keras_tensor / '247' / '241' (encoder) and keras_tensor_9 / '201' (decoder). `with_z` adds the sampled z as a
    third output ('252'); `fixed_batch` exports without a dynamic batch axis."""
    latent = vae.encoder.z_mean.out_features
    n = fixed_batch or 2
    enc_out = ["247", "241"] + (["252"] if with_z else [])
    graphs = []
    for module, example, inputs, outputs in (
            (_MeansOnly(vae.encoder, with_z), torch.rand(n, 28, 28, 1), ["keras_tensor"], enc_out),
            (vae.decoder, torch.randn(n, latent), ["keras_tensor_9"], ["201"])):
        # TorchScript refuses numeric names ("Invalid name: '247'"): export with placeholders, rename in the graph
        placeholders = [f"out_{i}" for i in range(len(outputs))]
        axes = None if fixed_batch else {name: {0: "batch"} for name in inputs + placeholders}
        buffer = io.BytesIO()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module.eval(), (example,), buffer, input_names=inputs, output_names=placeholders,
                              dynamic_axes=axes, opset_version=opset, dynamo=False)
        graphs.append(rename_tensors(buffer.getvalue(), dict(zip(placeholders, outputs))))
    return tuple(graphs)


def rename_tensors(graph_bytes: bytes, mapping: dict) -> bytes:
    """Rename tensors everywhere in a graph (inputs, outputs, node edges)."""
    import onnx

    model = onnx.load_from_string(graph_bytes)
    graph = model.graph
    for value in [*graph.input, *graph.output, *graph.value_info]:
        value.name = mapping.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [mapping.get(name, name) for name in node.input]
        node.output[:] = [mapping.get(name, name) for name in node.output]
    onnx.checker.check_model(model)
    return model.SerializeToString()


def flat_onnx_pair(mlp: FlatMLP, opset: int = 17):
    """The MLP exported as its author would: flat (N, 784) in and out, with exporter-style names (input, '11', ...)."""
    graphs = []
    for fn, example, outputs in ((mlp.encode, torch.rand(2, 784), ["11", "12"]),
                                 (mlp.decode, torch.randn(2, mlp.fc21.out_features), ["19"])):
        buffer = io.BytesIO()
        placeholders = [f"out_{i}" for i in range(len(outputs))]
        axes = {name: {0: "n"} for name in ["input", *placeholders]}
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(_Call(mlp, fn).eval(), (example,), buffer, input_names=["input"],
                              output_names=placeholders, dynamic_axes=axes, opset_version=opset, dynamo=False)
        graphs.append(rename_tensors(buffer.getvalue(), dict(zip(placeholders, outputs))))
    return tuple(graphs)


class _Call(nn.Module):
    def __init__(self, owner, fn):
        super().__init__()
        self.owner, self.fn = owner, fn

    def forward(self, t):
        return self.fn(t)
