"""Map point -> latent, honestly: a small learned inverse of a projection, and how well it (and the kNN blend) does.

A 2-D map is not invertible in general (UMAP folds 16 dimensions into 2), so "decode this spot" is always a guess.
Two guesses are offered and measured against each other on held-out points, in pixels:
  - the learned inverse: a torch MLP trained on (map xy -> encoder mean) pairs, seconds on CPU, smooth everywhere;
  - the kNN blend (placement.Placer.latent_at): the inverse-distance mean of the 8 nearest points' latents.
Fidelity is the mean absolute difference, in grey levels (0-255), between decode(guess(xy)) and decode(mu) for
points the guess never saw. The page uses the better one by default and names it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from ..errors import VAEError
from ..models.contract import export_graph
from .cache import Cache
from .placement import Placer

HIDDEN = 128
STEPS = 1500
BATCH = 512
HOLDOUT = 0.1          # share of points kept out of both guesses to measure them
MAX_FIDELITY_POINTS = 1000
MIN_POINTS = 10      # fewer and there is nothing to learn a map's inverse from (nor to hold out)


class MapInverse(nn.Module):
    """xy (N, 2) in map units -> z (N, D). Inputs are standardised inside the module, so ONNX carries it all."""

    def __init__(self, latent_dim: int, center=(0.0, 0.0), scale: float = 1.0, hidden: int = HIDDEN):
        super().__init__()
        self.register_buffer("center", torch.tensor(center, dtype=torch.float32).reshape(1, 2))
        self.register_buffer("scale", torch.tensor(float(scale), dtype=torch.float32))
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, latent_dim))

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        return self.net((xy - self.center) / self.scale)

    @torch.no_grad()
    def _predict(self, xy: np.ndarray) -> np.ndarray:
        return self(torch.as_tensor(np.atleast_2d(xy), dtype=torch.float32)).numpy()

    def latent_at(self, xy) -> np.ndarray:
        """(2,) -> (D,), (M, 2) -> (M, D): float32; every row alone (no batch effects in an MLP)."""
        xy = np.asarray(xy, dtype=np.float32)
        if xy.shape[-1] != 2 or not np.isfinite(xy).all():
            raise VAEError(f"map points must be finite (x, y) pairs, got shape {xy.shape}")
        out = self._predict(xy)
        return out[0] if xy.ndim == 1 else out


@dataclass(frozen=True)
class InverseFit:
    inverse: MapInverse
    train_rows: np.ndarray      # rows the inverse (and the kNN blend being compared) were fitted on
    heldout_rows: np.ndarray    # rows kept out to measure both
    seconds: float


def _split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_out = max(1, int(round(n * HOLDOUT))) if n >= 20 else 0
    return np.sort(order[n_out:]), np.sort(order[:n_out])


def fit_inverse(coords, latents, seed: int = 0, steps: int = STEPS, progress=None) -> InverseFit:
    """Train xy -> mu on all finite points but a held-out tenth. Deterministic for a seed."""
    coords = np.asarray(coords, dtype=np.float32)
    latents = np.asarray(latents, dtype=np.float32)
    if coords.ndim != 2 or coords.shape[1] != 2 or latents.ndim != 2 or len(coords) != len(latents):
        raise VAEError(f"the inverse needs (N, 2) map coordinates and (N, D) latents, got {coords.shape} and "
                       f"{latents.shape}")
    good = np.flatnonzero(np.isfinite(coords).all(axis=1) & np.isfinite(latents).all(axis=1))
    if len(good) < MIN_POINTS:
        raise VAEError(f"the inverse needs at least {MIN_POINTS} points with finite coordinates, got {len(good)}")
    train_idx, held_idx = _split(len(good), seed)
    train_rows, held_rows = good[train_idx], good[held_idx]
    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small MLP: one thread is ~20x faster than several fighting over busy cores
    try:
        inverse = _train(coords[train_rows], latents[train_rows], seed, steps, progress)
    finally:
        torch.set_num_threads(threads)
    return InverseFit(inverse, train_rows, held_rows, time.perf_counter() - start)


def _train(coords: np.ndarray, latents: np.ndarray, seed: int, steps: int, progress) -> MapInverse:
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    xy = torch.from_numpy(coords)
    z = torch.from_numpy(latents)
    center = xy.mean(dim=0)
    scale = float((xy - center).abs().max()) or 1.0
    inverse = MapInverse(latents.shape[1], center.tolist(), scale)
    optimizer = torch.optim.Adam(inverse.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for step in range(steps):
        batch = torch.randint(0, len(xy), (min(BATCH, len(xy)),), generator=generator)
        loss = ((inverse(xy[batch]) - z[batch]) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if progress is not None and step % 100 == 0:
            progress(step / steps, f"step {step:,} of {steps:,}")
    return inverse.eval()


@dataclass(frozen=True)
class Fidelity:
    """Mean absolute pixel difference (grey levels 0-255) from decode(mu) on held-out points; lower is better."""
    learned: float
    knn: float
    n_points: int

    @property
    def better(self) -> str:
        return "learned" if self.learned <= self.knn else "knn"


def measure(fit: InverseFit, coords, latents, decode, seed: int = 0) -> Fidelity:
    """Both guesses on the held-out points. `decode(z (M, D)) -> images in [0, 1]` (any shape per image)."""
    coords = np.asarray(coords, dtype=np.float32)
    latents = np.asarray(latents, dtype=np.float32)
    rows = fit.heldout_rows
    if len(rows) == 0:
        raise VAEError("too few points to hold some out and measure the inverse")
    if len(rows) > MAX_FIDELITY_POINTS:
        rows = np.sort(np.random.default_rng(seed).choice(rows, MAX_FIDELITY_POINTS, replace=False))
    knn = Placer(latents[fit.train_rows], coords[fit.train_rows])
    z_knn = np.stack([knn.latent_at(coords[r]).z for r in rows])
    z_learned = fit.inverse.latent_at(coords[rows])
    target = np.asarray(decode(latents[rows]), dtype=np.float64)

    def error(z):
        return float(np.abs(np.asarray(decode(z), dtype=np.float64) - target).mean() * 255.0)

    return Fidelity(learned=error(z_learned), knn=error(z_knn), n_points=len(rows))


def onnx_bytes(inverse: MapInverse, opset: int | None = None) -> bytes:
    """The inverse as ONNX: xy (n, 2) -> z (n, D)."""
    kwargs = {} if opset is None else {"opset": opset}
    return export_graph(inverse, torch.zeros(1, 2), ["xy"], ["z"], **kwargs)


def lens_graph(inverse: MapInverse, display_decoder: bytes) -> bytes:
    """xy -> the decoder's pixel means, as one ONNX graph: the inverse's graph feeding the model's display decoder
    (any model's: VAEModel.display_decoder_onnx). The inverse is exported at the decoder's opset so the two graphs
    compose; the decoder's tensors are prefixed so no name can clash."""
    import onnx
    from onnx import compose

    decoder = onnx.load_from_string(display_decoder)
    opset = next((o.version for o in decoder.opset_import if o.domain in ("", "ai.onnx")), 17)
    mlp = onnx.load_from_string(onnx_bytes(inverse, opset=min(max(opset, 9), 20)))
    if mlp.opset_import[0].version != opset:
        mlp = onnx.version_converter.convert_version(mlp, opset)
    mlp.ir_version = decoder.ir_version = max(mlp.ir_version, decoder.ir_version)
    decoder = compose.add_prefix(decoder, "decoder_")
    merged = compose.merge_models(mlp, decoder, io_map=[("z", decoder.graph.input[0].name)])
    return merged.SerializeToString()


def _file_name(name: str) -> str:
    return f"inverse-{name}.safetensors"


def to_bytes(inverse: MapInverse, fidelity: Fidelity) -> bytes:
    """Weights (safetensors, never pickle) with the measured fidelity in the metadata."""
    from safetensors.torch import save

    meta = {"latent_dim": str(inverse.net[-1].out_features), "hidden": str(inverse.net[0].out_features),
            "learned": repr(fidelity.learned), "knn": repr(fidelity.knn), "n_points": str(fidelity.n_points)}
    return save({k: v.contiguous() for k, v in inverse.state_dict().items()}, metadata=meta)


def load(path) -> tuple[MapInverse, Fidelity] | None:
    """A saved inverse, or None when it is missing or unreadable (then it is fitted again)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
        inverse = MapInverse(int(meta["latent_dim"]), hidden=int(meta["hidden"]))
        inverse.load_state_dict(load_file(str(path)))
        return inverse.eval(), Fidelity(float(meta["learned"]), float(meta["knn"]), int(meta["n_points"]))
    except Exception:  # noqa: BLE001 - any damage means "fit it again", never a crash
        return None


def cached_only(cache: Cache, name: str) -> tuple[MapInverse, Fidelity] | None:
    """What `cached` would return if it is already in the cache (shipped, or fitted before); None when it would have
    to be fitted (seconds: the app then fits it in the background)."""
    return cache.load(_file_name(name), load)


def cached(cache: Cache, name: str, coords, latents, decode, progress=None) -> tuple[MapInverse, Fidelity]:
    """fit_inverse + measure, stored in the model's cache (map/cache.py) as inverse-<name>.safetensors (name carries
    the projection and a hash of its coordinates, so a new map never reuses an old inverse)."""
    def compute():
        fit = fit_inverse(coords, latents, progress=progress)
        return fit.inverse, measure(fit, coords, latents, decode)
    return cache.get(_file_name(name), load, compute, lambda found: to_bytes(*found))
