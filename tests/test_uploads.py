"""uploads.py: per-picture overrides, encode + score + place (batch-independent), typicality, exports."""
import csv
import io
import zipfile

import numpy as np
import pytest
from PIL import Image, ImageDraw

from vae_core import data, encode, metrics
from vae_core.models.torch_vae import checkpoint
from vae_core.map import encodings
from vae_core.data import uploads
from vae_core.map.placement import Placer
from vae_core.map.projection import ProjectionSpec, fit_projection


@pytest.fixture(scope="module")
def world(tiny_models_dir):
    loaded = checkpoint.load_checkpoint(tiny_models_dir / "digits-tiny")
    dataset = data.load_dataset("digits")
    encoded = encodings.encode_split(loaded, dataset, "test")
    placer = Placer(encoded.mu, fit_projection(encoded.mu, ProjectionSpec(method="pca")))
    return loaded, dataset, encoded, placer


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def drawn_ring() -> bytes:
    """A dark ring on white paper, like a photographed pen drawing."""
    picture = Image.new("L", (90, 120), 255)
    ImageDraw.Draw(picture).ellipse((15, 15, 75, 105), outline=0, width=10)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def test_one_image_alone_or_in_a_batch_of_50_gets_the_same_numbers_and_place(world):
    loaded, dataset, encoded, placer = world
    files = [(f"d{i}.png", png_bytes(dataset.train_images[i])) for i in range(50)]
    batch = encode.encode_uploads(loaded, uploads.read_uploads(files, loaded.config.image_shape), encoded, placer)
    alone = encode.encode_uploads(loaded, uploads.read_uploads(files[17:18], loaded.config.image_shape),
                                   encoded, placer)[0]
    inside = batch[17]
    assert inside.name == alone.name == "d17.png"
    assert np.abs(inside.xy - alone.xy).max() <= 1e-6
    np.testing.assert_array_equal(inside.mu, alone.mu)
    assert inside.elbo == alone.elbo and inside.percentile == alone.percentile
    np.testing.assert_array_equal(inside.neighbours, alone.neighbours)
    # and the places differ between different pictures (the placement is not degenerate)
    assert len({tuple(np.round(u.xy, 4)) for u in batch}) > 40


def test_noise_is_atypical_and_training_images_are_not(world):
    loaded, dataset, encoded, placer = world
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    train = dataset.train_images[:20]
    results = encode.encode_uploads(loaded, list(noise) + list(train), encoded, placer)
    noise_pct = [r.percentile for r in results[:3]]
    train_pct = [r.percentile for r in results[3:]]
    assert max(noise_pct) < 1.0, noise_pct
    assert np.median(train_pct) > 20, train_pct
    assert min(r.elbo for r in results[3:]) > max(r.elbo for r in results[:3])
    # percentile is exactly metrics.percentile_of against the split's ELBOs
    assert results[5].percentile == pytest.approx(float(metrics.percentile_of(results[5].elbo, encoded.elbo)))


def test_output_shapes_and_meaning(world):
    loaded, dataset, encoded, placer = world
    dims = loaded.config.latent_dim
    up = encode.encode_uploads(loaded, [dataset.test_images[3]], encoded, placer)[0]
    assert up.mu.shape == up.logvar.shape == up.sigma.shape == (dims,) and up.mu.dtype == np.float32
    assert up.reconstruction.shape == up.input.shape == (28, 28) and up.reconstruction.dtype == np.uint8
    assert up.xy.shape == (2,) and up.neighbours.shape == up.distances.shape == (8,)
    assert np.all(np.diff(up.distances) >= 0)
    # a test image is its own nearest neighbour on the test split's map, and sits on its own map point
    assert up.neighbours[0] == 3 and up.distances[0] < 1e-5
    np.testing.assert_allclose(up.mu, encoded.mu[3], atol=1e-5)
    # its own single-sample estimate (one z drawn for it alone): near the reconstruction at μ, not equal to it
    assert up.recon == pytest.approx(float(encoded.recon[3]), abs=60)
    assert up.kl == pytest.approx(float(encoded.kl[3]), rel=1e-4)
    assert up.elbo == pytest.approx(-(up.recon + up.kl), abs=1e-9)  # one estimate: its parts add up


def test_overrides_change_only_the_named_picture_also_inside_a_zip(world):
    ring = drawn_ring()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("inner/ring.png", ring)
    files = [("ring.png", ring), ("ring.png", ring), ("set.zip", archive.getvalue())]
    auto = uploads.read_uploads(files, (1, 28, 28))
    assert [r.name for r in auto] == ["ring.png", "ring.png (2)", "set.zip/inner/ring.png"]
    assert all(r.input.inverted and r.input.cropped for r in auto)
    changed = uploads.read_uploads(files, (1, 28, 28), {"ring.png (2)": (False, False),
                                                         "set.zip/inner/ring.png": (None, False)})
    np.testing.assert_array_equal(changed[0].input.array, auto[0].input.array)
    assert not changed[1].input.inverted and not changed[1].input.cropped
    assert changed[1].input.array.mean() > 128  # not inverted: the white paper stays white
    assert changed[2].input.inverted and not changed[2].input.cropped
    assert not np.array_equal(changed[2].input.array, auto[2].input.array)
    np.testing.assert_array_equal(changed[1].original, auto[1].original)
    # overriding with what "auto" chose anyway gives exactly the automatic input (one preprocessing, two paths)
    same = uploads.read_uploads(files, (1, 28, 28), {"ring.png": (True, True),
                                                      "set.zip/inner/ring.png": (True, True)})
    np.testing.assert_array_equal(same[0].input.array, auto[0].input.array)
    # the thumbnail of the picture itself is unchanged
    np.testing.assert_array_equal(same[2].input.array, auto[2].input.array)


def test_bad_files_are_skipped_good_ones_encoded(world):
    loaded, _, encoded, placer = world
    read = uploads.read_uploads([("empty.png", b""), ("ring.png", drawn_ring()), ("page.png", b"<html></html>")],
                                loaded.config.image_shape)
    assert [r.error is None for r in read] == [False, True, False]
    done = encode.encode_uploads(loaded, read, encoded, placer)
    assert [u.name for u in done] == ["ring.png"]


def test_csv_and_contact_sheet(world):
    loaded, dataset, encoded, placer = world
    files = [(f"pic,{i}.png", png_bytes(dataset.test_images[i])) for i in range(18)]
    done = encode.encode_uploads(loaded, uploads.read_uploads(files, loaded.config.image_shape), encoded, placer)
    rows = list(csv.reader(io.StringIO(encode.to_csv(done).decode())))
    dims = loaded.config.latent_dim
    assert rows[0][:2] == ["file", "mu_0"] and rows[0][-6:] == ["map_x", "map_y", "elbo", "recon", "kl", "percentile"]
    assert len(rows) == 19 and all(len(r) == 1 + 2 * dims + 6 for r in rows)
    assert rows[1][0] == "pic,0.png"  # a comma in a name is quoted, not a new column
    np.testing.assert_allclose([float(v) for v in rows[5][1:1 + dims]], done[4].mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([float(v) for v in rows[5][1 + dims:1 + 2 * dims]], done[4].sigma, rtol=1e-5)
    assert float(rows[5][-4]) == pytest.approx(done[4].elbo, rel=1e-5)
    sheet = encode.contact_sheet(done, per_row=16)
    assert sheet.shape == (2 * 3 * 30 + 2, 16 * 30 + 2)  # two blocks of three rows of 28+2 px tiles
    top_left = sheet[2:30, 2:30]
    np.testing.assert_array_equal(sheet[32:60, 2:30], done[0].input)
    np.testing.assert_array_equal(sheet[62:90, 2:30], done[0].reconstruction)
    assert top_left.shape == (28, 28) and top_left.max() > 0
    fitted = encode.fit_to(np.full((10, 40), 255, np.uint8), done[0].input)  # a wide white picture
    assert fitted.shape == (28, 28) and fitted[0].max() == 0 and fitted[14].min() == 255  # letterboxed, not stretched
