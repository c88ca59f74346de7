// engine.mjs: decode latents in the page with onnxruntime-web, and place them on the map like vae_core's Placer.
//
// An ES module that the map, the pad and the scrubber import (ui/components/modules.py serves them). A module
// imported by URL is one instance per page, so the state here (the runtime, one InferenceSession per decoder URL,
// the parsed placement tables) is shared by every component and outlives reruns and page switches.
//
// API (keep it small and stable: the map's lens is built on it):
//   loadRuntime()                 -> Promise<ort>   onnxruntime-web, once per page, from app/static/vendor/ (1 thread)
//   loadDecoder(url)              -> Promise<Decoder>  one InferenceSession per decoder URL
//     decoder.decode(z: Float32Array, n = 1) -> Promise<Float32Array>  pixel means in [0, 1], n×C×H×W
//   paintMeans(canvas, means, shape, offset = 0)  means (C×H×W at offset) -> the canvas's pixels (W×H, crisp:
//                                                 upscaling is CSS `image-rendering: pixelated`)
//   paintBytes(canvas, bytes, shape)  uint8 pixels (H×W×C, from the server) -> canvas: the fallback path
//   liveView(canvas, decoder, shape) -> {show(z), painted}  decodes z and paints it; a z arriving while one is
//                                                 decoding replaces any waiting one (no backlog, latest wins);
//                                                 the canvas fires "vae-painted" (detail: z) after each paint
//   loadPlacement(url)            -> Promise<Placement>  the placement table, fetched and parsed once per URL
//     placement.place(z: ArrayLike) -> Float64Array(dims)  exactly vae_core.placement.Placer.place (k nearest by
//                                                 float64 distance, ties by row id, inverse-distance mean)
//     placement.latents, .coords, .n, .d, .dims, .k  the table itself (the map's kNN lens blends these latents)
//     placement.bounds              [x0, x1, y0, y1] of ui.figures.map_bounds (the raster mini map's frame)
//   parsePlacement(buffer) -> Placement           the one parser of the table (node tests call it directly)
//   rasterPoint(bounds, size, xy) -> [cx, cy]    the pixel ui.figures.mark_raster puts a data point at
//   engineFailed(err)             -> string       one line for the page when WebAssembly or the engine fails
//   loadImage(url) -> Promise<HTMLImageElement>;  base64Bytes(text) -> Uint8Array
//   fetchOnce(url, read, what) -> Promise          fetch + read (e.g. r => r.json()) once per URL; a failure is
//                                                 forgotten, so a later mount tries again
//   absoluteURL(url) -> string                    a URL path ("app/static/…") against the page's base
//
// Placement file (ui/components/served.py writes it): little-endian uint32 n, d, dims, k, then float64 bounds(4),
// then float32 latents (n×d), float32 coords (n×dims).
//
// The test hook, the one global (tests and benches read it; components never do):
//   window.__vae.engine  {decoders, fetched}: the caches above, Map(absolute URL -> Promise)
//   window.__vae.maps    the mounted map controllers (map/map.mjs), oldest first: `__vae.maps.at(-1)` is the newest
//   window.__vae.movies  the mounted training movies (movie/movie.mjs), oldest first
// Pure helpers need no hook: a test imports their module (node: `import(fileURL)`; a page: `import()` of the
// served URL, ui.components.modules.url("map/points.mjs")).

const decoders = new Map();
const fetched = new Map();
let runtime = null;

export const testHook = (globalThis.__vae = globalThis.__vae || { maps: [] });
testHook.engine = { decoders, fetched };

export function absoluteURL(url) {
  return new URL(url, document.baseURI).href;
}

function cached(cache, key, make) {
  if (!cache.has(key)) {
    const pending = make();
    cache.set(key, pending);
    pending.catch(() => cache.delete(key)); // a later mount may try again
  }
  return cache.get(key);
}

export function fetchOnce(url, read, what) {
  const absolute = absoluteURL(url);
  return cached(fetched, absolute, async () => {
    const response = await fetch(absolute);
    if (!response.ok) throw new Error(`${what} could not be fetched (${response.status})`);
    return read(response);
  });
}

export function loadRuntime() {
  if (!runtime) {
    runtime = (async () => {
      if (typeof WebAssembly !== "object") throw new Error("this browser has no WebAssembly");
      const ort = await import(absoluteURL("app/static/vendor/ort.wasm.min.mjs"));
      ort.env.wasm.wasmPaths = absoluteURL("app/static/vendor/");
      ort.env.wasm.numThreads = 1; // no cross-origin isolation here, and one thread is fastest for a small net
      ort.env.wasm.proxy = false;
      return ort;
    })();
    runtime.catch(() => { runtime = null; }); // a later mount may try again
  }
  return runtime;
}

export function loadDecoder(url) {
  return cached(decoders, absoluteURL(url), async () => {
    const ort = await loadRuntime();
    const session = await ort.InferenceSession.create(absoluteURL(url), { executionProviders: ["wasm"] });
    const input = session.inputNames[0], output = session.outputNames[0];
    return {
      session,
      async decode(z, n = 1) {
        const feeds = { [input]: new ort.Tensor("float32", Float32Array.from(z), [n, z.length / n]) };
        const result = await session.run(feeds);
        return result[output].data;
      },
    };
  });
}

function ensureSize(canvas, width, height) {
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
}

export function paintMeans(canvas, means, shape, offset = 0) {
  const [c, h, w] = shape;
  ensureSize(canvas, w, h);
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(w, h);
  const px = image.data, plane = h * w;
  for (let i = 0; i < plane; i++) {
    for (let k = 0; k < 3; k++) {
      const v = means[offset + (c === 1 ? 0 : k) * plane + i];
      // the server's rounding: round(p * 255), p clamped to [0, 1]
      px[4 * i + k] = Math.round(Math.min(Math.max(v, 0), 1) * 255);
    }
    px[4 * i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

export function paintBytes(canvas, bytes, shape) {
  const [c, h, w] = shape;
  ensureSize(canvas, w, h);
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(w, h);
  const px = image.data;
  for (let i = 0; i < h * w; i++) {
    for (let k = 0; k < 3; k++) px[4 * i + k] = bytes[i * c + (c === 1 ? 0 : k)];
    px[4 * i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

export function liveView(canvas, decoder, shape) {
  let busy = false, waiting = null;
  const view = {
    painted: 0,
    async show(z) {
      if (busy) { waiting = Float32Array.from(z); return; }
      busy = true;
      try {
        let next = Float32Array.from(z);
        while (next) {
          waiting = null;
          paintMeans(canvas, await decoder.decode(next), shape);
          view.painted += 1;
          canvas.dispatchEvent(new CustomEvent("vae-painted", { detail: next }));
          next = waiting;
        }
      } finally {
        busy = false;
      }
    },
  };
  return view;
}

export function parsePlacement(buffer) {
  const header = new DataView(buffer, 0, 48);
  const n = header.getUint32(0, true), d = header.getUint32(4, true);
  const dims = header.getUint32(8, true), k = Math.min(header.getUint32(12, true), n);
  const bounds = [0, 1, 2, 3].map((i) => header.getFloat64(16 + 8 * i, true));
  const latents = new Float32Array(buffer.slice(48, 48 + 4 * n * d));
  const coords = new Float32Array(buffer.slice(48 + 4 * n * d, 48 + 4 * n * (d + dims)));
  return { n, d, dims, k, bounds, latents, coords, place: (z) => place(latents, coords, n, d, dims, k, z) };
}

// The k smallest (distance, row) pairs, kept sorted: distances in float64 like Placer's exact re-ranking.
function nearestRows(latents, n, d, k, z) {
  const bestD = new Float64Array(k).fill(Infinity), bestI = new Int32Array(k).fill(-1);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const base = i * d;
    for (let j = 0; j < d; j++) { const diff = latents[base + j] - z[j]; s += diff * diff; }
    const dist = Math.sqrt(s);
    if (dist >= bestD[k - 1]) continue; // ties keep the lower row id, which came first
    let p = k - 1;
    while (p > 0 && bestD[p - 1] > dist) { bestD[p] = bestD[p - 1]; bestI[p] = bestI[p - 1]; p--; }
    bestD[p] = dist; bestI[p] = i;
  }
  return [bestD, bestI];
}

function place(latents, coords, n, d, dims, k, z) {
  const [bestD, bestI] = nearestRows(latents, n, d, k, z);
  const out = new Float64Array(dims);
  let exact = 0;
  for (let m = 0; m < k; m++) if (bestD[m] <= 0) exact++;
  if (exact) { // an exact hit: the mean of the hits' coordinates
    for (let m = 0; m < k; m++) if (bestD[m] <= 0) for (let c = 0; c < dims; c++) out[c] += coords[bestI[m] * dims + c];
    for (let c = 0; c < dims; c++) out[c] /= exact;
  } else {
    let total = 0;
    for (let m = 0; m < k; m++) {
      const w = 1 / bestD[m];
      total += w;
      for (let c = 0; c < dims; c++) out[c] += w * coords[bestI[m] * dims + c];
    }
    for (let c = 0; c < dims; c++) out[c] /= total;
  }
  return Float64Array.from(out, Math.fround); // Placer returns float32
}

export function loadPlacement(url) {
  return fetchOnce(url, async (response) => parsePlacement(await response.arrayBuffer()), "placement data");
}

export function rasterPoint(bounds, size, xy) {
  // ui.figures.mark_raster: Python's round() is half-to-even; a tie needs an exact .5, which data never hits
  const [x0, x1, y0, y1] = bounds;
  const cx = Math.round((xy[0] - x0) / (x1 - x0) * (size - 2));
  const cy = Math.round((y1 - xy[1]) / (y1 - y0) * (size - 2));
  return [Math.min(Math.max(cx, 0), size - 1), Math.min(Math.max(cy, 0), size - 1)];
}

// `then`: what the page does instead (the pad's and scrubber's default; the lens and the movie say their own).
export function engineFailed(err, then = ": images are decoded on the server when you release a slider.") {
  const reason = (err && (err.message || String(err))) || "unknown error";
  return `In-page decoding is unavailable (${reason.split("\n")[0].slice(0, 160)})${then}`;
}

export function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`cannot load ${url}`));
    image.src = absoluteURL(url);
  });
}

export function base64Bytes(text) {
  const raw = atob(text || "");
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}
