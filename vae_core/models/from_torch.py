"""A VAE written elsewhere, as a torch module (a Keras 3 model under the torch backend is one) -> the two graphs of the
ONNX contract (models/contract.py), whatever the author's interface: vae_core/bring.py writes them as a folder.

Found by trial, not asked for: which layout the encoder takes (N, C, H, W), (N, H, W, C) or (N, C·H·W); what it
returns (a tuple, a list, a dict, an object with named fields); what the decoder's outputs are (probabilities or
logits; a Gaussian is never guessed). Everything that can't be found is refused with what was found and what to pass.
Every trial and the export run in eval mode, and the author's train/eval flags are given back afterwards.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from ..errors import VAEError
from .contract import CHANNELS, LATENT_RANGE, LAYOUTS, NAMES, SIDE_RANGE, ExportError, export_graph, layout_shape
from .likelihoods import KINDS as LIKELIHOODS
from .onnx.runtime import make_session
MEAN_NAMES = ("mu", "mean", "z_mean", "embedding")
LOGVAR_NAMES = ("logvar", "log_var", "z_log_var", "log_covariance")
SIGMA_HELP = ("σ follows from the training loss: MSE averaged over pixels + w·KL gives σ² = w·C·H·W/2; MSE summed "
              "over pixels + β·KL gives σ² = β/2 (both with the KL summed over latent dimensions, on the images' own "
              "scale)")


class BringError(VAEError):
    """The model cannot be brought as it is; the message says what was found and what to pass instead."""


def _by_name(get, names):
    for name in names:
        value = get(name)
        if value is not None:
            return value
    return None


def _describe(out) -> str:
    if isinstance(out, torch.Tensor):
        return f"one tensor of shape {list(out.shape)}"
    if isinstance(out, dict):
        return f"a dict with keys {sorted(map(str, out))}"
    if isinstance(out, (tuple, list)):
        return f"a {type(out).__name__} of {len(out)}"
    return f"a {type(out).__name__}"


def encoder_outputs(out):
    """(mu, logvar) from whatever an encoder returns, by the issue's rules.

    A tuple/list gives its first two entries (a third, the sampled z of Keras's encoder, is ignored: it is random
    and the app samples z itself). A dict, a namedtuple or an object is matched by name, since its order means
    nothing. One output is refused: the app's KL, ELBO and IWAE need the variance, and guessing it would make every
    number silently wrong.
    """
    get = None
    if isinstance(out, dict):
        get = out.get
    elif hasattr(out, "_fields"):  # a namedtuple: names beat positions when it has them
        get = lambda name: getattr(out, name, None)  # noqa: E731
        if _by_name(get, MEAN_NAMES) is None or _by_name(get, LOGVAR_NAMES) is None:
            get = None
    elif not isinstance(out, (torch.Tensor, tuple, list)):
        if isinstance(out, torch.distributions.Distribution):
            raise BringError(f"the encoder returned {_describe(out)} (a distribution, not its parameters); pass "
                             "encode= a function returning (d.loc, 2 * d.scale.log()), the mean and log-variance")
        get = lambda name: getattr(out, name, None)  # noqa: E731
    if get is not None:
        mu, logvar = _by_name(get, MEAN_NAMES), _by_name(get, LOGVAR_NAMES)
        if mu is None or logvar is None:
            missing, names = ("mean", MEAN_NAMES) if mu is None else ("log-variance", LOGVAR_NAMES)
            raise BringError(f"the encoder returned {_describe(out)}; found no {missing} among the names "
                             f"{', '.join(names)}. Pass encode= a function returning (mu, logvar)")
    elif isinstance(out, (tuple, list)) and len(out) >= 2:
        mu, logvar = out[0], out[1]
    else:
        raise BringError(f"the encoder returned {_describe(out)}; the app needs two outputs, the mean and the "
                         "log-variance (N, D) each, for its KL, ELBO and IWAE. If your encoder returns them "
                         "concatenated, pass encode=lambda x: model.encode(x).chunk(2, dim=1)")
    for name, value in (("mean", mu), ("log-variance", logvar)):
        if not isinstance(value, torch.Tensor) or value.dim() != 2:
            what = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise BringError(f"the encoder's {name} is {what}; it must be a tensor (N, D)")
    if mu.shape != logvar.shape:
        raise BringError(f"the encoder's mean {list(mu.shape)} and log-variance {list(logvar.shape)} differ in shape")
    return mu, logvar


# --- layouts --------------------------------------------------------------------------------------------------------

def to_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """NCHW -> the author's layout (inside the exported graph: one Transpose or Flatten). contiguous(): an author's
    x.view(...) fails on a permuted tensor, which would wrongly rule NHWC out (it costs nothing in the graph)."""
    return {"NCHW": lambda t: t, "NHWC": lambda t: t.permute(0, 2, 3, 1).contiguous(),
            "flat": lambda t: t.flatten(1)}[layout](x)


def from_layout(t: torch.Tensor, layout: str, image_shape) -> torch.Tensor:
    """The author's layout -> NCHW (the decoder's output side)."""
    if layout == "NHWC":
        return t.permute(0, 3, 1, 2)
    if layout == "flat":  # -1, not t.shape[0]: one constant Reshape in the graph (unflatten traces to 15 nodes)
        return t.reshape(-1, *image_shape)
    return t


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:160] if text else ''}"


def find_layout(encode_fn, image_shape, input_range=(0, 1), n: int = 2):
    """(layout, tried): the layout the encoder takes, by running a trial batch in each, NCHW then NHWC then flat.

    `tried` lists (layout, shape, outcome) for the record and the messages. Several layouts running is fine when
    they give the same numbers for the same images (C == 1: all three orders are the same memory order, a
    flatten-first MLP takes any). They are refused as ambiguous when the numbers differ: then the shape can't tell
    which order the weights were trained on (C == H == W, or a flatten-first encoder on colour images).
    """
    lo, hi = input_range
    x = lo + (hi - lo) * torch.rand((n, *image_shape), generator=torch.Generator().manual_seed(0))
    tried, runs = [], {}
    for layout in LAYOUTS:
        shape = layout_shape(layout, image_shape, n)
        try:
            with torch.no_grad():
                out = encode_fn(to_layout(x, layout))
        except Exception as err:  # noqa: BLE001 - a wrong layout fails in many ways inside the author's code
            tried.append((layout, shape, _first_line(err)))
            continue
        mu, logvar = encoder_outputs(out)  # it ran: a bad output is the encoder's problem, said at once
        if mu.shape[0] != n:
            tried.append((layout, shape, f"gave {mu.shape[0]} rows for {n} images"))
            continue
        runs[layout] = (mu, logvar)
        tried.append((layout, shape, f"ran: mu {list(mu.shape)}"))
    listing = "; ".join(f"{layout} {list(shape)}: {outcome}" for layout, shape, outcome in tried)
    if not runs:
        raise BringError(f"the encoder runs on none of the layouts tried ({listing}). Check image_shape "
                         f"{list(image_shape)} (C, H, W) and encode=")
    first, *others = runs
    mu0, lv0 = runs[first]
    same = all(runs[o][0].shape == mu0.shape and torch.allclose(runs[o][0], mu0, atol=1e-5, rtol=1e-5)
               and torch.allclose(runs[o][1], lv0, atol=1e-5, rtol=1e-5) for o in others)
    if not same:
        raise BringError(f"the layout is ambiguous: the encoder runs on {' and '.join(runs)} and gives different "
                         f"numbers for the same images ({listing}). Pass layout= one of {', '.join(runs)}")
    return first, tried


def decoder_layout(shape, image_shape, prefer: str) -> str:
    """The layout of the decoder's output, from its shape; the encoder's when the shape fits several (C == H == W)."""
    n = shape[0]
    matches = [layout for layout in LAYOUTS if tuple(shape) == layout_shape(layout, image_shape, n)]
    if not matches:
        wanted = ", ".join(f"{layout} {list(layout_shape(layout, image_shape, n))}" for layout in LAYOUTS)
        raise BringError(f"the decoder gave {list(shape)} for {n} latents; for image_shape {list(image_shape)} it "
                         f"must be one of {wanted}")
    if prefer in matches:
        return prefer
    if len(matches) == 1:
        return matches[0]
    raise BringError(f"the decoder's output {list(shape)} fits the layouts {', '.join(matches)}; pass layout=")


# --- the wrappers: the author's model behind the contract -----------------------------------------------------------

def _resolve(owner, spec, what: str):
    """A callable from a method/attribute name on the model (encode="encoder" for Keras's sub-models) or itself."""
    if callable(spec) and not isinstance(spec, str):
        return spec
    fn = getattr(owner, spec, None)
    if not callable(fn):
        raise BringError(f"the model has no callable '{spec}' to {what} with; pass {what}= a method name or a function")
    return fn


class ContractEncoder(nn.Module):
    """x (N, C, H, W) -> (mu, logvar): permutes/flattens to the author's layout and picks the two outputs, so the
    exported graph is the contract's whatever the author's interface."""

    def __init__(self, owner: nn.Module, fn, layout: str):
        super().__init__()
        self.owner, self.fn, self.layout = owner, fn, layout  # owner: its parameters become the graph's weights

    def forward(self, x):
        return encoder_outputs(self.fn(to_layout(x, self.layout)))


class ContractDecoder(nn.Module):
    """z (N, D) -> x_hat (N, C, H, W), reshaped from the author's layout."""

    def __init__(self, owner: nn.Module, fn, layout: str, image_shape):
        super().__init__()
        self.owner, self.fn, self.layout, self.image_shape = owner, fn, layout, tuple(image_shape)

    def forward(self, z):
        return from_layout(_single(self.fn(z)), self.layout, self.image_shape)


def _single(out) -> torch.Tensor:
    if isinstance(out, (tuple, list)) and len(out) == 1:
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise BringError(f"the decoder returned {_describe(out)}; it must return the image tensor. Pass decode= a "
                         "function returning it")
    return out


@contextmanager
def evaluating(*modules):
    """eval() for the trials and the export, the author's train/eval flags restored after: a BatchNorm left in
    train mode would both export batch statistics and have its running statistics moved by our trial batches."""
    flags = [(m, m.training) for module in modules if isinstance(module, nn.Module) for m in module.modules()]
    for module in modules:
        if isinstance(module, nn.Module):
            module.eval()
    try:
        yield
    finally:
        for m, training in flags:
            m.training = training


# --- likelihood -----------------------------------------------------------------------------------------------------

def guess_likelihood(decode_fn, latent_dim: int, declared: str = "auto", sigma=None, input_range=(0, 1),
                     n: int = 64):
    """(likelihood, evidence) from the decoder's values on prior samples z ~ N(0, I).

    Call it with the model in eval mode (bring does): a BatchNorm in train mode would move its statistics.
    All in [0, 1] -> bernoulli_probs, else bernoulli_logits. A Gaussian is never guessed: its σ is a choice made in
    the training loss (SIGMA_HELP), not something the outputs show. A declared likelihood the values contradict is
    refused: probabilities read as logits score about twice as badly and nothing else would warn.
    """
    z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        values = _single(decode_fn(z))
    lo, hi = float(values.min()), float(values.max())
    inside = lo >= 0.0 and hi <= 1.0
    evidence = f"{n} prior samples decoded to values in [{lo:.4g}, {hi:.4g}]"
    if declared not in ("auto", *LIKELIHOODS):
        raise BringError(f"likelihood must be auto or one of {', '.join(LIKELIHOODS)}, got {declared!r}")
    if not math.isfinite(lo) or not math.isfinite(hi):
        raise BringError(f"the decoder gives NaN/inf on prior samples z ~ N(0, I) ({evidence})")
    if sigma is not None and declared != "gaussian":
        raise BringError(f"sigma belongs to a Gaussian decoder; pass likelihood='gaussian' (not {declared!r})")
    on_pm1 = tuple(input_range) == (-1, 1)
    if declared == "gaussian":
        if sigma is None or isinstance(sigma, bool) or not (isinstance(sigma, (int, float)) and sigma > 0
                                                              and math.isfinite(sigma)):
            raise BringError(f"a Gaussian decoder needs sigma= a positive number ({SIGMA_HELP})")
        return "gaussian", evidence
    if on_pm1:
        raise BringError(f"images on [-1, 1] have no Bernoulli likelihood ({evidence}); declare "
                         f"likelihood='gaussian' with sigma= ({SIGMA_HELP})")
    if declared == "auto":
        return ("bernoulli_probs" if inside else "bernoulli_logits"), "guessed, " + evidence
    if declared == "bernoulli_logits" and inside:
        raise BringError(f"declared bernoulli_logits, but {evidence}, all inside [0, 1]: these look like "
                         "probabilities (a sigmoid at the decoder's end). Read as logits they are squashed a second "
                         "time and every ELBO comes out far too low. Pass likelihood='bernoulli_probs' (or 'auto')")
    if declared == "bernoulli_probs" and not inside:
        raise BringError(f"declared bernoulli_probs, but {evidence}, outside [0, 1]: these are not probabilities. "
                         "Pass likelihood='bernoulli_logits' if they are logits (or 'auto')")
    return declared, evidence


# --- export ---------------------------------------------------------------------------------------------------------

def _export(module: nn.Module, example: torch.Tensor, inputs: list[str], outputs: list[str]) -> bytes:
    try:
        return export_graph(module, example, inputs, outputs)
    except ExportError as err:
        raise BringError(f"{err}. An encoder that samples z with its own random generator (Keras's SeedGenerator) "
                         "may need encode= a function returning the means only") from None


@dataclass
class Exported:
    encoder: bytes
    decoder: bytes
    layout: str              # the encoder's input layout, found or given
    decoder_layout: str      # the decoder's output layout, from its shape
    latent_dim: int
    tried: list = field(default_factory=list)
    encoder_module: nn.Module | None = None  # the contract wrappers, for checks against the graphs
    decoder_module: nn.Module | None = None


def export_pair(model, image_shape, encode="encode", decode="decode", decoder=None, layout="auto",
                input_range=(0, 1)) -> Exported:
    """The contract's encoder and decoder graphs for `model`, after finding its layout.

    The trace uses a batch of 2 (not 1: a batch of one lets size-1 broadcasts and squeezes hide in the trace).
    """
    image_shape = tuple(int(v) for v in image_shape)
    encode_fn = _resolve(model, encode, "encode")
    decode_owner = decoder if decoder is not None else model
    decode_fn = decoder if (decoder is not None and callable(decoder)) else _resolve(model, decode, "decode")
    with evaluating(model, decode_owner):
        if layout == "auto":
            layout, tried = find_layout(encode_fn, image_shape, input_range)
        elif layout in LAYOUTS:
            tried = [(layout, layout_shape(layout, image_shape, 2), "given")]
        else:
            raise BringError(f"layout must be auto or one of {', '.join(LAYOUTS)}, got {layout!r}")
        enc = ContractEncoder(model, encode_fn, layout)
        lo, hi = input_range
        x = lo + (hi - lo) * torch.rand((2, *image_shape), generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            latent_dim = enc(x)[0].shape[1]
            raw = _single(decode_fn(torch.zeros(2, latent_dim)))
        dec_layout = decoder_layout(tuple(raw.shape), image_shape, layout)
        dec = ContractDecoder(decode_owner, decode_fn, dec_layout, image_shape)
        encoder_bytes = _export(enc, x, [NAMES["x"]], [NAMES["mu"], NAMES["logvar"]])
        decoder_bytes = _export(dec, torch.randn(2, latent_dim), [NAMES["z"]], [NAMES["x_hat"]])
    return Exported(encoder_bytes, decoder_bytes, layout, dec_layout, latent_dim, tried, enc, dec)


def check_pair(exported: Exported, image_shape, input_range=(0, 1), n: int = 3, tol: float = 1e-4) -> float:
    """The graphs against the model on a batch of `n` != the trace's 2 (a baked-in batch size shows here).
    Returns the largest difference; refuses past tol (relative to the outputs' scale)."""
    lo, hi = input_range
    x = lo + (hi - lo) * torch.rand((n, *image_shape), generator=torch.Generator().manual_seed(3))
    z = torch.randn(n, exported.latent_dim, generator=torch.Generator().manual_seed(4))
    with evaluating(exported.encoder_module, exported.decoder_module), torch.no_grad():
        want = [t.numpy() for t in (*exported.encoder_module(x), exported.decoder_module(z))]
    try:
        got = make_session(exported.encoder, 1).run([NAMES["mu"], NAMES["logvar"]], {NAMES["x"]: x.numpy()})
        got += make_session(exported.decoder, 1).run([NAMES["x_hat"]], {NAMES["z"]: z.numpy()})
    except Exception as err:  # noqa: BLE001
        raise BringError(f"onnxruntime cannot run the exported graphs on a batch of {n}: {_first_line(err)}") from None
    worst = 0.0
    for name, w, g in zip(("mu", "logvar", "x_hat"), want, got):
        if w.shape != g.shape:
            raise BringError(f"the exported {name} is {list(g.shape)} for a batch of {n}, the model gives "
                             f"{list(w.shape)}: a batch size was baked into the graph")
        diff = float(np.abs(w - g).max()) / (1.0 + float(np.abs(w).max()))
        if diff > tol:
            raise BringError(f"the exported {name} differs from the model's by {diff:.2g}: the graph does not "
                             "compute what the model does (data-dependent Python control flow?)")
        worst = max(worst, diff)
    return worst


def check_limits(image_shape, latent_dim: int | None = None) -> None:
    """The image shape and (once known, after the export) the latent size the app takes."""
    c, h, w = image_shape
    if c not in CHANNELS:
        raise BringError(f"image_shape {list(image_shape)}: the app takes 1 (grey) or 3 (colour) channels")
    if not all(SIDE_RANGE[0] <= s <= SIDE_RANGE[1] for s in (h, w)):
        raise BringError(f"image_shape {list(image_shape)}: sides must be {SIDE_RANGE[0]}–{SIDE_RANGE[1]} pixels")
    if latent_dim is not None and not LATENT_RANGE[0] <= latent_dim <= LATENT_RANGE[1]:
        raise BringError(f"latent_dim {latent_dim}: the app takes {LATENT_RANGE[0]}–{LATENT_RANGE[1]}")
