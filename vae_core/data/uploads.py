"""Uploaded files -> model inputs: a batch of pictures (zips included, with limits) through `images`' safe decoding
and its one preprocessing, one result per picture (a bad file gets its message, the rest still work).
`read_uploads` adds per-picture overrides of that preprocessing. Everything happens in memory: nothing an upload
contains is written to disk.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import images
from ..errors import ImageError, VAEError
from ..zips import UploadLimits, is_zip, iter_zip, size_text


@dataclass
class UploadResult:
    name: str
    original: np.ndarray | None = None  # uint8 thumbnail (<= 256 px) of the picture as decoded, for display
    input: images.Preprocessed | None = None
    error: str | None = None


def _upload_one(name: str, data: bytes, image_shape, settings: images.Preparation,
                limits: UploadLimits) -> UploadResult:
    try:
        image, notes = images.decode_image(data, name, limits.max_pixels)
        prepared, thumbnail = images.preprocess_with_thumbnail(image, image_shape, **settings._asdict())
        prepared.notes = notes + prepared.notes
        return UploadResult(name, thumbnail, prepared)
    except ImageError as err:
        return UploadResult(name, error=str(err))
    except Exception as err:  # noqa: BLE001 - one odd file must never sink the whole batch
        return UploadResult(name, error=f"{name} could not be processed ({type(err).__name__}: {err}).")


def load_uploads(files: list[tuple[str, bytes]], image_shape=(1, 28, 28), settings: images.Preparation = images.AUTO,
                 limits: UploadLimits = UploadLimits()) -> list[UploadResult]:
    """One result per uploaded image (zip members included); bad files get `error`, the rest still work."""
    results: list[UploadResult] = []
    images_read = 0
    over_limit = (f"skipped: at most {limits.max_files} images per upload. Upload the rest in another batch.")
    for name, data in files:
        if images_read >= limits.max_files:
            results.append(UploadResult(name, error=f"{name} {over_limit}"))
            continue
        if len(data) > limits.max_file_bytes:
            results.append(UploadResult(name, error=f"{name} is {size_text(len(data))}, over the "
                                                    f"{size_text(limits.max_file_bytes)} per-file limit. "
                                                    "Shrink it first."))
            continue
        if not is_zip(name, data):
            images_read += 1
            results.append(_upload_one(name, data, image_shape, settings, limits))
            continue
        for entry in iter_zip(name, data, limits):
            if entry.data is None:
                results.append(UploadResult(entry.name, error=entry.error))
            elif images_read >= limits.max_files:
                results.append(UploadResult(name, error=f"the rest of {name} {over_limit}"))
                break
            else:
                images_read += 1
                results.append(_upload_one(entry.name, entry.data, image_shape, settings, limits))
    return results


def _member_bytes(archive_name: str, data: bytes, member: str, limits: UploadLimits) -> bytes | None:
    for entry in iter_zip(archive_name, data, limits):
        if entry.name == member:
            return entry.data
    return None


def _reprocess(result: UploadResult, files: dict[str, bytes], image_shape, settings: images.Preparation,
               limits: UploadLimits) -> UploadResult:
    """Preprocess one already-read picture again with other settings (its thumbnail stays)."""
    data = files.get(result.name)
    if data is None:  # a zip member: "archive.zip/inner/x.png"
        archive = next((name for name in files if result.name.startswith(name + "/")), None)
        data = _member_bytes(archive, files[archive], result.name, limits) if archive else None
    if data is None:
        return result
    try:
        picture, notes = images.decode_image(data, result.name, limits.max_pixels)
        prepared = images.preprocess(picture, image_shape, **settings._asdict())
        prepared.notes = notes + prepared.notes
        return UploadResult(result.name, result.original, prepared)
    except VAEError as err:
        return UploadResult(result.name, error=str(err))
    except Exception as err:  # noqa: BLE001 - one odd file must never sink the whole batch
        return UploadResult(result.name, error=f"{result.name} could not be processed "
                                                      f"({type(err).__name__}: {err}).")


def unique_names(files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    seen: dict[str, int] = {}
    out = []
    for name, data in files:
        seen[name] = seen.get(name, 0) + 1
        out.append((name if seen[name] == 1 else f"{name} ({seen[name]})", data))
    return out


def read_uploads(files: list[tuple[str, bytes]], image_shape, overrides: dict | None = None,
                 limits: UploadLimits = UploadLimits()) -> list[UploadResult]:
    """`load_uploads` with automatic settings (images.AUTO), then `overrides[name]`: an images.Preparation (the
    background, invert and crop switches) per picture.

    Repeated file names get " (2)", " (3)"… so every picture has its own name (widgets and CSV rows key on it).
    """
    files = unique_names(files)
    results = load_uploads(files, image_shape, images.AUTO, limits)
    overrides = {name: value for name, value in (overrides or {}).items() if value != images.AUTO}
    if not overrides:
        return results
    by_name = dict(files)
    return [_reprocess(r, by_name, image_shape, overrides[r.name], limits) if r.input is not None and r.name in
            overrides else r for r in results]
