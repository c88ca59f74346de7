// The decoded map: the view tiled by a G×G grid of images, decoded in one batch by the lens's decoder and spot rule
// (lens.mjs), drawn under the markers. Decoded in the page: zooming or panning never reruns the script.

import { paintMeans } from "../engine.mjs";

const G = 12;  // 144 tiles, decoded as one batch

export class DecodedMap {
  constructor() {
    this.images = [];  // Plotly layout images, one per tile
    this.stamp = 0;
  }

  // Drop the tiles; true if there were any (the caller redraws).
  clear() {
    const had = this.images.length > 0;
    this.images = [];
    return had;
  }

  // Decode the grid over the view (fl: the plot's _fullLayout) with a ready lens. True when the tiles changed; false
  // when a newer call overtook this one (the view moved on meanwhile).
  async refresh(fl, lens) {
    const shape = lens.shape, size = shape.reduce((p, q) => p * q, 1);
    const [xa, xb] = fl.xaxis.range.slice().sort((p, q) => p - q), [ya, yb] = fl.yaxis.range.slice().sort((p, q) => p - q);
    const dx = (xb - xa) / G, dy = (yb - ya) / G, centres = [];
    for (let r = 0; r < G; r++) for (let c = 0; c < G; c++) centres.push([xa + (c + 0.5) * dx, yb - (r + 0.5) * dy]);
    const zs = centres.map((xy) => lens.zOf(xy)), dim = zs[0].length, batch = new Float32Array(G * G * dim);
    zs.forEach((z, k) => batch.set(z, k * dim));
    const stamp = (this.stamp += 1);
    const means = await lens.decoder.decode(batch, G * G);
    if (stamp !== this.stamp) return false;
    const canvas = document.createElement("canvas");
    this.images = centres.map(([x, y], k) => {
      paintMeans(canvas, means, shape, k * size);
      return { source: canvas.toDataURL(), xref: "x", yref: "y", x, y, sizex: dx, sizey: dy, xanchor: "center",
               yanchor: "middle", sizing: "stretch", layer: "below", opacity: 0.85 };
    });
    return true;
  }
}
