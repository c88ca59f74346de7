// Pure functions shared by the map component and its tests (no DOM, no Plotly): the binary points buffer,
// a grid index over map coordinates, nearest-point search and the kNN latent blend (the same rule as
// vae_core.placement.Placer.latent_at). An ES module with no imports: node and a test page import it as it is.
const MAGIC = "VMAPPTS1";
const TYPES = { Float32Array, Int16Array };

// The buffer written by vae_core/map_points.py: magic, uint32 header length, JSON header, aligned arrays.
export function parse(buffer) {
  const bytes = new Uint8Array(buffer);
  const magic = String.fromCharCode(...bytes.subarray(0, 8));
  if (magic !== MAGIC) throw new Error("not a map points buffer (wrong magic)");
  const length = new DataView(buffer).getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length)));
  const arrays = {};
  for (const e of header.arrays) arrays[e.name] = new TYPES[e.type](buffer, e.offset, e.length);
  return { n: header.n, leftOut: header.left_out, meta: header.meta, ...arrays };
}

// A uniform grid over the finite points: cells of ~4 points on average; ids sorted by cell (CSR layout).
export function buildIndex(x, y) {
  const n = x.length;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity, finite = 0;
  for (let i = 0; i < n; i++) {
    const a = x[i], b = y[i];
    if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
    finite++;
    if (a < x0) x0 = a; if (a > x1) x1 = a; if (b < y0) y0 = b; if (b > y1) y1 = b;
  }
  if (!finite) { x0 = y0 = 0; x1 = y1 = 1; }
  const side = Math.max(1, Math.min(2048, Math.round(Math.sqrt(finite / 4))));
  const w = (x1 - x0) || 1, h = (y1 - y0) || 1;
  const cellOf = new Int32Array(n), counts = new Int32Array(side * side + 1);
  for (let i = 0; i < n; i++) {
    const a = x[i], b = y[i];
    if (!Number.isFinite(a) || !Number.isFinite(b)) { cellOf[i] = -1; continue; }
    const cx = Math.min(side - 1, Math.floor((a - x0) / w * side));
    const cy = Math.min(side - 1, Math.floor((b - y0) / h * side));
    cellOf[i] = cy * side + cx;
    counts[cellOf[i] + 1]++;
  }
  for (let c = 0; c < side * side; c++) counts[c + 1] += counts[c];
  const start = counts.slice(), ids = new Int32Array(finite);
  for (let i = 0; i < n; i++) if (cellOf[i] >= 0) ids[start[cellOf[i]]++] = i;
  return { x, y, x0, y0, w, h, side, starts: counts, ids, finite };
}

// The k nearest points to (px, py) in map units (Euclidean), nearest first; ties by row id.
// `keep(i)` may exclude rows (a filtered class). Rings of cells grow until k are found and the ring is farther.
export function nearest(index, px, py, k, keep) {
  const { x, y, x0, y0, w, h, side, starts, ids } = index;
  const best = [];  // [dist, id] sorted
  const cw = w / side, ch = h / side;
  // clamped: a query off the grid starts at the nearest edge cell (the early stop below then never fires early)
  const cx = Math.max(0, Math.min(side - 1, Math.floor((px - x0) / w * side)));
  const cy = Math.max(0, Math.min(side - 1, Math.floor((py - y0) / h * side)));
  const push = (d, i) => {
    if (best.length === k && (d > best[k - 1][0] || (d === best[k - 1][0] && i > best[k - 1][1]))) return;
    let j = best.length;
    best.push([d, i]);
    while (j > 0 && (best[j - 1][0] > d || (best[j - 1][0] === d && best[j - 1][1] > i))) { best[j] = best[j - 1]; j--; }
    best[j] = [d, i];
    if (best.length > k) best.pop();
  };
  const maxRing = Math.max(cx, side - 1 - cx, cy, side - 1 - cy);
  const visit = (gx, gy) => {
    if (gx < 0 || gx >= side || gy < 0 || gy >= side) return;
    const c = gy * side + gx;
    for (let s = starts[c]; s < starts[c + 1]; s++) {
      const i = ids[s];
      if (keep && !keep(i)) continue;
      push(Math.hypot(x[i] - px, y[i] - py), i);
    }
  };
  for (let r = 0; r <= maxRing; r++) {
    if (r === 0) visit(cx, cy);
    else {  // only the ring's perimeter: rows cy±r, columns cx±r
      for (let gx = cx - r; gx <= cx + r; gx++) { visit(gx, cy - r); visit(gx, cy + r); }
      for (let gy = cy - r + 1; gy <= cy + r - 1; gy++) { visit(cx - r, gy); visit(cx + r, gy); }
    }
    // every point outside ring r is at least (distance from the query to the ring's outer edge) away
    if (best.length === k) {
      const gap = Math.min(px - (x0 + (cx - r) * cw), (x0 + (cx + r + 1) * cw) - px,
                           py - (y0 + (cy - r) * ch), (y0 + (cy + r + 1) * ch) - py);
      if (gap >= best[k - 1][0]) break;
    }
  }
  return best;
}

// Inverse-distance mean of the neighbours' latents (rows of `latents`, dim D); an exact hit returns the hits' mean.
export function blend(found, latents, dim) {
  const z = new Float64Array(dim);
  const exact = found.filter(([d]) => d <= 0);
  if (exact.length) {
    for (const [, i] of exact) for (let d = 0; d < dim; d++) z[d] += latents[i * dim + d] / exact.length;
    return z;
  }
  let total = 0;
  for (const [dist, i] of found) {
    const wgt = 1 / dist;
    total += wgt;
    for (let d = 0; d < dim; d++) z[d] += wgt * latents[i * dim + d];
  }
  for (let d = 0; d < dim; d++) z[d] /= total;
  return z;
}

// Fraction of `sorted` (ascending) at or below v: the percentile of a distance among the points' own spacings.
export function percentile(sorted, v) {
  let lo = 0, hi = sorted.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if (sorted[m] <= v) lo = m + 1; else hi = m; }
  return sorted.length ? (100 * lo) / sorted.length : 0;
}

export function pointInPolygon(px, py, xs, ys) {
  let inside = false;
  for (let i = 0, j = xs.length - 1; i < xs.length; j = i++) {
    if ((ys[i] > py) !== (ys[j] > py) && px < ((xs[j] - xs[i]) * (py - ys[i])) / (ys[j] - ys[i]) + xs[i]) inside = !inside;
  }
  return inside;
}
