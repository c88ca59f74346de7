"""What the Map page needs beyond the shared loaders: the published points file, PCA's explained variance.

Everything heavy is memoised across sessions in loaders.memo, keyed like the projection it comes from.
"""
from __future__ import annotations

import numpy as np

from ui import figures
from ui import loaders
from ui.components import map as map_component
from vae_core.map import points as map_points
from vae_core.map.cache import Cache
from vae_core.map.placement import FAR_FACTOR


def points_url(cur: loaders.Current) -> tuple[str, map_points.MapPoints]:
    """The map's points, written once per (model, split, projection) for the browser; (URL, the points)."""
    def compute(cb):
        encoded, coords = cur.encoded(), cur.coords()
        cb(0.2, f"{len(coords):,} points and each one's distance to its nearest neighbour")
        names = cur.dataset.class_names
        points = map_points.build(coords, encoded.labels, encoded.recon, encoded.kl, encoded.elbo,
                                  meta={"classes": len(names)})
        return map_component.publish_points(points), points
    return loaders.memo(("map-points", *cur.key, cur.spec), compute, "Preparing the map for the browser")


def density(cur: loaders.Current, points: map_points.MapPoints, frame) -> dict:
    """The density layer (contour paths) and the dense regions' labels, computed once per map and written as a
    small JSON file the page fetches when the layer is first shown: {url, seconds, labels}."""
    def compute(cb):
        import json

        from vae_core.map.density import density as find_density
        cb(0.2, "smoothing the point counts, finding the peaks and their classes")
        xy = np.stack([points.arrays["x"], points.arrays["y"]], axis=1)
        found = find_density(xy, points.arrays["label"], cur.dataset.class_names, bounds=tuple(frame))
        raw = json.dumps(found.to_json(), separators=(",", ":")).encode()
        return {"url": map_component.publish(raw, "json"), "seconds": round(found.seconds, 3),
                "labels": len(found.peaks)}
    return loaders.memo(("map-density", *cur.key, cur.spec), compute, "Finding the dense regions")


def bounds(points: map_points.MapPoints) -> tuple[float, float, float, float]:
    xy = np.stack([points.arrays["x"], points.arrays["y"]], axis=1)
    xy = xy[np.isfinite(xy).all(axis=1)]
    return figures.map_bounds(xy) if len(xy) else (-1.0, 1.0, -1.0, 1.0)


def far_distance(points: map_points.MapPoints) -> float:
    """The Placer's rule: farther than FAR_FACTOR × the median spacing between points is outside the data."""
    spacing = points.arrays["nn"]
    spacing = spacing[np.isfinite(spacing) & (spacing > 0)]
    return float(FAR_FACTOR * np.median(spacing)) if len(spacing) else 1.0


def explained_variance(cur: loaders.Current) -> np.ndarray:
    """PCA: the share of the latent variance each map axis carries (and the rest), from the encoder means."""
    def compute(cb):
        mu = cur.encoded().mu.astype(np.float64)
        mu = mu[np.isfinite(mu).all(axis=1)]
        values = np.linalg.svd(mu - mu.mean(axis=0), compute_uv=False) ** 2
        return values / values.sum() if values.sum() > 0 else values
    return loaders.memo(("pca-variance", *cur.key), compute)


INVERSE_NAMES = {"learned": "the learned inverse of this map", "knn": "a blend of the 8 nearest points' latents",
                 "exact": "the latent itself (this map is the 2-D latent space: exact)"}


def _inverse_job(cur: loaders.Current):
    """(key, compute(progress) of plain values, cached(): the cache file's inverse or None) for the current map."""
    from vae_core.map import inverse as inv
    from vae_core.map.projection import latents_hash

    encoded, coords, model, cache = cur.encoded(), cur.coords(), cur.loaded.model, Cache.of(cur.loaded)
    name = f"{cur.dataset.name}-{cur.split}-{cur.spec.key()}-{latents_hash(coords)}".replace(":", "_").replace("/", "_")
    return (("map-inverse", *cur.key, cur.spec),
            lambda cb: inv.cached(cache, name, coords, encoded.mu, model.decode_means, progress=cb),
            lambda: inv.cached_only(cache, name))


def inverse(cur: loaders.Current):
    """The learned inverse of the current map and both guesses' measured fidelity: (MapInverse, Fidelity).
    Fitted once per (model, split, projection), seconds on CPU, then read from the model's cache folder;
    None for the 'latent' projection (exact)."""
    if cur.spec.method == "latent":
        return None
    key, compute, _ = _inverse_job(cur)
    return loaders.memo(key, compute, "Fitting the map's inverse")


def inverse_now(cur: loaders.Current):
    """(inverse, None) as `inverse` gives it when it is ready (fitted, or in the model's cache: a shipped one is used
    at once); else (None, the background job fitting it: ~5 s for 10k points here). None for the 'latent' projection."""
    if cur.spec.method == "latent":
        return None, None
    key, compute, cached = _inverse_job(cur)
    return loaders.memo_or_start(key, compute, "The learned inverse of this map", cached=cached)


def lens(cur: loaders.Current, method: str) -> dict:
    """What the page needs to decode under the cursor with `method`: graph URLs for the shared engine.
    learned: one ONNX graph xy -> image (the inverse composed with the display decoder);
    knn: the display decoder plus the Placer's table (latents in map row order) for the 8-nearest blend in the page;
    exact: the display decoder alone (z = xy)."""
    from ui.components import served

    shape = list(cur.loaded.config.image_shape)
    if method == "learned":
        learned, _ = inverse(cur)

        def compute(cb):
            from vae_core.map import inverse as inv
            cb(0.2, "the inverse and the decoder as one ONNX graph for the page")
            graph = inv.lens_graph(learned, served.display_decoder(cur.loaded))
            return map_component.publish(graph, "onnx")
        url = loaders.memo(("map-lens-graph", *cur.key, cur.spec), compute, "Exporting the lens")
        return {"method": method, "graphUrl": url, "shape": shape, "name": INVERSE_NAMES[method]}
    out = {"method": method, "decoderUrl": served.decoder_url(cur.loaded), "shape": shape,
           "name": INVERSE_NAMES[method]}
    if method == "knn":
        out["placementUrl"] = served.placement_url(cur)
    return out


def prepare_layers(cur: loaders.Current, points: map_points.MapPoints, frame) -> None:
    """Build what the map's layers share, before the map is mounted (each is memoised, so the page's later calls
    find it): the display decoder (the lens; ~1 s to export on a fresh server), the thumbnails' atlas, the density.
    A failure here is left to the layer's own call, which reports it and keeps the map working."""
    from ui.components import served

    for build in (lambda: served.decoder_url(cur.loaded), lambda: atlas(cur), lambda: density(cur, points, frame)):
        try:
            build()
        except Exception:  # noqa: BLE001 - reported by the layer's own call in the page
            continue


ATLAS_MAX = 20_000  # thumbnails for maps up to this size (10k Fashion-MNIST images: a ~3 MB PNG, fetched once)


def atlas(cur: loaders.Current) -> dict | None:
    """Every image of the split in one PNG (row-major, no padding), for thumbnails at deep zoom; {"off": why} when
    there are too many, or when it cannot be made (the map works on without it)."""
    images, _ = cur.images()
    if len(images) == 0:
        return None
    if len(images) > ATLAS_MAX:  # the page says why its toggle is off
        return {"off": f"Images on the map are drawn for maps of up to {ATLAS_MAX:,} images (this one has "
                       f"{len(images):,}): they come as one picture, sent once."}

    def compute(cb):
        from vae_core import images as imgs
        cb(0.2, f"one picture of all {len(images):,} images, sent to the page once")
        cols = int(np.ceil(np.sqrt(len(images))))
        sheet = imgs.grid(images, ncols=cols, pad=0)
        # zlib level 1: built on a map's first load (0.5 s instead of 1 s for 10k images), served from this machine
        return {"url": map_component.publish(imgs.to_png(sheet, 1, compress_level=1), "png"), "cols": cols,
                "size": [int(images.shape[1]), int(images.shape[2])], "n": int(len(images))}
    # keyed by the model too (the file is the dataset's, named by its bytes: one copy), so a deleted model's goes
    try:
        return loaders.memo(("map-atlas", str(cur.loaded.path), cur.dataset.name, cur.split), compute,
                            "Drawing the thumbnail atlas")
    except Exception as err:  # noqa: BLE001 - a layer that fails turns its toggle off (saying why), not the map
        return {"off": f"The images on the map are off: {type(err).__name__}: {err}"}
