"""What the Compare page needs beyond the shared loaders: the comparison of two models' encodings (compare.compare),
their aligned maps (compare_maps.aligned_pair: the UMAP pair in a background job, PCA's Procrustes pair meanwhile),
and per side the points file, the lens and the placer the detail panel reads neighbours from.

Both sides are `loaders.Current`s of the same dataset and split, so their encodings are the Map's own (one per model
and split, shared with every page). Everything heavy is memoised across sessions (loaders.memo), keyed by both
models' paths and weights hashes, so a retrained or deleted model drops its results (loaders.forget_model).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ui import figures, loaders, map_data
from ui.components import map as map_component
from ui.components import served
from ui.jobs import Job
from vae_core.map import compare, compare_maps
from vae_core.map import points as map_points
from vae_core.map.placement import Placer
from vae_core.map.projection import ProjectionSpec, split_map_name

STAND_IN = ProjectionSpec(method="pca")  # the Procrustes pair: ~0.02 s for 10k, shown while the UMAP pair is made
METHODS = compare_maps.PAIR_METHODS      # ("umap", "pca")


def _key(a: loaders.Current, b: loaders.Current) -> tuple:
    return (*a.key, str(b.loaded.path), b.loaded.weights_hash)


def comparison(a: loaders.Current, b: loaders.Current) -> compare.Comparison:
    """Agreement per image, the least-agreeing images, per class summaries: ~0.3 s for 10k, 5 s for 70k (cached on
    disk in A's cache after that)."""
    def compute(cb):
        name = split_map_name(a.dataset.name, a.split)
        return compare.compare(a.loaded, b.loaded, a.encoded(), b.encoded(), name, a.dataset.class_names, progress=cb)
    return loaders.memo(("compare", *_key(a, b)), compute, "Comparing the neighbourhoods")


@dataclass(frozen=True)
class PairNow:
    """The aligned maps shown now: the ones asked for, or PCA's while the UMAP pair is computed (`job`)."""
    pair: compare_maps.AlignedPair
    spec: ProjectionSpec          # what `pair` is
    requested: ProjectionSpec     # what was asked for
    job: Job | None               # computing the requested pair, while `pair` stands in for it

    @property
    def key(self) -> str:
        return self.spec.key()


def pair_now(a: loaders.Current, b: loaders.Current, spec: ProjectionSpec) -> PairNow:
    """Both maps aligned by `spec` (UMAP or PCA) when ready (computed, or in A's cache: milliseconds), else the PCA
    pair and the background job computing the UMAP pair (A's Map-page UMAP first, when A has none yet)."""
    spec = spec if spec.method in METHODS else ProjectionSpec()
    spec = ProjectionSpec(method=spec.method, dims=2, n_neighbors=spec.n_neighbors, min_dist=spec.min_dist,
                          seed=spec.seed)
    name = split_map_name(a.dataset.name, a.split)

    def compute(which: ProjectionSpec):
        loaded_a, loaded_b, enc_a, enc_b = a.loaded, b.loaded, a.encoded(), b.encoded()  # plain values for a thread
        return lambda cb: compare_maps.aligned_pair(loaded_a, loaded_b, enc_a, enc_b, name, which, progress=cb)

    job = None
    if spec.method != STAND_IN.method:
        found, job = loaders.memo_or_start(
            ("compare-pair", *_key(a, b), spec), compute(spec), "The aligned UMAP maps of A and B",
            cached=lambda: compare_maps.cached_pair(a.loaded, b.loaded, a.encoded(), name, spec))
        if found is not None:
            return PairNow(found, spec, spec, None)
    found = loaders.memo(("compare-pair", *_key(a, b), STAND_IN), compute(STAND_IN), "Aligning the PCA maps")
    return PairNow(found, STAND_IN, spec, job)


def bounds(shown: PairNow) -> tuple[float, float, float, float]:
    """One frame for both maps (the pair shares one centring and scale): the same spot is the same place on both."""
    both = np.concatenate([shown.pair.a, shown.pair.b])
    both = both[np.isfinite(both).all(axis=1)]
    return figures.map_bounds(both) if len(both) else (-1.0, 1.0, -1.0, 1.0)


def _coords(shown: PairNow, side: str) -> np.ndarray:
    return shown.pair.a if side == "a" else shown.pair.b


def points_url(cur: loaders.Current, side: str, a: loaders.Current, b: loaders.Current, shown: PairNow,
               agreement: np.ndarray) -> tuple[str, map_points.MapPoints]:
    """One side's points file: its aligned map, its own model's numbers (recon, KL, ELBO) and the shared agreement."""
    def compute(cb):
        encoded = cur.encoded()
        points = map_points.build(_coords(shown, side), encoded.labels, encoded.recon, encoded.kl, encoded.elbo,
                                  meta={"classes": len(cur.dataset.class_names)}, extra={"agreement": agreement})
        return map_component.publish_points(points), points
    return loaders.memo(("compare-points", side, *_key(a, b), shown.key), compute, "Preparing the maps for the browser")


def placer(cur: loaders.Current, side: str, a: loaders.Current, b: loaders.Current, shown: PairNow) -> Placer:
    """This side's latents on its aligned map: neighbours in its own latent space, a spot's latent (its 8 nearest)."""
    return loaders.memo(("compare-placer", side, *_key(a, b), shown.key),
                        lambda cb: Placer(cur.encoded().mu, _coords(shown, side)))


def lens(cur: loaders.Current, side: str, a: loaders.Current, b: loaders.Current, shown: PairNow) -> dict:
    """The page's lens for one side: its model's display decoder and its own 8-nearest blend on its aligned map (the
    Map's knn lens, map_data.lens, with this map's placement table)."""
    def make(cb) -> str:
        found = placer(cur, side, a, b, shown)
        table = served.placement_bytes(found.latents32, found.coords, figures.map_bounds(found.coords), found.k)
        return served.publish(table, "models", "bin")
    url = loaders.memo(("compare-placement", side, *_key(a, b), shown.key), make)
    return {"method": "knn", "decoderUrl": served.decoder_url(cur.loaded), "placementUrl": url,
            "shape": list(cur.loaded.config.image_shape), "name": map_data.INVERSE_NAMES["knn"]}
