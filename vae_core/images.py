"""Any picture -> model input, safely; and model output -> PNG.

`decode_image` turns untrusted bytes into a Pillow image or raises ImageError (never anything else);
`preprocess` is the ONE function that turns any picture into what the model receives, so uploads,
folder datasets and the CLI all see identical inputs. Zips are read in memory by zips.py, with hard limits.

The steps, each switchable (`Preparation`): a mid-grey or textured background removed (the object left light on
black), inverted (a light plain background), cropped to the object and centred, resized to the model's size.
"""
import io
import math
import warnings
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import NamedTuple

import numpy as np
from PIL import ExifTags, Image, ImageOps

from .errors import ImageError
from .zips import EXTENSION_FORMATS, UploadLimits

# Only these decoders ever see user bytes (fewer parsers to attack); "JPEG" also opens phones' MPO files.
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
OBJECT_FRACTION = 20 / 28   # MNIST puts the digit's bounding box in a 20x20 box inside 28x28
WORKING_MAX_PIXELS = 2_000_000  # shrink huge photos before float maths (by area, so thin lines survive)
THUMBNAIL_SIDE = 256
STEP_SIDE = 96              # the steps' pictures are display only: small, so 200 kept uploads stay a few MB

# The background, estimated from a ring of border pixels. The datasets are light objects on plain black, and a
# plain light border (paper, a scan) is handled by inverting; anything between, or textured (a table, a floor
# photographed), is removed instead: inverting a mid-grey leaves it mid-grey, which the model redraws as noise.
BORDER_RING = 0.04          # ring width, as a fraction of the shorter side
PLAIN_DARK, PLAIN_LIGHT = 0.2, 0.8  # border luminance medians the plain handling (keep / invert) is for
PLAIN_SPREAD = 0.04         # robust σ of the border around its lighting gradient (~10 grey levels): above, textured
# The border is no one background when its pixels stray from the lighting plane by more than this (RMS; ~41 grey
# levels): the picture fills its frame, and there is nothing to estimate. Measured: a textured table 0.06, heavily
# textured 0.11, an object cut by the frame along 1/8 of the border 0.14; half black, half white 0.20, noise 0.29.
BUSY_RMS = 0.16
# A pixel is object where the (blurred) picture differs from the background by more than 3σ of the border's own
# variation. Measured on 30 Fashion-MNIST items photographed dark on a textured grey (tests/test_uploads.py's
# `photographed`), mean |shipped model's reconstruction − the clean item's| in grey levels: 12.7 at 2σ (texture
# let through), 9.1 at 2.5σ and 3σ, 10.5 at 3.5σ, 11.7 at 4σ (the object's mid-tones lost); 93.7 with no removal.
BACKGROUND_SIGMAS = 3.0
BLUR_FRACTION = 1 / 100     # box-blur radius for that test: averages pixel noise (9.2-9.4 from 1/200 to 1/50)
STANDS_OUT = 1.2            # an object's strongest (blurred) pixel is this many thresholds away, or there is none
MIN_CONTRAST = 0.02         # a threshold never below 2 % of the range, even on a perfectly flat background
MIN_BACKGROUND_SIDE = 8     # a smaller picture is all border: there is no background to estimate
RING_SAMPLES = 20_000       # border pixels the lighting plane is fitted on (a 2-megapixel photo's ring is ~300k)


class Preparation(NamedTuple):
    """The switches of the steps from a picture to a model input. None: decided from the picture itself."""
    background: bool | None = None  # remove a mid-grey or textured background (None: when there is one, grey models)
    invert: bool | None = None      # None: when the border is light (the datasets are light objects on black)
    crop: bool = True               # crop to the object and centre it (False: the whole picture, scaled to fit)


AUTO = Preparation()  # every upload's settings until the user switches one: the one place the defaults live


@dataclass
class Preprocessed:
    array: np.ndarray  # uint8 (H,W) or (H,W,C): exactly what the model receives
    inverted: bool = False
    cropped: bool = False
    notes: list[str] = field(default_factory=list)
    background_removed: bool = False
    # the picture after each step that changed it, in order: ("background" | "inverted" | "cropped", uint8 image
    # <= STEP_SIDE px); the original and the model input are the strip's two ends, kept elsewhere
    steps: list[tuple[str, np.ndarray]] = field(default_factory=list)


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


def _step_picture(values: np.ndarray) -> np.ndarray:
    """A step's picture for display: uint8, at most STEP_SIDE px a side (aspect kept)."""
    array = np.round(np.clip(values, 0, 1) * 255).astype(np.uint8)
    picture = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
    picture.thumbnail((STEP_SIDE, STEP_SIDE), Image.Resampling.BOX)
    return np.asarray(picture)


def _box_blur(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)² square (edges repeated), by cumulative sums: linear time whatever the radius."""
    if radius < 1:
        return values
    size = 2 * radius + 1
    padded = np.pad(values.astype(np.float64), radius, mode="edge")
    sums = np.cumsum(np.pad(padded, ((1, 0), (0, 0))), axis=0)
    padded = (sums[size:] - sums[:-size]) / size
    sums = np.cumsum(np.pad(padded, ((0, 0), (1, 0))), axis=1)
    return ((sums[:, size:] - sums[:, :-size]) / size).astype(np.float32)


def _robust_sigma(values: np.ndarray, centre: float) -> float:
    return 1.4826 * float(np.median(np.abs(values - centre)))  # the MAD, scaled to σ for normal noise


@dataclass
class _Background:
    """What the border says about the background: its level, texture, and lighting gradient."""
    level: float          # median luminance of the border, 0-1
    spread: float         # robust σ of the border's luminance around its lighting plane
    rms: float            # root mean square of the same: large when the border is no one background
    ring: np.ndarray      # bool (H, W): the border ring it was estimated from
    sample: np.ndarray    # flat indices of the ring pixels the planes are fitted on (at most ~RING_SAMPLES)

    @property
    def plain(self) -> bool:
        """Near-black or near-white and plain: the datasets' kind of background, kept or inverted as it is."""
        return self.spread <= PLAIN_SPREAD and not PLAIN_DARK < self.level < PLAIN_LIGHT

    def describe(self) -> str:
        tone = "mid-grey" if PLAIN_DARK < self.level < PLAIN_LIGHT else "dark" if self.level <= PLAIN_DARK \
            else "light"
        return f"{tone} ({self.level:.0%} grey{', textured' if self.spread > PLAIN_SPREAD else ''})"

    def fit(self, channel: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A plane a + b·x + c·y fitted to the ring (a photo's lighting is uneven), refitted without the ring pixels
        3σ off it (an object touching the edge is not background): (a, b, c), the ring sample's residuals, and
        which of them are background (the inliers)."""
        height, width = channel.shape
        ys, xs = np.divmod(self.sample, width)
        design = np.stack([np.ones(len(xs)), xs / width - 0.5, ys / height - 0.5], axis=1)
        target = channel.ravel()[self.sample].astype(np.float64)
        centre = float(np.median(target))  # a robust start: a plain least-squares fit leans towards the object
        keep = np.abs(target - centre) <= 3 * _robust_sigma(target, centre) + 1e-6
        for _ in range(3):
            coefficients = np.linalg.lstsq(design[keep], target[keep], rcond=None)[0]
            residual = target - design @ coefficients
            keep = np.abs(residual) <= 3 * _robust_sigma(residual[keep], 0.0) + 1e-6
            if keep.sum() < 3:
                break
        return coefficients, residual, keep

    def plane(self, channel: np.ndarray) -> np.ndarray:
        """The background under every pixel of `channel` (H, W)."""
        (a, b, c), _, _ = self.fit(channel)
        height, width = channel.shape
        xs = (np.arange(width, dtype=np.float32) / width - 0.5)[None, :]
        ys = (np.arange(height, dtype=np.float32) / height - 0.5)[:, None]
        return (a + b * xs + c * ys).astype(np.float32)


def _estimate_background(values: np.ndarray) -> _Background | None:
    height, width = values.shape[:2]
    if min(height, width) < MIN_BACKGROUND_SIDE:
        return None
    ring = np.zeros((height, width), bool)
    side = max(1, round(min(height, width) * BORDER_RING))
    ring[:side], ring[-side:], ring[:, :side], ring[:, -side:] = True, True, True, True
    indices = np.flatnonzero(ring)
    estimate = _Background(0.0, 0.0, 0.0, ring, indices[::max(1, len(indices) // RING_SAMPLES)])
    grey = _luminance(values)
    _, residual, inliers = estimate.fit(grey)
    # Level and texture from the background's own pixels (the fit's inliers), the RMS from all: an object touching
    # the edge must not make a plain black border look grey or textured. Without this and fit's robust start, 41 of
    # Fashion-MNIST's first 2,000 test images, uploaded as they are, had their background "removed"; now none has.
    own = inliers if inliers.sum() >= 3 else np.ones_like(inliers)
    estimate.level = float(np.median(grey.ravel()[estimate.sample][own]))
    estimate.spread = _robust_sigma(residual[own], float(np.median(residual[own])))
    estimate.rms = float(np.sqrt(np.mean(residual ** 2)))
    return estimate


def _remove_background(values: np.ndarray, background: _Background) -> tuple[np.ndarray, str] | None:
    """The object alone on black, or None when nothing stands out from the background's own variation.

    Grey: the signed difference from the background, on the side (darker or lighter) that holds more of the
    object, scaled so the object's strongest pixel is white: a dark garment on a grey table becomes a light garment
    on black, as the datasets draw it. Colour: the object keeps its colours, the background turns black.
    """
    height, width = values.shape[:2]
    colour = values.shape[2] == 3
    if colour:  # how far each pixel's colour is from the background's, whichever way
        planes = np.stack([background.plane(values[..., c]) for c in range(3)], axis=2)
        signal = np.sqrt(((values - planes) ** 2).mean(axis=2))
    else:
        signal = values[..., 0] - background.plane(values[..., 0])
    smooth = _box_blur(signal, max(1, round(min(height, width) * BLUR_FRACTION)))
    ring = smooth[background.ring]
    centre = float(np.median(ring))
    threshold = max(abs(centre) + BACKGROUND_SIGMAS * _robust_sigma(ring, centre), MIN_CONTRAST)
    side = "different"
    if not colour:
        darker = np.clip(-smooth - threshold, 0, None).sum() >= np.clip(smooth - threshold, 0, None).sum()
        signal, smooth, side = (-signal, -smooth, "darker") if darker else (signal, smooth, "lighter")
    peak = float(smooth.max())
    if not peak > STANDS_OUT * threshold:
        return None
    # a soft edge from 1 to 2 thresholds (less when the object is faint): no hard outline around the object
    mask = np.clip((smooth - threshold) / min(threshold, (peak - threshold) / 2), 0, 1)[..., None]
    if colour:
        return (values * mask).astype(np.float32), side
    # white is the object's own brightest (99.5th percentile inside it, not the blurred peak, which would wash out
    # every mid-tone above it); the dataset's items reach white too
    white = float(np.percentile(signal[mask[..., 0] >= 1], 99.5)) if (mask >= 1).any() else peak
    return (np.clip(signal[..., None] / max(white, MIN_CONTRAST), 0, 1) * mask).astype(np.float32), side


def _background_step(values: np.ndarray, wanted: bool | None, steps: list,
                     notes: list[str]) -> tuple[np.ndarray, bool]:
    """Remove the background when asked, or (None) when it is mid-grey or textured on a grey model's picture.
    Returns (values, whether it was removed); says what it did or why not in `notes`."""
    if wanted is False:
        return values, False
    background = _estimate_background(values)
    if background is None or (wanted is None and background.plain):
        return values, False
    if background.rms > BUSY_RMS:
        notes.append("the border varies too much to be one background (the picture fills its frame): "
                     "no background removed")
        return values, False
    colour = values.shape[2] == 3
    if wanted is None and colour:
        notes.append(f"{background.describe()} background kept: a colour model sees a picture's colours as they "
                     "are")
        return values, False
    removed = _remove_background(values, background)
    if removed is None:
        notes.append(f"{background.describe()} background estimated from the border, but no object stands out "
                     "from it: kept as it is")
        return values, False
    values, side = removed
    what = "the object keeps its colours, on black" if colour else f"the object ({side}) is now light on black"
    notes.append(f"background removed: {background.describe()}, estimated from the border pixels; {what}")
    steps.append(("background", _step_picture(values)))
    return values, True


def _frame(values: np.ndarray, image_shape, invert: bool | None, crop: bool, notes: list[str],
           background: bool | None = AUTO.background) -> Preprocessed:
    """float (H, W, 1|3) -> dataset-like uint8: background removed, light object on dark, cropped, centred, sized."""
    channels, height, width = image_shape
    if channels == 1 and values.shape[2] == 3:
        values = _luminance(values)[..., None]
    elif channels == 3 and values.shape[2] == 1:
        values = np.repeat(values, 3, axis=2)
    steps: list[tuple[str, np.ndarray]] = []
    values, removed = _background_step(values, background, steps, notes)
    border = np.concatenate([values[0], values[-1], values[:, 0], values[:, -1]])
    background_colour = np.median(border, axis=0)
    if invert is None:
        invert = float(_luminance(background_colour[None])[0]) > 0.5  # the datasets are light objects on black
        if invert:
            notes.append("inverted: light background, the model expects a light object on black")
    if invert:
        values, background_colour = 1 - values, 1 - background_colour
        steps.append(("inverted", _step_picture(values)))
    box_h, box_w = height, width
    cropped = False
    if crop:
        difference = np.abs(values - background_colour).max(axis=2)
        if difference.max() > 0.1:
            mask = difference > max(0.1, 0.25 * float(difference.max()))  # ignore JPEG noise and paper grain
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            values = values[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
            box_h, box_w = max(1, round(height * OBJECT_FRACTION)), max(1, round(width * OBJECT_FRACTION))
            cropped = True
            steps.append(("cropped", _step_picture(values)))
        else:
            notes.append("no object stands out from the background: used the whole picture")
    scale = min(box_h / values.shape[0], box_w / values.shape[1])
    new_h = min(box_h, max(1, round(values.shape[0] * scale)))
    new_w = min(box_w, max(1, round(values.shape[1] * scale)))
    canvas = np.empty((height, width, channels), np.float32)
    canvas[:] = background_colour
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = _resize_float(values, (new_w, new_h))
    array = np.round(canvas * 255).astype(np.uint8)
    return Preprocessed(array[..., 0] if channels == 1 else array, bool(invert), cropped, notes, removed, steps)


def preprocess(image: Image.Image, image_shape=(1, 28, 28), invert: bool | None = AUTO.invert,
               crop: bool = AUTO.crop, background: bool | None = AUTO.background) -> Preprocessed:
    """Any Pillow image -> exactly what the model receives (uint8, target shape). None: decided from the border."""
    notes: list[str] = []
    try:
        values = _working_array(image, notes)
    except Exception as err:  # an exotic mode Pillow cannot convert
        raise ImageError(f"cannot convert a picture in mode {image.mode!r}: {err}. Save it as RGB PNG.") from err
    return _frame(values, tuple(image_shape), invert, crop, notes, background)


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


def preprocess_with_thumbnail(image: Image.Image, image_shape, invert: bool | None = AUTO.invert,
                              crop: bool = AUTO.crop, background: bool | None = AUTO.background
                              ) -> tuple[Preprocessed, np.ndarray]:
    """`preprocess`, plus a display thumbnail (<= THUMBNAIL_SIDE px, uint8) of the picture as it was read."""
    notes: list[str] = []
    values = _working_array(image, notes)
    picture = Image.fromarray(np.round(values * 255).astype(np.uint8).squeeze(axis=2) if values.shape[2] == 1
                              else np.round(values * 255).astype(np.uint8))
    picture.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    return _frame(values, tuple(image_shape), invert, crop, notes, background), np.asarray(picture)


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


def numbered_grid(images: np.ndarray, ncols: int, scale: int = 2, pad: int = 2) -> np.ndarray:
    """`grid` upscaled (nearest neighbour), each tile numbered from 1 in its top-left corner, row by row: a sample
    is then read by its number, not counted. Light digits on a dark box, readable on any picture."""
    from PIL import ImageDraw, ImageFont

    stack = np.asarray(images)
    up = upscale(grid(stack, ncols=ncols, pad=pad), scale)
    canvas = Image.fromarray(up)
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default(size=11)
    height, width = stack.shape[1:3]
    ncols = max(1, min(ncols, len(stack)))
    dark, light = (0, 255) if up.ndim == 2 else ((0, 0, 0), (255, 230, 80))
    for index in range(len(stack)):
        left = (pad + (index % ncols) * (width + pad)) * scale
        top = (pad + (index // ncols) * (height + pad)) * scale
        box = draw.textbbox((left + 2, top + 1), str(index + 1), font=font)
        draw.rectangle((left, top, box[2] + 1, box[3] + 1), fill=dark)
        draw.text((left + 2, top + 1), str(index + 1), fill=light, font=font)
    return np.asarray(canvas)
