"""What the Compare page shows about two models of the same dataset, computed once and cached: how far each image's
neighbourhood agrees between the two latent spaces, the images where it agrees least, and per class the agreement,
the KL and the reconstruction error under each model. (Their two maps, aligned: compare_maps.py.)

The agreement is the Embedding Comparator's local measure (Boggust et al., IUI 2022): per image, the Jaccard overlap
of its k nearest neighbours in A's latent space and in B's. It is read in the latent spaces, not on the maps, so it
shows real disagreement, which the aligned maps deliberately damp. Any latent sizes (a 16-D and an 8-D model).
Measured: exact kd-trees, 10k x 16 0.24 s, 70k 5.0 s; z16 against z8 on the Fashion-MNIST test split: mean 0.345.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import VAEError
from .align import knn_indices
from .cache import Cache
from .encodings import EncodedSplit
from .projection import read_map

AGREEMENT_K = 10      # neighbours compared per image (the Embedding Comparator's default range is 5-50)
MOST_DIFFERENT = 20   # the images whose neighbourhoods differ most, shown as a row of thumbnails
TIE_K = 50            # ties in agreement broken by the overlap of this many nearest neighbours
BLOCK = 20_000        # rows per (rows, k, k) comparison: 20k x 10 x 10 booleans is 2 MB


def _describe(loaded) -> str:
    config = loaded.config
    shape = "×".join(str(v) for v in config.image_shape)
    return f"{loaded.path.name} ({config.dataset or 'no dataset named'}, {shape} images)"


def check_comparable(loaded_a, loaded_b) -> None:
    """Raise a VAEError naming both models, both datasets and both image shapes unless the two models (LoadedModel)
    were made for the same dataset and image shape: their encodings must be of the same images, row for row."""
    a, b = loaded_a.config, loaded_b.config
    same_data = bool(a.dataset) and a.dataset == b.dataset
    if same_data and tuple(a.image_shape) == tuple(b.image_shape):
        return
    why = "different datasets" if not same_data else "different image shapes"
    if not (a.dataset and b.dataset):
        why = "a model that names no dataset"
    raise VAEError(f"{_describe(loaded_a)} and {_describe(loaded_b)} cannot be compared ({why}): Compare needs two "
                   "models of the same dataset and image shape, so that image i is the same picture for both")


def overlap_counts(idx_a: np.ndarray, idx_b: np.ndarray) -> np.ndarray:
    """Per row, how many ids two (N, k) neighbour tables share (each row's ids are distinct)."""
    out = np.empty(len(idx_a), dtype=np.int32)
    for start in range(0, len(idx_a), BLOCK):
        a, b = idx_a[start:start + BLOCK], idx_b[start:start + BLOCK]
        out[start:start + BLOCK] = (a[:, :, None] == b[:, None, :]).any(axis=2).sum(axis=1)
    return out


def knn_jaccard(latents_a, latents_b, k: int = AGREEMENT_K) -> np.ndarray:
    """Per image, |N_A ∩ N_B| / |N_A ∪ N_B| of its k nearest neighbours (exact, self excluded) in A's latent space and
    in B's: float32 (N,), 1 = the same neighbours, 0 = none shared. Scale- and shift-invariant per side."""
    latents_a, latents_b = np.asarray(latents_a), np.asarray(latents_b)
    if latents_a.ndim != 2 or latents_b.ndim != 2 or len(latents_a) != len(latents_b):
        raise VAEError(f"the two latent sets must be (N, D) over the same N images, not {latents_a.shape} and "
                       f"{latents_b.shape}")
    shared = overlap_counts(knn_indices(latents_a, k), knn_indices(latents_b, k))
    return (shared / (2 * k - shared)).astype(np.float32)


def most_different(agreement: np.ndarray, count: int = MOST_DIFFERENT, latents_a=None, latents_b=None,
                   wide_k: int = TIE_K) -> np.ndarray:
    """Row ids of the `count` images whose neighbourhoods agree least, least first. Ties are common (two unlike
    models: hundreds of images share none of their 10 nearest, agreement 0) and were listed by row number; with the
    latents, a tie goes to the image sharing fewer of its `wide_k` nearest (then the lower row)."""
    agreement = np.asarray(agreement)
    order = np.argsort(agreement, kind="stable")
    if latents_a is None or len(order) <= count:
        return order[:count].astype(np.int64)
    candidates = np.flatnonzero(agreement <= agreement[order[count - 1]])  # every row tied with the last one shown
    if len(candidates) == count:
        return order[:count].astype(np.int64)
    k = min(wide_k, len(agreement) - 1)
    shared = overlap_counts(knn_indices(latents_a, k, rows=candidates), knn_indices(latents_b, k, rows=candidates))
    ranked = candidates[np.lexsort((candidates, shared, agreement[candidates]))]
    return ranked[:count].astype(np.int64)


@dataclass(frozen=True)
class GroupSummary:
    """Means over one class (or over all images: label -1): agreement, KL and reconstruction error in nats."""
    label: int
    name: str
    count: int
    agreement: float
    kl_a: float
    kl_b: float
    recon_a: float
    recon_b: float


def _summary(label: int, name: str, rows, agreement, encoded_a: EncodedSplit, encoded_b: EncodedSplit) -> GroupSummary:
    mean = lambda values: float(np.asarray(values, dtype=np.float64)[rows].mean())  # noqa: E731
    return GroupSummary(label, name, int(np.count_nonzero(rows)), mean(agreement), mean(encoded_a.kl),
                        mean(encoded_b.kl), mean(encoded_a.recon), mean(encoded_b.recon))


def per_class(agreement, encoded_a: EncodedSplit, encoded_b: EncodedSplit, class_names) -> list[GroupSummary]:
    """One summary per class present (labelled data: more than one class name), in label order; [] otherwise."""
    if len(class_names) < 2:
        return []
    labels = np.asarray(encoded_a.labels)
    return [_summary(int(c), str(class_names[c]) if c < len(class_names) else str(c), labels == c, agreement,
                     encoded_a, encoded_b) for c in np.unique(labels)]


@dataclass(frozen=True)
class Comparison:
    """Everything Compare shows besides the maps; row i is image i of the split."""
    agreement: np.ndarray          # (N,) float32 Jaccard overlap of the k-neighbourhoods
    most_different: np.ndarray     # (MOST_DIFFERENT,) rows, least agreement first
    overall: GroupSummary          # all images (label -1)
    classes: list[GroupSummary]    # per class, labelled data only
    k: int


def check_same_images(encoded_a: EncodedSplit, encoded_b: EncodedSplit) -> None:
    if len(encoded_a) != len(encoded_b) or not np.array_equal(encoded_a.labels, encoded_b.labels):
        raise VAEError(f"the two encodings are not of the same images ({len(encoded_a):,} and {len(encoded_b):,} "
                       "rows, or other labels): encode the same split of the same dataset with both models")


def _read_agreement(n: int):
    """A cached agreement: read_map's checks (shape, float32, finite), and every value a Jaccard index in [0, 1]."""
    def read(path):
        values = read_map((n,))(path)
        return values if values is not None and values.min() >= 0 and values.max() <= 1 else None
    return read


def compare(loaded_a, loaded_b, encoded_a: EncodedSplit, encoded_b: EncodedSplit, map_name: str,
            class_names=(), k: int = AGREEMENT_K, progress=None) -> Comparison:
    """The Comparison of two models' encodings of one split (`map_name`: projection.split_map_name). The agreement is
    cached in A's cache (as the aligned maps are: compare_maps.py says why), named by B's weights hash."""
    check_comparable(loaded_a, loaded_b)
    check_same_images(encoded_a, encoded_b)
    name = f"agreement-{map_name}-k{k}-{loaded_b.weights_hash}.npy"

    def compute():
        if progress is not None:
            progress(0.0, f"Comparing the neighbourhoods of {len(encoded_a):,} images…")
        return knn_jaccard(encoded_a.mu, encoded_b.mu, k)

    agreement = Cache.of(loaded_a).get(name, _read_agreement(len(encoded_a)), compute,
                                       lambda values: lambda handle: np.save(handle, values, allow_pickle=False))
    if progress is not None:
        progress(1.0, "Compared.")
    overall = _summary(-1, "all images", np.ones(len(agreement), bool), agreement, encoded_a, encoded_b)
    return Comparison(agreement, most_different(agreement, latents_a=encoded_a.mu, latents_b=encoded_b.mu), overall,
                      per_class(agreement, encoded_a, encoded_b, class_names), k)
