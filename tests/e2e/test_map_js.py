"""The map's JavaScript helpers (map/points.mjs) against their Python originals, in Chromium, on random inputs.

The page imports the module itself (no global): a blank page on a made-up origin that serves ui/components/.
"""
import base64

import numpy as np
import pytest

from ui.components.modules import HERE as COMPONENTS
from vae_core.map import points as map_points
from vae_core.map.placement import Placer

pytestmark = pytest.mark.e2e
ORIGIN = "http://components.test"
IMPORT = f"const P = await import('{ORIGIN}/map/points.mjs');"


@pytest.fixture
def js(page):
    def serve(route):
        path = route.request.url.removeprefix(ORIGIN).lstrip("/")
        if not path:
            route.fulfill(body="<html><body></body></html>", content_type="text/html")
        elif path.endswith(".mjs") and (COMPONENTS / path).resolve().is_relative_to(COMPONENTS):
            route.fulfill(path=str(COMPONENTS / path), content_type="text/javascript")
        else:
            route.fulfill(status=404)
    page.route(f"{ORIGIN}/**", serve)
    page.goto(f"{ORIGIN}/")
    return page


def test_binary_buffer_reads_the_same_in_the_page(js):
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(300, 2)).astype(np.float32)
    coords[5] = np.nan
    built = map_points.build(coords, rng.integers(0, 10, 300), rng.random(300), rng.random(300), -rng.random(300))
    encoded = base64.b64encode(map_points.pack(built)).decode()
    got = js.evaluate("""async (b64) => { """ + IMPORT + """ const raw = atob(b64), bytes = new Uint8Array(raw.length);
        for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
        const p = P.parse(bytes.buffer);
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
    got = js.evaluate("""async ([x, y, latents, queries]) => { """ + IMPORT + """
        const index = P.buildIndex(Float32Array.from(x), Float32Array.from(y)), L = Float32Array.from(latents);
        return queries.map(([qx, qy]) => { const found = P.nearest(index, qx, qy, 8, null);
          return {rows: found.map(f => f[1]), z: Array.from(P.blend(found, L, 6)), d: found[0][0]}; }); }""",
                      [coords[:, 0].tolist(), coords[:, 1].tolist(), latents.ravel().tolist(), queries.tolist()])
    for query, result in zip(queries, got):
        expected = placer.latent_at(query)
        assert sorted(result["rows"]) == sorted(int(i) for i in expected.neighbours)
        assert np.allclose(result["z"], expected.z, atol=1e-5)
        assert result["d"] == pytest.approx(expected.distance, rel=1e-6)
