"""images.py: safe decoding, the one preprocessing function, zip limits, PNG/grid output.

Every file is generated here; nothing is read from disk or the network.
"""
import io
import struct
import tempfile
import time
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from vae_core import images as imgs
from vae_core import zips
from vae_core.errors import ImageError
from vae_core.images import decode_image, grid, preprocess, to_png
from vae_core.data.uploads import load_uploads
from vae_core.zips import UploadLimits


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def shape_on(background: int, ink: int, size=(60, 60), box=(15, 10, 45, 50)) -> Image.Image:
    picture = Image.new("L", size, background)
    ImageDraw.Draw(picture).rectangle(box, fill=ink)
    return picture


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)  # ZipInfo keeps "../" and "/" names verbatim
    return buffer.getvalue()


def raw_deflate_zip(name: str, body: bytes, crc: int, declared_size: int) -> bytes:
    """A one-member zip around an already-deflated body, with whatever uncompressed size we choose to declare."""
    encoded = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(body), declared_size,
                        len(encoded), 0) + encoded + body
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(body), declared_size,
                          len(encoded), 0, 0, 0, 0, 0, 0) + encoded
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local), 0)
    return local + central + end


def deflated_zeros(megabytes: int) -> tuple[bytes, int]:
    """Deflate stream of `megabytes` MiB of zeros, built from one full-flushed block (fast), and its CRC."""
    block = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(megabytes):
        crc = zlib.crc32(block, crc)
    return piece * megabytes + compressor.flush(), crc


GOOD_PNG = encode(shape_on(255, 0))


# ---------------------------------------------------------------- decode_image: refusals with clear messages
def test_zero_byte_file_is_refused_by_name():
    with pytest.raises(ImageError, match=r"empty\.png is empty \(0 bytes\)"):
        decode_image(b"", "empty.png")


def test_html_renamed_png_is_explained_as_text():
    with pytest.raises(ImageError, match=r"page\.png contains text or HTML"):
        decode_image(b"<!DOCTYPE html><html><body>Not found</body></html>", "page.png")


def test_unknown_binary_is_refused():
    with pytest.raises(ImageError, match=r"blob\.dat is not a picture format.*PNG, JPEG"):
        decode_image(bytes(range(256)) * 4, "blob.dat")


@pytest.mark.parametrize("fmt,name", [("PNG", "cut.png"), ("JPEG", "cut.jpg")])
def test_truncated_files_fail_at_decode(fmt, name):
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = encode(noise, fmt)
    with pytest.raises(ImageError, match=rf"{name.replace('.', '[.]')} is damaged or truncated"):
        decode_image(data[: len(data) // 2], name)


def test_decompression_bomb_is_refused_fast_without_decoding():
    # A real 30000x30000 grey PNG of zeros (900 megapixels) that compresses to ~100 kB.
    width = height = 30000
    compressor = zlib.compressobj(9)
    rows = compressor.compress(bytes(1 + width) * 1000) + compressor.flush(zlib.Z_FULL_FLUSH)
    idat = rows * (height // 1000) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) \
        + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    assert len(bomb) < 2_000_000
    start = time.perf_counter()
    with pytest.raises(ImageError, match=r"bomb\.png has too many pixels"):
        decode_image(bomb, "bomb.png")
    assert time.perf_counter() - start < 0.5


def test_pixel_limit_between_warning_and_error_is_still_refused():
    # Pillow only *warns* between 1x and 2x MAX_IMAGE_PIXELS; we refuse there too.
    before = Image.MAX_IMAGE_PIXELS
    data = encode(Image.new("L", (40, 40)))  # 1600 pixels against a limit of 1000
    with pytest.raises(ImageError, match="too many pixels"):
        decode_image(data, "big.png", max_pixels=1000)
    assert decode_image(data, "big.png", max_pixels=1600)[0].size == (40, 40)
    assert before == Image.MAX_IMAGE_PIXELS  # the custom limit did not leak into Pillow's global guard


# ---------------------------------------------------------------- decode_image: odd but valid files
def test_jpeg_named_png_is_decoded_by_content_with_a_note():
    picture, notes = decode_image(encode(shape_on(0, 255), "JPEG"), "photo.png")
    assert picture.format == "JPEG" and picture.size == (60, 60)
    assert any("really a JPEG" in note for note in notes)


def test_animated_gif_uses_first_frame_and_says_so():
    frames = [Image.new("L", (32, 32), 0) for _ in range(3)]
    ImageDraw.Draw(frames[0]).rectangle((2, 2, 9, 9), fill=255)  # only frame 0 has this square
    frames[1].paste(255, (0, 0, 32, 32))
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    picture, notes = decode_image(data, "anim.gif")
    grey = np.asarray(picture.convert("L"))
    assert grey[5, 5] == 255 and grey[20, 20] == 0
    assert "animated GIF: used the first of 3 frames" in notes


def test_exif_rotation_is_applied():
    wide = Image.new("L", (40, 20))
    exif = wide.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    picture, notes = decode_image(encode(wide, "JPEG", exif=exif.tobytes()), "phone.jpg")
    assert picture.size == (20, 40)
    assert any("EXIF" in note for note in notes)


# ---------------------------------------------------------------- preprocess: modes and shapes
def test_16bit_gradient_stays_a_gradient():
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (64, 1))
    picture, _ = decode_image(encode(Image.fromarray(ramp)), "ramp16.png")
    assert picture.mode.startswith("I")
    result = preprocess(picture, invert=False, crop=False)
    row = result.array[14].astype(int)
    assert np.all(np.diff(row) >= 0)
    assert row[0] < 10 and row[-1] > 245 and len(np.unique(row)) > 20
    assert "16-bit grey scaled to 8-bit" in result.notes


def test_cmyk_jpeg_converts_to_the_right_greys():
    cmyk = Image.new("CMYK", (64, 64), (0, 0, 0, 0))            # white paper
    cmyk.paste((0, 0, 0, 255), (0, 0, 32, 64))                 # left half: black ink
    picture, _ = decode_image(encode(cmyk, "JPEG", quality=95), "print.jpg")
    assert picture.mode == "CMYK"
    grey = preprocess(picture, invert=False, crop=False).array
    assert grey[14, 2:10].max() < 30 and grey[14, 18:26].min() > 225


def test_palette_png_with_transparency_is_flattened_and_inverted():
    # Black disc on a transparent background whose palette colour is *also* black:
    # ignoring transparency would give an all-black picture.
    picture = Image.new("P", (50, 50), 0)
    picture.putpalette([0, 0, 0, 0, 0, 0] + [0] * 762)
    ImageDraw.Draw(picture).ellipse((10, 10, 40, 40), fill=1)
    decoded, _ = decode_image(encode(picture, transparency=0), "logo.png")
    result = preprocess(decoded)
    assert any("flattened onto white" in note for note in result.notes)
    assert result.inverted
    assert result.array[14, 14] > 200 and result.array[0, 0] == 0


@pytest.mark.parametrize("size", [(1, 1), (5000, 3), (3, 5000)])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_extreme_sizes_give_the_target_shape(size, shape):
    picture = Image.new("L", size, 0)
    if size != (1, 1):
        picture.paste(255, (1, 1, size[0] - 1, size[1] - 1))  # a thin bright line inside a dark border
    result = preprocess(picture, shape)
    expected = shape[1:] if shape[0] == 1 else shape[1:] + (3,)
    assert result.array.shape == expected and result.array.dtype == np.uint8


def test_thin_line_is_centred_and_scaled_to_the_box():
    picture = Image.new("L", (5000, 3), 0)
    picture.paste(255, (1, 1, 4999, 2))
    array = preprocess(picture).array
    rows, cols = np.nonzero(array > 100)
    assert set(rows) <= {13, 14} and cols.min() == 4 and cols.max() == 23


def test_polarity_dark_on_light_is_inverted():
    result = preprocess(shape_on(255, 0))
    assert result.inverted
    assert result.array[14, 14] == 255 and result.array[0, 0] == 0


def test_polarity_light_on_dark_is_kept():
    result = preprocess(shape_on(0, 255))
    assert not result.inverted
    assert result.array[14, 14] == 255 and result.array[0, 0] == 0


def test_small_object_in_a_corner_is_centred_and_fills_20_of_28():
    canvas = shape_on(0, 255, size=(400, 300), box=(360, 250, 389, 289))  # 30x40 object near the corner
    result = preprocess(canvas)
    assert result.cropped
    rows, cols = np.nonzero(result.array > 128)
    assert rows.min() == 4 and rows.max() == 23                     # height 40 -> 20 px, centred
    assert 6 <= cols.min() <= 8 and 19 <= cols.max() <= 21           # width 30 -> 15 px, centred
    assert abs((cols.min() + cols.max()) / 2 - 13.5) <= 1


def test_crop_off_keeps_the_whole_picture():
    canvas = shape_on(0, 255, size=(280, 280), box=(0, 0, 139, 139))  # top-left quarter
    array = preprocess(canvas, crop=False).array
    assert array[:14, :14].min() > 200 and array[15:, 15:].max() < 30


def test_colour_target_keeps_colour():
    picture = Image.new("RGB", (40, 40), (0, 0, 0))
    picture.paste((255, 0, 0), (10, 10, 30, 30))
    array = preprocess(picture, (3, 32, 32)).array
    assert array.shape == (32, 32, 3)
    centre = array[16, 16]
    assert centre[0] > 240 and centre[1] < 15 and centre[2] < 15


# ---------------------------------------------------------------- the background step
def on_table(level: float, ink: float, texture: float = 0.0, size=(120, 100), seed: int = 0) -> Image.Image:
    """A 40x60 rectangle of `ink` on a `level` background with Gaussian texture of σ `texture` (all 0-1)."""
    rng = np.random.default_rng(seed)
    values = level + texture * rng.normal(0, 1, (size[1], size[0]))
    values[20:80, 40:80] = ink + texture * rng.normal(0, 1, (60, 40))
    return Image.fromarray(np.clip(np.round(values * 255), 0, 255).astype(np.uint8))


def border_of(array: np.ndarray) -> np.ndarray:
    return np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]])


@pytest.mark.parametrize("background, ink", [(0, 255), (255, 0)])
def test_plain_black_or_white_backgrounds_skip_the_background_step(background, ink):
    result = preprocess(shape_on(background, ink))
    assert not result.background_removed and "background" not in [step for step, _ in result.steps]
    np.testing.assert_array_equal(result.array, preprocess(shape_on(background, ink), background=False).array)


@pytest.mark.parametrize("ink", [0.1, 0.85])  # a darker and a lighter object
def test_a_mid_grey_background_is_removed_leaving_the_object_light_on_black(ink):
    result = preprocess(on_table(0.5, ink))
    assert result.background_removed and not result.inverted
    assert border_of(result.array).max() == 0 and result.array[14, 14] > 240
    side = "darker" if ink < 0.5 else "lighter"
    assert any(n.startswith("background removed: mid-grey (50% grey)") and side in n for n in result.notes)
    kept = preprocess(on_table(0.5, ink), background=False)  # the switch off: today's input, a grey border
    assert 120 <= border_of(kept.array).mean() <= 135 and not kept.background_removed


def test_a_textured_light_background_is_removed_not_just_inverted():
    picture = on_table(0.85, 0.2, texture=0.08)
    result = preprocess(picture)
    assert result.background_removed and "textured" in result.notes[0]
    assert border_of(result.array).mean() < 5 and result.array[10:18, 10:18].mean() > 150  # noisy ink, still light
    inverted = preprocess(picture, background=False)  # what Auto did before: inverted, a grey background
    assert inverted.inverted and border_of(inverted.array).mean() > 30  # measured 36


def test_forcing_the_background_step_on_a_plain_picture_and_steps_in_order():
    result = preprocess(shape_on(255, 0, size=(90, 70)), background=True)  # dark ink on white paper, "Remove"
    assert result.background_removed and not result.inverted  # removed already leaves it light on black
    assert [step for step, _ in result.steps] == ["background", "cropped"]
    assert result.array[14, 14] == 255 and result.array[0, 0] == 0
    auto = preprocess(shape_on(255, 0, size=(90, 70)))
    assert [step for step, _ in auto.steps] == ["inverted", "cropped"]
    inverted_picture = dict(auto.steps)["inverted"]
    assert inverted_picture.shape == (70, 90) and inverted_picture[0, 0] == 0 and inverted_picture[35, 45] == 255
    assert max(dict(auto.steps)["cropped"].shape) <= 96


def test_a_colour_model_keeps_a_grey_background_unless_asked_and_keeps_colours():
    picture = Image.new("RGB", (100, 80), (128, 128, 128))
    picture.paste((220, 30, 30), (30, 20, 70, 60))  # a red square on a grey table
    kept = preprocess(picture, (3, 32, 32), invert=False)
    assert not kept.background_removed and any("background kept" in n for n in kept.notes)
    assert tuple(kept.array[0, 0]) == (128, 128, 128)
    removed = preprocess(picture, (3, 32, 32), invert=False, background=True)
    assert removed.background_removed and tuple(removed.array[0, 0]) == (0, 0, 0)
    red = removed.array[16, 16].astype(int)
    assert red[0] > 200 and red[1] < 45 and red[2] < 45  # its own colour, not a grey difference


def test_no_object_or_a_frame_filling_picture_keeps_the_picture():
    grey = Image.new("L", (60, 60), 128)
    flat = preprocess(grey, crop=False)
    assert not flat.background_removed and any("no object stands out" in n for n in flat.notes)
    np.testing.assert_array_equal(flat.array, preprocess(grey, crop=False, background=False).array)
    halves = np.zeros((60, 60), np.uint8)
    halves[:, 30:] = 255  # half black, half white: no one background
    split = preprocess(Image.fromarray(halves), invert=False, crop=False)
    assert not split.background_removed and any("varies too much" in n for n in split.notes)
    np.testing.assert_array_equal(split.array, preprocess(Image.fromarray(halves), invert=False, crop=False,
                                                          background=False).array)


# ---------------------------------------------------------------- load_uploads and zips
def isolated_temp(tmp_path, monkeypatch):
    """Point every temp location and the cwd at empty folders, so we can prove nothing was written."""
    temp, cwd = tmp_path / "temp", tmp_path / "cwd"
    temp.mkdir()
    cwd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.chdir(cwd)
    return tmp_path


def all_files(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_zip_with_unsafe_paths_nested_zip_and_text(tmp_path, monkeypatch):
    root = isolated_temp(tmp_path, monkeypatch)
    archive = make_zip({"ok/good.png": GOOD_PNG, "../evil.png": GOOD_PNG, "/abs.png": GOOD_PNG,
                        "inner.zip": make_zip({"x.png": GOOD_PNG}), "disguised.png": make_zip({"y.png": GOOD_PNG}),
                        "notes.txt": b"hello", "__MACOSX/._good.png": b"junk", "folder/": b""})
    results = {r.name: r for r in load_uploads([("up.zip", archive)])}
    assert set(results) == {"up.zip/ok/good.png", "up.zip/../evil.png", "up.zip//abs.png", "up.zip/inner.zip",
                            "up.zip/disguised.png", "up.zip/notes.txt"}
    assert results["up.zip/ok/good.png"].error is None
    assert results["up.zip/ok/good.png"].input.array[14, 14] == 255
    for name in ("up.zip/../evil.png", "up.zip//abs.png"):
        assert "outside the archive" in results[name].error and results[name].input is None
    assert "zip inside a zip" in results["up.zip/inner.zip"].error
    assert "zip inside a zip" in results["up.zip/disguised.png"].error
    assert "not an image file (.txt)" in results["up.zip/notes.txt"].error
    assert all_files(root) == []
    assert not (root.parent / "evil.png").exists() and not (root / "evil.png").exists()


def test_zip_bomb_is_refused_by_declared_size_without_allocating():
    body, crc = deflated_zeros(300)
    archive = raw_deflate_zip("bomb.png", body, crc, 300 << 20)
    assert len(archive) < 1_000_000
    tracemalloc.start()
    start = time.perf_counter()
    results = load_uploads([("bomb.zip", archive)])
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(results) == 1 and "would unpack to 314.6 MB" in results[0].error
    assert elapsed < 1.0 and peak < 20_000_000


def test_zip_member_lying_about_its_size_is_refused_without_allocating():
    body, crc = deflated_zeros(50)
    archive = raw_deflate_zip("liar.png", body, crc, 1000)  # declares 1 kB, holds 50 MB
    tracemalloc.start()
    results = load_uploads([("liar.zip", archive)])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(results) == 1 and results[0].error and results[0].input is None
    assert peak < 20_000_000


def test_reading_stops_at_the_byte_cap():
    archive = zipfile.ZipFile(io.BytesIO(make_zip({"big.png": bytes(3_000_000)})))
    info = archive.getinfo("big.png")
    assert zips._read_capped(archive, info, 1_000_000) is None
    assert len(zips._read_capped(archive, info, 3_000_000)) == 3_000_000


def test_zip_total_size_and_member_count_caps():
    members = {f"d{i}.png": encode(shape_on(255, 0)) + bytes(500) for i in range(4)}  # trailing bytes are ignored
    size = len(next(iter(members.values())))
    results = load_uploads([("a.zip", make_zip(members))], limits=UploadLimits(max_zip_total_bytes=2 * size + 10))
    assert [r.error is None for r in results] == [True, True, False, False]
    assert "unpacks to more than" in results[2].error
    results = load_uploads([("a.zip", make_zip(members))], limits=UploadLimits(max_zip_members=2))
    assert len(results) == 3 and results[2].name == "a.zip" and "more than 2 files" in results[2].error


def test_more_files_than_the_limit_get_a_message():
    files = [(f"f{i}.png", GOOD_PNG) for i in range(5)]
    results = load_uploads(files, limits=UploadLimits(max_files=3))
    assert [r.error is None for r in results] == [True, True, True, False, False]
    assert "at most 3 images per upload" in results[4].error
    zipped = load_uploads([("z.zip", make_zip({f"m{i}.png": GOOD_PNG for i in range(5)}))],
                          limits=UploadLimits(max_files=3))
    assert len(zipped) == 4 and "the rest of z.zip" in zipped[3].error


def test_file_over_the_size_limit_gets_a_message():
    results = load_uploads([("huge.png", GOOD_PNG + bytes(5000))], limits=UploadLimits(max_file_bytes=1000))
    assert results[0].input is None and "huge.png is 0.0 MB, over the 0.0 MB per-file limit" in results[0].error


def test_mix_of_good_and_bad_files_keeps_the_good_ones():
    files = [("a.png", GOOD_PNG), ("empty.png", b""), ("page.png", b"<html></html>"),
             ("b.jpg", encode(shape_on(0, 255), "JPEG")), ("cut.png", GOOD_PNG[:60])]
    results = load_uploads(files)
    assert [r.name for r in results] == [name for name, _ in files]
    assert [r.error is None for r in results] == [True, False, False, True, False]
    for good in (results[0], results[3]):
        assert good.input.array.shape == (28, 28) and good.input.array[14, 14] > 200
        assert good.original.dtype == np.uint8 and max(good.original.shape[:2]) <= 256
    # The upload path uses exactly the same preprocessing as a direct call.
    direct = preprocess(decode_image(GOOD_PNG, "a.png")[0])
    assert np.array_equal(results[0].input.array, direct.array)


def test_big_photo_thumbnail_is_at_most_256():
    result = load_uploads([("big.png", encode(shape_on(255, 0, size=(1500, 900), box=(100, 100, 600, 800))))])[0]
    assert result.original.shape == (154, 256) and result.input.array[14, 14] == 255


# ---------------------------------------------------------------- PNG and grid
def test_to_png_nearest_upscale_round_trips():
    array = np.array([[0, 255], [128, 7]], np.uint8)
    back = np.asarray(Image.open(io.BytesIO(to_png(array, scale=3))))
    assert back.shape == (6, 6) and np.array_equal(back, np.repeat(np.repeat(array, 3, 0), 3, 1))
    rgb = np.asarray(Image.open(io.BytesIO(to_png(np.array([[[1.0, 0.5, 0.0]]], np.float32)))))
    assert rgb.tolist() == [[[255, 128, 0]]]


def test_grid_places_images_with_padding():
    stack = np.stack([np.full((3, 4), 10 * (i + 1), np.uint8) for i in range(5)])
    tiled = grid(stack, ncols=3, pad=1, pad_value=99)
    assert tiled.shape == (2 * 4 + 1, 3 * 5 + 1)
    assert tiled[0].tolist() == [99] * 16
    assert tiled[1, 1] == 10 and tiled[1, 6] == 20 and tiled[5, 1] == 40 and tiled[5, 6] == 50
    assert tiled[5, 11] == 99  # the empty sixth cell stays padding
    colour = grid([np.zeros((2, 2, 3), np.uint8)] * 2, ncols=4)
    assert colour.shape == (2 + 4, 2 * 2 + 6, 3)


# ---------------------------------------------------------------- properties: never anything but uint8 or ImageError
MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"RIFF\x00\x00\x00\x00WEBPVP8 ",
         b"II*\x00", b"MM\x00*", b""]
SEEDS = [encode(shape_on(255, 0, size=(20, 16)), fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")]
SHAPES = [(1, 28, 28), (3, 32, 32), (1, 16, 20)]


def expected_shape(shape):
    return shape[1:] if shape[0] == 1 else shape[1:] + (shape[0],)


def check_bytes(data: bytes, shape) -> None:
    try:
        picture, _ = decode_image(data, "fuzz.png")
    except ImageError:
        return
    array = preprocess(picture, shape).array
    assert array.dtype == np.uint8 and array.shape == expected_shape(shape)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MAGIC), st.binary(max_size=600), st.sampled_from(SHAPES))
def test_random_bytes_never_escape_as_other_errors(prefix, tail, shape):
    check_bytes(prefix + tail, shape)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
       st.integers(0, 10**6), st.sampled_from(SHAPES))
def test_mutated_valid_files_never_escape_as_other_errors(seed, flips, cut, shape):
    data = bytearray(seed)
    for position, value in flips:
        data[position % len(data)] = value
    check_bytes(bytes(data[: max(1, cut % (len(data) + 1))]), shape)


MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "I;16", "I", "F", "CMYK"]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(MODES), st.integers(1, 300), st.integers(1, 300), st.integers(0, 2**32 - 1),
       st.sampled_from(SHAPES), st.sampled_from([None, True, False]), st.booleans())
def test_random_images_of_every_mode_give_valid_inputs(mode, width, height, seed, shape, invert, crop):
    rng = np.random.default_rng(seed)
    size = len(Image.new(mode, (width, height)).tobytes())
    picture = Image.frombytes(mode, (width, height), rng.bytes(size))  # "F"/"I" include NaN, inf, negatives
    if mode == "P":
        picture.putpalette(list(rng.integers(0, 256, 768)))
        if rng.random() < 0.5:
            picture.info["transparency"] = int(rng.integers(0, 256))
    result = preprocess(picture, shape, invert=invert, crop=crop)
    assert result.array.dtype == np.uint8 and result.array.shape == expected_shape(shape)


def test_numbered_grid_labels_each_tile_and_leaves_the_pictures():
    """Generate's 8×8 samples are numbered (issue 22: "put sample 37 in the sliders" meant counting)."""
    samples = np.random.default_rng(0).integers(60, 200, (64, 28, 28), dtype=np.uint8)
    numbered, plain = imgs.numbered_grid(samples, ncols=8), imgs.upscale(imgs.grid(samples, ncols=8), 2)
    assert numbered.shape == plain.shape
    corners = []
    for index in range(64):
        top, left = (2 + (index // 8) * 30) * 2, (2 + (index % 8) * 30) * 2
        corner = numbered[top:top + 14, left:left + 20]
        assert (corner == 0).any() and (corner > 220).any(), index  # a dark box with light digits
        corners.append(corner.tobytes())
        # the picture outside the label's corner is untouched
        assert np.array_equal(numbered[top + 16:top + 56, left:left + 56], plain[top + 16:top + 56, left:left + 56])
    assert len(set(corners)) == 64  # 64 different labels
