// The lens: the image under the cursor, decoded in the page through the shared engine (engine.mjs). The spec from
// ui/map_data.py's lens() says how a map spot becomes an image: "learned" (one graph xy -> image), "knn" (the 8
// nearest points' latents blended by the Placer's rule, then the display decoder) or "exact" (z = xy: the map is the
// 2-D latent space). The decoded map (decoded.mjs) uses the same decoder and spot -> input rule, in batches.

import { engineFailed, liveView, loadDecoder, loadPlacement } from "../engine.mjs";
import { blend, nearest } from "./points.mjs";

export class Lens {
  constructor(canvas, caption) {
    this.canvas = canvas;
    this.caption = caption;
    this.key = undefined;
    this.ready = false;  // show() paints only once a spec has loaded
    this.view = null;    // the engine's liveView on the lens canvas
    this.decoder = null;
    this.zOf = null;     // map spot [x, y] -> the decoder's input
    this.shape = null;
    this.times = [];     // ms from a hover to its paint (bench/map.py reads them)
  }

  // Load what `spec` needs. True when a new lens is ready; false when nothing changed, the lens is off, it failed
  // (the caption says why) or a newer spec overtook this one. indexOf() -> the map points' grid index (knn).
  async setup(spec, indexOf) {
    const key = JSON.stringify(spec || null);
    if (key === this.key) return false;
    this.key = key;
    this.ready = false;
    this.caption.dataset.working = "false";  // "true" once it draws (Compare hides a working lens's caption)
    if (!spec || spec.error) { this.caption.textContent = spec ? spec.error : "The lens is off."; return false; }
    this.caption.textContent = "Loading the lens…";
    try {
      const [decoder, zOf] = await this.load(spec, indexOf);
      if (key !== this.key) return false;
      Object.assign(this, { decoder, zOf, shape: spec.shape, view: liveView(this.canvas, decoder, spec.shape) });
      this.times = [];
      this.ready = true;
      this.name = spec.name;
      this.caption.textContent = `Lens: ${spec.name}. Click to pin it.`;
      this.caption.dataset.working = "true";
      return true;
    } catch (err) {
      this.caption.textContent = engineFailed(err, ": click to decode on the server.");
      return false;
    }
  }

  async load(spec, indexOf) {
    const direct = (xy) => Float32Array.of(xy[0], xy[1]);  // learned (xy -> image) and exact (z = xy)
    if (spec.method === "learned") return [await loadDecoder(spec.graphUrl), direct];
    const decoder = await loadDecoder(spec.decoderUrl);
    if (spec.method !== "knn") return [decoder, direct];
    // the engine's parsed placement table (the pad and the scrubber place with it too): latents in map row order
    const table = await loadPlacement(spec.placementUrl);
    const zOf = (xy) => Float32Array.from(blend(nearest(indexOf(), xy[0], xy[1], table.k, null), table.latents, table.d));
    return [decoder, zOf];
  }

  // Decode and paint the spot xy; t0 is when the cursor got there (for `times`).
  show(xy, t0) {
    if (!this.ready) return Promise.resolve();
    const view = this.view, before = view.painted;
    return view.show(this.zOf(xy)).then(() => {
      if (view.painted > before && this.times.length < 5000) this.times.push(performance.now() - t0);
    });
  }
}
