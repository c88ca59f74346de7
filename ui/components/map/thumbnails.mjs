// Images on the map at deep zoom: once few enough points are in view, each is drawn as its own picture, cut from one
// atlas PNG of the whole split (ui/map_data.py's atlas(): row-major, no padding) fetched once per map.

import { loadImage } from "../engine.mjs";

export const THUMBS_MAX = 150;  // when this few points are in view, each is drawn as its own image
const THUMB_PX = 36;            // a thumbnail's side on screen

export class Thumbnails {
  constructor() {
    this.atlas = null;  // {url, cols, size: [h, w], n, canvas, crops: Map(row -> data URL)}
    this.rows = [];     // the rows drawn as thumbnails now
  }

  // Fetch the atlas `spec` describes; true when a new one was loaded (the caller redraws).
  async load(spec) {
    if (!spec || spec.off || (this.atlas && this.atlas.url === spec.url)) return false;
    const image = await loadImage(spec.url);
    const canvas = document.createElement("canvas");
    canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
    canvas.getContext("2d").drawImage(image, 0, 0);
    this.atlas = { ...spec, canvas, crops: new Map() };
    return true;
  }

  // One image's picture as a data URL, cut from the atlas once.
  url(row) {
    const a = this.atlas;
    if (!a.crops.has(row)) {
      const [h, w] = a.size, c = document.createElement("canvas");
      c.width = w; c.height = h;
      c.getContext("2d").drawImage(a.canvas, (row % a.cols) * w, Math.floor(row / a.cols) * h, w, h, 0, 0, w, h);
      a.crops.set(row, c.toDataURL());
    }
    return a.crops.get(row);
  }

  // Plotly layout images for the points in view (fl: the plot's _fullLayout), or none when more than THUMBS_MAX
  // are in view, the toggle is off or the atlas is not this map's. keep(i): false for a hidden class's rows.
  images(pts, fl, keep, on) {
    this.rows = [];
    if (!on || !this.atlas || this.atlas.n !== pts.n) return [];
    const [xa, xb] = fl.xaxis.range.slice().sort((p, q) => p - q), [ya, yb] = fl.yaxis.range.slice().sort((p, q) => p - q);
    const rows = [];
    for (let i = 0; i < pts.n; i++) {
      const x = pts.x[i], y = pts.y[i];
      if (!(x >= xa && x <= xb && y >= ya && y <= yb) || (keep && !keep(i))) continue;
      rows.push(i);
      if (rows.length > THUMBS_MAX) return [];
    }
    this.rows = rows;
    const sx = THUMB_PX / Math.abs(fl.xaxis._m), sy = THUMB_PX / Math.abs(fl.yaxis._m);
    return rows.map((i) => ({ source: this.url(i), xref: "x", yref: "y", x: pts.x[i], y: pts.y[i], sizex: sx,
                              sizey: sy, xanchor: "center", yanchor: "middle", sizing: "stretch", layer: "above" }));
  }
}
