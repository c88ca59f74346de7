"""Any picture -> model input, safely; and model output -> PNG.

`decode_image` turns untrusted bytes into a Pillow image or raises ImageError (never anything else);
`preprocess` is the ONE function that turns any picture into what the model receives, so uploads,
folder datasets and the CLI all see identical inputs. Zips are read in memory by zips.py, with hard limits.
"""
import io
import math
import warnings
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np
from PIL import ExifTags, Image, ImageOps

from .errors import ImageError
from .zips import EXTENSION_FORMATS, UploadLimits

# Only these decoders ever see user bytes (fewer parsers to attack); "JPEG" also opens phones' MPO files.
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
OBJECT_FRACTION = 20 / 28   # MNIST puts the digit's bounding box in a 20x20 box inside 28x28
WORKING_MAX_PIXELS = 2_000_000  # shrink huge photos before float maths (by area, so thin lines survive)
THUMBNAIL_SIDE = 256


@dataclass
class Preprocessed:
    array: np.ndarray  # uint8 (H,W) or (H,W,C): exactly what the model receives
    inverted: bool = False
    cropped: bool = False
    notes: list[str] = field(default_factory=list)


def _unreadable_message(data: bytes, name: str) -> str:
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or b"<svg" in head:
        return f"{name} is an SVG drawing; only pixel images are read. Export it as PNG and upload that."
    try:
        text = head.decode("utf-8")
        looks_like_text = bool(text) and sum(ch.isprintable() or ch.isspace() for ch in text) > 0.95 * len(text)
    except UnicodeDecodeError:
        looks_like_text = False
    if looks_like_text:
        return (f"{name} contains text or HTML, not a picture (perhaps a web page was saved instead of the image). "
                "Save the image itself (PNG or JPEG) and upload that.")
    return f"{name} is not a picture format this app reads. Use PNG, JPEG, GIF, BMP, WebP or TIFF."


def _exif_upright(image: Image.Image, notes: list[str]) -> Image.Image:
    try:
        if image.getexif().get(ExifTags.Base.Orientation, 1) in range(2, 9):
            notes.append("rotated upright using the photo's EXIF orientation")
            return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - a broken EXIF block should not cost the user the picture itself
        notes.append("unreadable EXIF orientation ignored")
    return image


def decode_image(data: bytes, name: str = "image",
                 max_pixels: int = UploadLimits.max_pixels) -> tuple[Image.Image, list[str]]:
    """Decode untrusted bytes by their content; returns (first frame, notes) or raises ImageError."""
    if not data:
        raise ImageError(f"{name} is empty (0 bytes). Re-export the picture and upload it again.")
    notes: list[str] = []
    too_big = (f"{name} has too many pixels (limit {max_pixels:,}); it may be a decompression bomb. "
               "Resize it to a few thousand pixels per side first.")
    previous_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels  # Pillow's guard at our limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # e.g. "Corrupt EXIF data": we judge by the pixels
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
            # Header only so far: refuse on the declared size before decoding a single pixel.
            if image.width * image.height > max_pixels:
                raise ImageError(too_big + f" It declares {image.width}x{image.height}.")
            if image.width == 0 or image.height == 0:
                raise ImageError(f"{name} declares a size of {image.width}x{image.height}: it has no pixels.")
            frames = getattr(image, "n_frames", 1)
            image.load()  # truncated files fail here, not later in preprocess
            real_format = "JPEG" if image.format == "MPO" else image.format
            image = _exif_upright(image, notes)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(too_big) from err
    except Image.UnidentifiedImageError as err:
        raise ImageError(_unreadable_message(data, name)) from err
    except Exception as err:  # Pillow raises OSError, SyntaxError, ValueError, struct.error... on bad data
        raise ImageError(f"{name} is damaged or truncated ({type(err).__name__}: {err}). "
                         "Re-export the picture and upload it again.") from err
    finally:
        Image.MAX_IMAGE_PIXELS = previous_limit  # a caller's custom limit must not leak into other Pillow users
    if frames > 1:
        kind = "multi-page TIFF" if real_format == "TIFF" else f"animated {real_format}"
        unit = "pages" if real_format == "TIFF" else "frames"
        notes.append(f"{kind}: used the first of {frames} {unit}")
    claimed = EXTENSION_FORMATS.get(PurePosixPath(name).suffix.lower())
    if claimed and claimed != real_format:
        notes.append(f"{name} is really a {real_format} file despite its name; decoded as {real_format}")
    return image, notes


def _grey_to_unit(values: np.ndarray, mode: str, notes: list[str]) -> np.ndarray:
    """Integer/float grey -> [0, 1] by the range its values use, so a 16-bit gradient stays a gradient."""
    with np.errstate(invalid="ignore"):  # signalling NaNs in "F" images
        values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(values.min()), float(values.max())
    if mode.startswith("I;16") or (lo >= 0 and 255 < hi <= 65535):
        notes.append("16-bit grey scaled to 8-bit")
        values = values / 65535
    elif mode == "F" and lo >= 0 and hi <= 1:
        pass
    elif lo >= 0 and hi <= 255:
        values = values / 255
    else:
        values = (values - lo) / (hi - lo or 1)  # arbitrary range (32-bit, negative floats): stretch it
    return values.astype(np.float32)[..., None]


def _working_array(image: Image.Image, notes: list[str]) -> np.ndarray:
    """Any Pillow mode -> float32 (H, W, 1|3) in [0, 1], alpha flattened, at most WORKING_MAX_PIXELS."""
    scale = math.sqrt(WORKING_MAX_PIXELS / (image.width * image.height))
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        smooth_mode = {"P": "RGBA", "PA": "RGBA", "1": "L"}.get(image.mode)  # palettes cannot be averaged
        image = (image.convert(smooth_mode) if smooth_mode else image).resize(size, Image.Resampling.BOX)
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        return _grey_to_unit(np.asarray(image), mode, notes)
    has_transparency = "transparency" in image.info
    if mode in ("P", "PA") or (mode in ("RGB", "L") and has_transparency):
        image = image.convert("RGBA" if has_transparency or mode == "PA" else "RGB")
    elif mode in ("1", "La"):
        image = image.convert("L" if mode == "1" else "LA")
    elif mode == "RGBa":
        image = image.convert("RGBA")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGB")  # CMYK, YCbCr, LAB, HSV, RGBX ...
    values = np.asarray(image, dtype=np.float32) / 255
    values = values[..., None] if values.ndim == 2 else values
    if image.mode not in ("LA", "RGBA"):
        return values
    colour, alpha = values[..., :-1], values[..., -1:]
    if alpha.min() >= 1:
        return colour
    # A transparent background has no colour of its own: put dark drawings on white, light ones on black.
    grey = colour.mean(axis=2, keepdims=True)
    content = float((grey * alpha).sum() / alpha.sum()) if alpha.sum() > 0 else 1.0
    background = 1.0 if content < 0.5 else 0.0
    notes.append(f"transparent background flattened onto {'white' if background else 'black'}")
    return colour * alpha + background * (1 - alpha)


def _resize_float(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(values[..., c])).resize(
        size, Image.Resampling.LANCZOS)) for c in range(values.shape[2])]
    return np.clip(np.stack(channels, axis=2), 0, 1)


def _luminance(values: np.ndarray) -> np.ndarray:
    return values[..., 0] if values.shape[-1] == 1 else values @ np.array([0.299, 0.587, 0.114], np.float32)


def _frame(values: np.ndarray, image_shape, invert: bool | None, crop: bool, notes: list[str]) -> Preprocessed:
    """float (H, W, 1|3) -> dataset-like uint8: light object on dark, cropped, centred, target size."""
    channels, height, width = image_shape
    if channels == 1 and values.shape[2] == 3:
        values = _luminance(values)[..., None]
    elif channels == 3 and values.shape[2] == 1:
        values = np.repeat(values, 3, axis=2)
    border = np.concatenate([values[0], values[-1], values[:, 0], values[:, -1]])
    background = np.median(border, axis=0)
    if invert is None:
        invert = float(_luminance(background[None])[0]) > 0.5  # the datasets are light objects on black
        if invert:
            notes.append("inverted: light background, the model expects a light object on black")
    if invert:
        values, background = 1 - values, 1 - background
    box_h, box_w = height, width
    cropped = False
    if crop:
        difference = np.abs(values - background).max(axis=2)
        if difference.max() > 0.1:
            mask = difference > max(0.1, 0.25 * float(difference.max()))  # ignore JPEG noise and paper grain
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            values = values[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
            box_h, box_w = max(1, round(height * OBJECT_FRACTION)), max(1, round(width * OBJECT_FRACTION))
            cropped = True
        else:
            notes.append("no object stands out from the background: used the whole picture")
    scale = min(box_h / values.shape[0], box_w / values.shape[1])
    new_h = min(box_h, max(1, round(values.shape[0] * scale)))
    new_w = min(box_w, max(1, round(values.shape[1] * scale)))
    canvas = np.empty((height, width, channels), np.float32)
    canvas[:] = background
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = _resize_float(values, (new_w, new_h))
    array = np.round(canvas * 255).astype(np.uint8)
    return Preprocessed(array[..., 0] if channels == 1 else array, bool(invert), cropped, notes)


def preprocess(image: Image.Image, image_shape=(1, 28, 28), invert: bool | None = None,
               crop: bool = True) -> Preprocessed:
    """Any Pillow image -> exactly what the model receives (uint8, target shape). invert=None: decide by border."""
    notes: list[str] = []
    try:
        values = _working_array(image, notes)
    except Exception as err:  # an exotic mode Pillow cannot convert
        raise ImageError(f"cannot convert a picture in mode {image.mode!r}: {err}. Save it as RGB PNG.") from err
    return _frame(values, tuple(image_shape), invert, crop, notes)


def fit_picture(image: Image.Image, image_shape) -> tuple[np.ndarray, bool]:
    """A dataset's picture as it is: (uint8 array of the model's shape, whether it was resized). Same size: its pixels,
    unchanged. Another size: the whole picture resized to the model's size (no cropping, aspect not kept). Channels
    follow the model (grey from colour by luminance, colour from grey by repetition); transparency is flattened.
    Never inverted or cropped: a dataset is what the model learns from (Encode's uploads are another matter)."""
    channels, height, width = tuple(image_shape)
    values = _working_array(image, [])
    if channels == 1 and values.shape[2] == 3:
        values = _luminance(values)[..., None]
    elif channels == 3 and values.shape[2] == 1:
        values = np.repeat(values, 3, axis=2)
    resized = values.shape[:2] != (height, width)
    if resized:
        values = _resize_float(values, (width, height))
    array = np.round(values * 255).astype(np.uint8)
    return (array[..., 0] if channels == 1 else array), resized


def preprocess_with_thumbnail(image: Image.Image, image_shape, invert: bool | None = None,
                              crop: bool = True) -> tuple[Preprocessed, np.ndarray]:
    """`preprocess`, plus a display thumbnail (<= THUMBNAIL_SIDE px, uint8) of the picture as it was read."""
    notes: list[str] = []
    values = _working_array(image, notes)
    picture = Image.fromarray(np.round(values * 255).astype(np.uint8).squeeze(axis=2) if values.shape[2] == 1
                              else np.round(values * 255).astype(np.uint8))
    picture.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    return _frame(values, tuple(image_shape), invert, crop, notes), np.asarray(picture)


def _as_uint8(array) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    return np.round(np.clip(np.nan_to_num(array.astype(np.float32)), 0, 1) * 255).astype(np.uint8)


def upscale(array: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling: every pixel becomes a scale×scale block (browsers blur small images)."""
    return np.repeat(np.repeat(array, scale, axis=0), scale, axis=1) if scale > 1 else array


def to_png(array: np.ndarray, scale: int = 1, compress_level: int = 6) -> bytes:
    """uint8 (or float in [0, 1]) (H,W) / (H,W,1|3|4) -> PNG bytes, upscaled with nearest neighbour (crisp pixels).
    `compress_level` 0-9 (zlib's; 6 is PIL's default): 1 writes a 10k-image sheet in half the time, 8 % larger."""
    array = _as_uint8(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"to_png needs (H,W) or (H,W,1|3|4), got shape {array.shape}")
    array = upscale(array, scale)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def grid(arrays, ncols: int, pad: int = 2, pad_value: int = 40) -> np.ndarray:
    """Tile N same-sized images (N,H,W) / (N,H,W,C) or a list into one uint8 image, `pad` pixels around each."""
    stack = _as_uint8(np.stack([np.asarray(a) for a in arrays]) if isinstance(arrays, (list, tuple)) else arrays)
    if stack.ndim not in (3, 4) or len(stack) == 0:
        raise ValueError(f"grid needs a non-empty (N,H,W) or (N,H,W,C) stack, got shape {stack.shape}")
    count, height, width = stack.shape[:3]
    ncols = max(1, min(ncols, count))
    nrows = math.ceil(count / ncols)
    out = np.full((nrows * (height + pad) + pad, ncols * (width + pad) + pad) + stack.shape[3:], pad_value, np.uint8)
    for index, image in enumerate(stack):
        top, left = pad + (index // ncols) * (height + pad), pad + (index % ncols) * (width + pad)
        out[top:top + height, left:left + width] = image
    return out
