// Density on the map, two ways:
// - DensityLayer: the contour lines and the dense regions' labels (vae_core/density.py), fetched once per map as
//   JSON. Shapes and annotations sit above Plotly's WebGL points and zoom with the map: no redraw of the points.
// - densityImage: every point in view aggregated into one picture, drawn under the markers when a big map shows
//   only a sample of them (level of detail, map.mjs).

import { fetchOnce } from "../engine.mjs";

const LABEL_ROW_PX = 18;

export class DensityLayer {
  constructor() {
    this.key = null;
    this.peaks = [];    // the labels to place: the found peaks of the classes shown
    this.shapes = [];   // the contour lines drawn
    this.shown = null;  // {contours, labels (texts), leftOut}: what placeLabels last drew (tests read it)
    this.seconds = null;  // how long the server took to find the regions
  }

  reset() { this.key = null; }  // a new plot starts with no contours or labels

  // The layout update ({shapes, annotations}) for these toggles and hidden classes, on plot gd; null when nothing
  // changed or a newer call overtook this one. Throws when the layer cannot be fetched (then retried next time).
  async layout(spec, contours, labels, hidden, gd) {
    const key = JSON.stringify([spec.url, contours, labels, [...hidden].sort()]);
    if (key === this.key) return null;
    this.key = key;
    let found;
    try {
      found = await fetchOnce(spec.url, (r) => r.json(), "the density layer");
    } catch (err) {
      this.key = null;
      throw err;
    }
    if (key !== this.key) return null;  // toggled again meanwhile
    this.seconds = found.seconds;
    const count = found.contours.length;
    this.shapes = !contours ? [] : found.contours.map((c, k) => ({
      type: "path", path: c.path, xref: "x", yref: "y", layer: "above", fillcolor: "rgba(0,0,0,0)",
      line: { color: `rgba(255,255,255,${(0.3 + 0.5 * k / Math.max(1, count - 1)).toFixed(2)})`, width: 1 } }));
    this.peaks = !labels ? [] : found.peaks.filter((p) => p.label < 0 || !hidden.has(p.label));
    return { shapes: this.shapes, annotations: this.placeLabels(gd._fullLayout) };
  }

  // The labels that fit this view, strongest first: each tries its spot, then a row above or below; one that still
  // overlaps a stronger label (or would leave the plot) is left out until a zoom makes room. Pixels, not map units.
  placeLabels(fl) {
    const W = fl._size.w, H = fl._size.h, rowH = LABEL_ROW_PX;
    const ctx = (this.measure = this.measure || document.createElement("canvas").getContext("2d"));
    ctx.font = "bold 12px sans-serif";
    const placed = [], out = [];
    for (const p of this.peaks) {
      const px = fl.xaxis.l2p(p.x), py = fl.yaxis.l2p(p.y);
      if (!(px >= 0 && px <= W && py >= 0 && py <= H)) continue;
      const pct = Math.round(100 * p.share), share = p.label >= 0 && pct < 60 ? ` · ${pct}%` : "";
      const w = ctx.measureText(p.text + share).width + 10;
      for (const dy of [0, -rowH, rowH, -2 * rowH, 2 * rowH]) {
        const shift = Math.max(0, w / 2 - px) - Math.max(0, px + w / 2 - W);  // kept inside the plot sideways
        const box = { x0: px + shift - w / 2, x1: px + shift + w / 2, y0: py + dy - rowH / 2, y1: py + dy + rowH / 2 };
        if (box.y0 < 0 || box.y1 > H) continue;
        if (placed.some((b) => b.x0 < box.x1 && box.x0 < b.x1 && b.y0 < box.y1 && box.y0 < b.y1)) continue;
        placed.push(box);
        out.push(annotation(p, shift, dy, share));
        break;
      }
    }
    this.shown = { contours: this.shapes.length, labels: out.map((a) => a.text), leftOut: this.peaks.length - out.length };
    return out;
  }
}

function annotation(peak, shift, dy, share) {
  const escape = (t) => String(t).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  return { x: peak.x, y: peak.y, xref: "x", yref: "y", showarrow: false, xshift: shift, yshift: -dy,
           text: `<b>${escape(peak.text)}</b>${share}`, font: { color: "#fff", size: 12 },
           bgcolor: "rgba(14,17,23,0.8)", borderpad: 2 };
}

// All points in range ([xa, xb, ya, yb]) aggregated into a W×H picture: class colours (palette: "#rrggbb") weighted
// by count, more opaque where denser. keep(i): false for a hidden class's rows. Returns a Plotly layout image.
export function densityImage(pts, range, keep, palette, W, H) {
  const [xa, xb, ya, yb] = range;
  const r = new Float32Array(W * H), g = new Float32Array(W * H), b = new Float32Array(W * H), n = new Float32Array(W * H);
  const pal = palette.map((h) => [1, 3, 5].map((o) => parseInt(h.slice(o, o + 2), 16)));
  for (let i = 0; i < pts.n; i++) {
    const a = pts.x[i], c = pts.y[i];
    if (!(a >= xa && a < xb && c >= ya && c < yb) || (keep && !keep(i))) continue;
    const px = Math.floor((a - xa) / (xb - xa) * W), py = Math.floor((yb - c) / (yb - ya) * H);
    const k = py * W + px, col = pal[Math.max(0, pts.label[i]) % pal.length];
    r[k] += col[0]; g[k] += col[1]; b[k] += col[2]; n[k] += 1;
  }
  let peak = 1;
  for (let k = 0; k < n.length; k++) if (n[k] > peak) peak = n[k];
  const canvas = document.createElement("canvas");
  canvas.width = W; canvas.height = H;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(W, H);
  for (let k = 0; k < n.length; k++) {
    if (!n[k]) continue;
    img.data[4 * k] = r[k] / n[k]; img.data[4 * k + 1] = g[k] / n[k]; img.data[4 * k + 2] = b[k] / n[k];
    img.data[4 * k + 3] = 60 + 195 * Math.log1p(n[k]) / Math.log1p(peak);
  }
  ctx.putImageData(img, 0, 0);
  return { source: canvas.toDataURL(), xref: "x", yref: "y", x: xa, y: yb, sizex: xb - xa, sizey: yb - ya,
           sizing: "stretch", layer: "below" };
}
