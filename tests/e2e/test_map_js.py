"""The map's JavaScript helpers (points.js) against their Python originals, in Chromium, on random inputs."""
import base64
from pathlib import Path

import numpy as np
import pytest

from vae_core.map import points as map_points
from vae_core.map.placement import Placer

pytestmark = pytest.mark.e2e
POINTS_JS = Path(__file__).resolve().parents[2] / "ui" / "components" / "map" / "points.js"


@pytest.fixture
def js(page):
    page.set_content("<html><body></body></html>")
    page.add_script_tag(path=str(POINTS_JS))
    return page


def test_binary_buffer_reads_the_same_in_the_page(js):
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(300, 2)).astype(np.float32)
    coords[5] = np.nan
    built = map_points.build(coords, rng.integers(0, 10, 300), rng.random(300), rng.random(300), -rng.random(300))
    encoded = base64.b64encode(map_points.pack(built)).decode()
    got = js.evaluate("""(b64) => { const raw = atob(b64), bytes = new Uint8Array(raw.length);
        for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
        const p = VMapPoints.parse(bytes.buffer);
        return {n: p.n, leftOut: p.leftOut, x: Array.from(p.x, v => Number.isNaN(v) ? null : v),
                label: Array.from(p.label), elbo: Array.from(p.elbo)}; }""",
                      encoded)
    assert got["n"] == 300 and got["leftOut"] == 1
    x = np.array([np.nan if v is None else v for v in got["x"]], dtype=np.float32)
    assert np.array_equal(x, built.arrays["x"], equal_nan=True)
    assert got["label"] == built.arrays["label"].tolist()
    assert np.array_equal(np.float32(got["elbo"]), built.arrays["elbo"])


def test_nearest_blend_equals_the_placer(js):
    rng = np.random.default_rng(1)
    coords = (rng.normal(size=(2000, 2)) * [4, 2]).astype(np.float32)
    latents = rng.normal(size=(2000, 6)).astype(np.float32)
    queries = np.concatenate([rng.uniform(-12, 12, size=(40, 2)), coords[:5]]).astype(np.float32)  # far, near, exact
    placer = Placer(latents, coords)
    got = js.evaluate("""([x, y, latents, queries]) => {
        const index = VMapPoints.buildIndex(Float32Array.from(x), Float32Array.from(y)), L = Float32Array.from(latents);
        return queries.map(([qx, qy]) => { const found = VMapPoints.nearest(index, qx, qy, 8, null);
          return {rows: found.map(f => f[1]), z: Array.from(VMapPoints.blend(found, L, 6)), d: found[0][0]}; }); }""",
                      [coords[:, 0].tolist(), coords[:, 1].tolist(), latents.ravel().tolist(), queries.tolist()])
    for query, result in zip(queries, got):
        expected = placer.latent_at(query)
        assert sorted(result["rows"]) == sorted(int(i) for i in expected.neighbours)
        assert np.allclose(result["z"], expected.z, atol=1e-5)
        assert result["d"] == pytest.approx(expected.distance, rel=1e-6)
