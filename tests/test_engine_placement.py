"""engine.mjs places latents on the map by exactly vae_core's Placer.place: node imports the module the page runs
and places 100 random z."""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from ui.components.modules import HERE as COMPONENTS
from ui.components.served import placement_bytes
from ui.figures import map_bounds
from vae_core.map.placement import Placer

ENGINE_MJS = COMPONENTS / "engine.mjs"
NODE_SCRIPT = """
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
const engine = await import(pathToFileURL(process.argv[1]).href);
const buf = fs.readFileSync(process.argv[2]);
const placement = engine.parsePlacement(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
const zs = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const out = zs.map((z) => Array.from(placement.place(z)));
const cells = out.map((xy) => engine.rasterPoint(placement.bounds, 300, xy));
process.stdout.write(JSON.stringify({placed: out, cells, bounds: placement.bounds, k: placement.k}));
"""


def node() -> str:
    exe = shutil.which("node")
    if exe:
        return exe
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("node is missing (make installs it with apt); the engine test must run in CI", pytrace=False)
    pytest.skip("node is missing: install Debian's nodejs")


@pytest.mark.parametrize("dims", [2, 3])
def test_js_placement_equals_python_on_100_random_z(tmp_path, dims):
    rng = np.random.default_rng(dims)
    latents = rng.normal(size=(3000, 16)).astype(np.float32) * rng.uniform(0.05, 1.5, size=16).astype(np.float32)
    coords = rng.normal(size=(3000, dims)).astype(np.float32) * 5
    placer = Placer(latents, coords)
    zs = rng.normal(size=(100, 16)) * latents.std(axis=0) * 1.3
    zs[:5] = latents[[7, 70, 700, 1234, 2999]]  # exact hits: the mean of the hits, no division by zero
    zs[5:10] = latents[[1, 2, 3, 4, 5]] + 1e-4   # very close to one point
    (tmp_path / "table.bin").write_bytes(placement_bytes(placer.latents32, placer.coords, map_bounds(coords),
                                                        placer.k))
    (tmp_path / "z.json").write_text(json.dumps(zs.tolist()))
    result = subprocess.run([node(), "--input-type=module", "-e", NODE_SCRIPT, str(ENGINE_MJS),
                             str(tmp_path / "table.bin"), str(tmp_path / "z.json")],
                            capture_output=True, text=True, timeout=60, check=True)
    got = json.loads(result.stdout)
    expected = placer.place(zs)
    assert got["k"] == placer.k == 8
    np.testing.assert_allclose(np.array(got["placed"]), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got["bounds"], map_bounds(coords))
    # the marker lands on the pixel the server's raster mini map (ui.figures.mark_raster) would draw it on
    x0, x1, y0, y1 = map_bounds(coords)
    cx = np.clip(np.round((expected[:, 0] - x0) / (x1 - x0) * 298), 0, 299)
    cy = np.clip(np.round((y1 - expected[:, 1]) / (y1 - y0) * 298), 0, 299)
    np.testing.assert_array_equal(np.array(got["cells"]), np.stack([cx, cy], axis=1))


LENS_SCRIPT = """
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
const [engineFile, pointsFile, tableFile, queryFile] = process.argv.slice(1);
const { parsePlacement } = await import(pathToFileURL(engineFile).href);
const { blend, buildIndex, nearest } = await import(pathToFileURL(pointsFile).href);
const buf = fs.readFileSync(tableFile);
const table = parsePlacement(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
const x = new Float32Array(table.n), y = new Float32Array(table.n);
for (let i = 0; i < table.n; i++) { x[i] = table.coords[2 * i]; y[i] = table.coords[2 * i + 1]; }
const index = buildIndex(x, y);
// the kNN lens's rule (map/lens.mjs): the k nearest map points, their latents from the engine's parsed table
const zs = JSON.parse(fs.readFileSync(queryFile, 'utf8'))
  .map(([qx, qy]) => Array.from(blend(nearest(index, qx, qy, table.k, null), table.latents, table.d)));
process.stdout.write(JSON.stringify(zs));
"""


def test_the_lens_blends_the_latents_of_the_engines_placement_table(tmp_path):
    """The map's kNN lens reads its latents from the engine's one parse of the placement table: the blend at any spot
    equals Placer.latent_at's."""
    rng = np.random.default_rng(5)
    latents = rng.normal(size=(2000, 6)).astype(np.float32)
    coords = (rng.normal(size=(2000, 2)) * [4, 2]).astype(np.float32)
    placer = Placer(latents, coords)
    queries = np.concatenate([rng.uniform(-12, 12, size=(40, 2)), coords[:5]])  # far, near, exact
    (tmp_path / "table.bin").write_bytes(placement_bytes(placer.latents32, placer.coords, map_bounds(coords),
                                                        placer.k))
    (tmp_path / "q.json").write_text(json.dumps(queries.tolist()))
    result = subprocess.run([node(), "--input-type=module", "-e", LENS_SCRIPT, str(ENGINE_MJS),
                             str(COMPONENTS / "map" / "points.mjs"), str(tmp_path / "table.bin"),
                             str(tmp_path / "q.json")], capture_output=True, text=True, timeout=60, check=True)
    got = np.array(json.loads(result.stdout))
    expected = np.stack([placer.latent_at(q).z for q in queries])
    np.testing.assert_allclose(got, expected, atol=1e-5)
