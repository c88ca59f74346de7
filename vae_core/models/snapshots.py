"""A model folder's training snapshots (snapshots/), the frames of the training movie: written by training
(training/snapshots.py), read by the movie (map/movie.py). Here, below both, because training and the map are
independent siblings and a folder's files are this package's business.

    snapshots/epoch-00003.safetensors   one file per kept epoch, written atomically (a kill leaves the old set)
        rows        int32 (n,)      the test-split rows encoded: the same seeded rows every time (snapshot_rows)
        mu          float16 (n, D)  their encoder means (float16: the k=10 neighbourhoods of 2,000 Fashion-MNIST
                                    means agree with float32's at Jaccard 0.999; half of float32's 128 kB)
        kl_per_dim  float32 (D,)    KL per latent dimension, mean over the test images of that epoch's evaluation
        decoder     uint8 (bytes)   the display decoder (z -> pixel means) as ONNX, weights stored as float16 with a
                                    Cast in front (compact_decoder): 883 kB instead of 1.76 MB for the shipped
                                    z16 model, pictures within one grey level of float32's (0.6 % of pixels off by
                                    one); int8 would be 477 kB but off by up to 12 grey levels on 15 % of pixels
        metadata    "snapshot": JSON {format, epoch, elbo, recon, kl, n_images}: the ELBO split of that epoch

A file that cannot be read whole, or does not agree with its own name or with the series (other rows or latent
size), is skipped and counted, so a page can say "2 snapshots unreadable".
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, VAEError
from ..files import TEMP_PREFIX, TEMP_SUFFIX, atomic_write
from . import folder as folder_files

FOLDER = folder_files.SNAPSHOTS
FORMAT = "vae-snapshot-1"
NAME = re.compile(r"^epoch-(\d{5})\.safetensors$")
ROW_SEED = 0            # one fixed seed: every model of a dataset snapshots the same test images
SNAPSHOT_CAP = 64 * folder_files.MB  # a 3.5 MB model's snapshot is ~1 MB; a 100M-parameter decoder would not fit
KEYS = ("rows", "mu", "kl_per_dim", "decoder")


def file_name(epoch: int) -> str:
    return f"epoch-{epoch:05d}.safetensors"


def snapshot_rows(n_test: int, size: int) -> np.ndarray:
    """`size` sorted test-split rows (all when the split is smaller), the same for every model of a dataset."""
    if size >= n_test:
        return np.arange(n_test, dtype=np.int32)
    return np.sort(np.random.default_rng(ROW_SEED).choice(n_test, size, replace=False)).astype(np.int32)


@dataclass(frozen=True)
class Snapshot:
    """One kept epoch: its test rows' encoder means and its numbers; the decoder is read when asked (decoder_onnx)."""
    epoch: int
    rows: np.ndarray          # (n,) test-split rows
    mu: np.ndarray            # (n, D) float32
    kl_per_dim: np.ndarray    # (D,) float32, nats
    elbo: float               # the epoch's test ELBO split, nats per image
    recon: float
    kl: float
    n_images: int             # test images those numbers were measured on
    path: Path | None = None

    def decoder_onnx(self) -> bytes:
        """The display decoder's ONNX bytes, checked as an imported graph is (standard operators, an opset this
        onnxruntime runs, no external data, ONNX's checker): the browser and onnxruntime run it."""
        from safetensors import SafetensorError, safe_open

        from .onnx.graph_checks import parse_graph

        if self.path is None:
            raise VAEError(f"snapshot of epoch {self.epoch} has no file to read its decoder from")
        try:
            folder_files.check_regular(self.path, SNAPSHOT_CAP)
            with safe_open(self.path, "np") as handle:
                data = handle.get_tensor("decoder").tobytes()
        except (OSError, SafetensorError, ValueError) as err:
            raise CheckpointError(f"{self.path} cannot be read ({err}); train again to rewrite it") from None
        parse_graph(data, self.path, external=False)
        return data


@dataclass(frozen=True)
class SnapshotSeries:
    """A folder's snapshots, oldest first, and how many files were skipped (unreadable or not of this series)."""
    snapshots: list[Snapshot]
    unreadable: int

    @property
    def epochs(self) -> list[int]:
        return [s.epoch for s in self.snapshots]


# --- writing ---------------------------------------------------------------------------------------------------------
def compact_decoder(onnx_bytes: bytes) -> bytes:
    """The same graph with every float32 weight stored as float16 and Cast back to float32 at the start: half the
    bytes, inputs and outputs unchanged (float32), so onnxruntime and the browser run it as they run the original."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(onnx_bytes)
    graph, kept, casts = model.graph, [], []
    for tensor in graph.initializer:
        if tensor.data_type != TensorProto.FLOAT:
            kept.append(tensor)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float16), f"{tensor.name}__fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [tensor.name], to=TensorProto.FLOAT))
    nodes = casts + list(graph.node)
    del graph.initializer[:], graph.node[:]
    graph.initializer.extend(kept)
    graph.node.extend(nodes)
    return model.SerializeToString()


def snapshot_bytes(snapshot: Snapshot, decoder: bytes) -> bytes:
    """One snapshot file's bytes (safetensors: tensors and a JSON header, nothing that runs code when read)."""
    from safetensors.numpy import save

    meta = {"format": FORMAT, "epoch": int(snapshot.epoch), "elbo": float(snapshot.elbo),
            "recon": float(snapshot.recon), "kl": float(snapshot.kl), "n_images": int(snapshot.n_images)}
    tensors = {"rows": np.asarray(snapshot.rows, dtype=np.int32),
               "mu": np.ascontiguousarray(snapshot.mu, dtype=np.float16),
               "kl_per_dim": np.asarray(snapshot.kl_per_dim, dtype=np.float32),
               "decoder": np.frombuffer(decoder, dtype=np.uint8)}
    return save(tensors, metadata={"snapshot": json.dumps(meta)})


def write_snapshot(folder, snapshot: Snapshot, decoder: bytes) -> Path:
    """Write (or replace: a resumed run redoes an epoch) one snapshot atomically and durably; temp files a kill left
    in snapshots/ are removed first. `decoder` is the display decoder as exported (compacted here)."""
    where = Path(folder) / FOLDER
    where.mkdir(parents=True, exist_ok=True)
    for stale in where.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        stale.unlink(missing_ok=True)
    data = snapshot_bytes(snapshot, compact_decoder(decoder))
    return atomic_write(where / file_name(snapshot.epoch), data, durable=True)


def _epochs_on_disk(folder) -> list[int]:
    try:
        return sorted(int(m.group(1)) for p in (Path(folder) / FOLDER).iterdir() if (m := NAME.match(p.name)))
    except OSError:
        return []


def remove_after(folder, epoch: int) -> list[int]:
    """Delete the snapshots of epochs after `epoch` (a resumed run redoes them: the series goes on from its
    checkpoint, never from a snapshot the checkpoint did not reach). Returns the epochs removed."""
    gone = [e for e in _epochs_on_disk(folder) if e > epoch]
    for e in gone:
        (Path(folder) / FOLDER / file_name(e)).unlink(missing_ok=True)
    return gone


def thin(folder, keep: int) -> list[int]:
    """Keep at most `keep` snapshots, evenly spread: while there are more, drop the inner one whose neighbours are
    closest (the first and the newest always stay), so a long run keeps its whole arc at a coarser step rather than
    only its end. Returns the epochs removed."""
    epochs, gone = _epochs_on_disk(folder), []
    while len(epochs) > max(keep, 2):
        gaps = [epochs[i + 1] - epochs[i - 1] for i in range(1, len(epochs) - 1)]
        drop = epochs.pop(1 + int(np.argmin(gaps)))
        (Path(folder) / FOLDER / file_name(drop)).unlink(missing_ok=True)
        gone.append(drop)
    return gone


# --- reading ---------------------------------------------------------------------------------------------------------
def _read(path: Path, epoch: int) -> Snapshot:
    """One file, checked whole (every tensor present and finite, the header's epoch is the name's); ValueError else."""
    from safetensors import safe_open

    folder_files.check_regular(path, SNAPSHOT_CAP)
    with safe_open(path, "np") as handle:
        meta = json.loads((handle.metadata() or {}).get("snapshot", "null"))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("epoch") != epoch:
            raise ValueError("not a snapshot of this epoch")
        if set(KEYS) - set(handle.keys()):
            raise ValueError("tensors missing")
        rows, mu, kl_per_dim = (handle.get_tensor(k) for k in KEYS[:3])
        decoder_size = int(np.prod(handle.get_slice("decoder").get_shape()))
    mu = mu.astype(np.float32)
    numbers = [meta.get(k) for k in ("elbo", "recon", "kl")]
    if (rows.ndim != 1 or mu.shape != (len(rows), kl_per_dim.shape[0]) or kl_per_dim.ndim != 1 or not len(rows)
            or decoder_size == 0 or not np.isfinite(mu).all() or not np.isfinite(kl_per_dim).all()
            or not all(isinstance(v, (int, float)) for v in numbers) or not isinstance(meta.get("n_images"), int)):
        raise ValueError("inconsistent tensors or numbers")
    return Snapshot(epoch, rows.astype(np.int64), mu, kl_per_dim.astype(np.float32), *map(float, numbers),
                    meta["n_images"], path)


def read_snapshots(folder) -> SnapshotSeries:
    """The snapshots of a model folder, oldest first (none: an empty series). Unreadable files and files of another
    series (other rows or latent size than the newest readable one) are skipped and counted; hidden temp files a
    kill left are not snapshots and are ignored."""
    where = Path(folder) / FOLDER
    try:
        entries = sorted(p for p in where.iterdir() if not p.name.startswith("."))
    except OSError:
        return SnapshotSeries([], 0)
    found, unreadable = [], 0
    for path in entries:
        match = NAME.match(path.name)
        try:
            if match is None:
                raise ValueError("not a snapshot's name")
            found.append(_read(path, int(match.group(1))))
        except Exception:  # noqa: BLE001 - any damage (a truncated header, a FIFO, bad JSON) means "skip it and
            unreadable += 1  # say so", never a crash
    if not found:
        return SnapshotSeries([], unreadable)
    newest = found[-1]
    series = [s for s in found if np.array_equal(s.rows, newest.rows) and s.mu.shape == newest.mu.shape]
    return SnapshotSeries(series, unreadable + len(found) - len(series))


def decode_images(snapshot: Snapshot, z) -> np.ndarray:
    """Latents (N, D) decoded by the snapshot's own display decoder -> uint8 (N, H, W) or (N, H, W, C)."""
    from .onnx.runtime import make_session

    session = make_session(snapshot.decoder_onnx(), threads=1)
    z = np.atleast_2d(np.asarray(z, dtype=np.float32))
    means = session.run(None, {session.get_inputs()[0].name: z})[0]
    if not np.isfinite(means).all():
        raise VAEError(f"the decoder of epoch {snapshot.epoch} gives NaN or infinity for this latent")
    images = np.round(np.clip(means, 0.0, 1.0) * 255.0).astype(np.uint8)
    return images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)
