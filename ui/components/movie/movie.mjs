// The training movie, in the page: the snapshots' aligned maps (one buffer, ui/components/movie/__init__.py's pack)
// drawn on a canvas; an epoch scrubber and a Play button; the points glide from where they are to the chosen epoch's
// map (requestAnimationFrame); a lens that decodes the spot under the cursor (or the pinned spot when the cursor is
// elsewhere) with THAT epoch's decoder: the latent is the blend of the k nearest points' means of that epoch on that
// epoch's map, the Map's "knn" lens rule (map/points.mjs, checked against vae_core's Placer), so the picture is the
// one the GIF shows for the same spot. No Streamlit rerun while scrubbing or playing: Python hears only a click, which
// pins a spot (state "spot").
//
// Why a canvas and not Plotly (the Map's renderer): the glide redraws 2,000 points every animation frame; a 2-D canvas
// does that in ~1 ms, where a scattergl restyle costs tens of ms on SwiftShader (ui/components/map/map.mjs's notes).
//
// data: {frames, decoders: [url | null per epoch], epochs, numbers: [text per epoch], shape, classNames, palette,
//        spot: [x, y], k, size, lensSize}
// Test hook: window.__vae.movies (engine.mjs): the mounted controllers, oldest first.

import { engineFailed, fetchOnce, loadDecoder, paintMeans, testHook } from "../engine.mjs";
import { blend, buildIndex, nearest } from "../map/points.mjs";

const MAGIC = "VMOVIE01";
const GLIDE_MS = 320;        // a scrubber step: the points travel to the new epoch's places in about a third of a second
const PLAY_MS = 900;         // Play: one epoch every 0.9 s, gliding most of the way (a GIF shows 0.4 s per epoch, still)
const POINT_PX = 3;          // each point a 3 px square: 2,000 of them stay readable at 400 px
const controllers = new WeakMap();
testHook.movies = testHook.movies || [];

// The buffer: magic, uint32 M, N, D, C, float64 bounds (4), float32 maps (M×N×2), float32 means (M×N×D), int16 labels.
function parseMovie(buffer) {
  const bytes = new Uint8Array(buffer, 0, 8);
  if (String.fromCharCode(...bytes) !== MAGIC) throw new Error("not a training movie buffer (wrong magic)");
  const view = new DataView(buffer);
  const [m, n, d, classes] = [8, 12, 16, 20].map((o) => view.getUint32(o, true));
  const bounds = [0, 1, 2, 3].map((i) => view.getFloat64(24 + 8 * i, true));
  let offset = 56;
  const maps = new Float32Array(buffer, offset, m * n * 2);
  offset += 4 * m * n * 2;
  const means = new Float32Array(buffer, offset, m * n * d);
  offset += 4 * m * n * d;
  const labels = new Int16Array(buffer, offset, n);
  return { m, n, d, classes, bounds, maps, means, labels };
}

// Epoch t's map as separate x and y arrays (the grid index's input).
function frameXY(movie, t) {
  const { n, maps } = movie, x = new Float32Array(n), y = new Float32Array(n), base = t * n * 2;
  for (let i = 0; i < n; i++) { x[i] = maps[base + 2 * i]; y[i] = maps[base + 2 * i + 1]; }
  return [x, y];
}

// The latent at map spot (sx, sy) on epoch t: the inverse-distance blend of its k nearest points' means there.
function latentAt(movie, indexes, t, sx, sy, k) {
  const { n, d, means } = movie;
  const found = nearest(indexes[t], sx, sy, Math.min(k, n), null);
  return Float32Array.from(blend(found, means.subarray(t * n * d, (t + 1) * n * d), d));
}

const ease = (f) => (f < 0.5 ? 2 * f * f : 1 - 2 * (1 - f) * (1 - f));  // starts and lands gently

const TEMPLATE = `
<div class="vmovie">
  <div class="vmovie-controls">
    <button class="vmovie-play" type="button" aria-label="Play the movie">▶ Play</button>
    <input class="vmovie-epoch" type="range" min="0" step="1" aria-label="Epoch">
    <output class="vmovie-readout"></output>
  </div>
  <div class="vmovie-body">
    <canvas class="vmovie-map" role="img" aria-label="the test images' encoder means at this epoch, on the aligned map"></canvas>
    <div class="vmovie-side">
      <canvas class="vmovie-lens" role="img" aria-label="the picture this epoch's decoder draws under the cursor"></canvas>
      <div class="vmovie-lens-caption">Loading the decoders…</div>
      <div class="vmovie-numbers"></div>
    </div>
  </div>
  <div class="vmovie-legend"></div>
  <div class="vmovie-status"></div>
</div>`;

class MovieController {
  constructor(parent) {
    this.holder = document.createElement("div");
    parent.appendChild(this.holder);
    this.holder.innerHTML = TEMPLATE;
    const q = (sel) => this.holder.querySelector(sel);
    this.el = { root: q(".vmovie"), play: q(".vmovie-play"), epoch: q(".vmovie-epoch"), readout: q(".vmovie-readout"),
                map: q(".vmovie-map"), lens: q(".vmovie-lens"), caption: q(".vmovie-lens-caption"),
                numbers: q(".vmovie-numbers"), legend: q(".vmovie-legend"), status: q(".vmovie-status") };
    this.movie = null;
    this.indexes = [];       // per epoch: the grid index of its map (nearest points under the cursor)
    this.decoders = [];      // per epoch: Promise<Decoder> (engine.mjs caches one session per URL)
    this.target = 0;         // the epoch shown (or being glided to)
    this.shown = null;       // Float32Array(2N): where the points are drawn now
    this.glide = null;       // {from, to, t0, ms}
    this.hover = null;       // the spot under the cursor, [x, y] in map units
    this.pinned = null;      // the spot clicked last (sent to Python), or the page's default
    this.playing = null;     // the Play timer
    this.lensBusy = false;
    this.lensWaiting = null;
    this.step = null;        // the scrubber step being timed: {t0, map, lens}
    this.times = [];         // ms from a scrubber input to the map and the lens both repainted (bench/movie_page.py)
    this.ready = false;
    this.bind();
  }

  bind() {
    const { epoch, play, map } = this.el;
    epoch.addEventListener("input", () => {
      this.step = { t0: performance.now(), map: null, lens: null };
      this.stop();
      this.goTo(epoch.valueAsNumber, GLIDE_MS);
    });
    play.addEventListener("click", () => (this.playing ? this.stop() : this.play()));
    // pointer moves: at most one redraw and lens request per animation frame (as the Map's hover)
    map.addEventListener("mousemove", (e) => { this.hover = this.toData(e); this.requestFrame(true); });
    map.addEventListener("mouseleave", () => { this.hover = null; this.requestFrame(true); });
    map.addEventListener("click", (e) => {
      this.pinned = this.toData(e);
      this.draw();
      this.showLens();
      if (this.setStateValue) this.setStateValue("spot", this.pinned);
    });
  }

  toData(e) {
    const r = this.el.map.getBoundingClientRect(), [x0, x1, y0, y1] = this.movie.bounds;
    return [x0 + (e.clientX - r.left) / r.width * (x1 - x0), y1 - (e.clientY - r.top) / r.height * (y1 - y0)];
  }

  toPixel(x, y) {
    const [x0, x1, y0, y1] = this.movie.bounds, s = this.size;
    return [(x - x0) / (x1 - x0) * s, (y1 - y) / (y1 - y0) * s];
  }

  async start(data) {
    this.data = data;
    const status = this.el.status;
    try {
      this.movie = await fetchOnce(data.frames, async (r) => parseMovie(await r.arrayBuffer()), "the movie's maps");
    } catch (err) {
      status.textContent = `The movie could not load its maps (${err.message}).`;
      return;
    }
    const movie = this.movie;
    for (let t = 0; t < movie.m; t++) this.indexes.push(buildIndex(...frameXY(movie, t)));
    this.el.epoch.max = String(movie.m - 1);
    this.target = movie.m - 1;  // the trained model: the map the user knows from the Map above
    this.el.epoch.value = String(this.target);
    this.shown = movie.maps.slice(this.target * movie.n * 2, (this.target + 1) * movie.n * 2);
    // the points by fill colour (labels -1: grey), once: draw() paints a class at a time, every animation frame
    this.byColour = new Map();
    for (let i = 0; i < movie.n; i++) {
      const c = movie.labels[i] < 0 ? -1 : movie.labels[i] % data.palette.length;
      if (!this.byColour.has(c)) this.byColour.set(c, []);
      this.byColour.get(c).push(i);
    }
    this.buildLegend();
    this.resize();
    this.readout();
    this.ready = true;
    this.loadDecoders();
  }

  // Every epoch's decoder, the shown one first, then the rest one after another: switching epochs needs no load.
  async loadDecoders() {
    const urls = this.data.decoders, order = [this.target, ...urls.keys()].filter((t, i, a) => a.indexOf(t) === i);
    this.decoders = urls.map(() => null);
    let failed = null;
    for (const t of order) {
      if (!urls[t]) continue;
      this.decoders[t] = loadDecoder(urls[t]);
      try {
        await this.decoders[t];
      } catch (err) {
        failed = failed || err;
      }
      if (t === this.target) this.showLens();
    }
    this.el.root.dataset.engine = failed ? "failed" : "ready";
    if (failed) this.el.caption.textContent = engineFailed(failed, ".");
    this.showLens();
  }

  buildLegend() {
    const { classNames, palette } = this.data, legend = this.el.legend;
    legend.replaceChildren();
    classNames.forEach((name, c) => {
      const item = document.createElement("span"), swatch = document.createElement("i");
      swatch.style.background = palette[c % palette.length];
      item.append(swatch, document.createTextNode(name));  // text, never markup: class names come from files
      legend.appendChild(item);
    });
  }

  resize() {
    const size = this.data.size, ratio = window.devicePixelRatio || 1, canvas = this.el.map;
    this.size = size;
    canvas.style.width = canvas.style.height = `${size}px`;
    canvas.width = canvas.height = Math.round(size * ratio);
    canvas.getContext("2d").setTransform(ratio, 0, 0, ratio, 0, 0);
    this.el.lens.style.width = this.el.lens.style.height = `${this.data.lensSize}px`;
    this.draw();
  }

  // Glide from where the points are drawn now to epoch t's map over `ms`, and decode the lens with epoch t's decoder.
  goTo(t, ms) {
    const movie = this.movie;
    if (!movie) return;
    this.target = Math.max(0, Math.min(movie.m - 1, t));
    this.el.epoch.value = String(this.target);
    const to = movie.maps.subarray(this.target * movie.n * 2, (this.target + 1) * movie.n * 2);
    this.glide = { from: this.shown.slice(), to, t0: performance.now(), ms };
    this.requestFrame(false);
    this.readout();
    this.showLens();
  }

  // Which kept epoch is shown, of how many, beside the scrubber (and for a screen reader).
  readout() {
    const { epochs } = this.data, t = this.target;
    this.el.readout.textContent = `Epoch ${epochs[t]} · ${t + 1}/${epochs.length}`;
    this.el.epoch.setAttribute("aria-valuetext", `epoch ${epochs[t]}`);
  }

  // One animation frame for the glide and the pointer: `hovered` asks for the lens too (the cursor moved).
  requestFrame(hovered) {
    this.hoverMoved = this.hoverMoved || hovered;
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame((now) => this.animate(now));
  }

  animate(now) {
    this.frameRequested = false;
    if (this.hoverMoved) { this.hoverMoved = false; this.showLens(); }
    const g = this.glide;
    if (!g) { this.draw(); return; }
    const f = Math.min(1, Math.max(0, (now - g.t0) / g.ms)), w = ease(f), shown = this.shown;
    for (let i = 0; i < shown.length; i++) shown[i] = g.from[i] + (g.to[i] - g.from[i]) * w;
    this.draw();
    if (f < 1) {
      this.frameRequested = true;
      requestAnimationFrame((next) => this.animate(next));
    } else {
      this.glide = null;
    }
  }

  draw() {
    if (!this.movie || !this.size) return;
    const { palette } = this.data, ctx = this.el.map.getContext("2d"), s = this.size;
    const [x0, x1, y0, y1] = this.movie.bounds, sx = s / (x1 - x0), sy = s / (y1 - y0), shown = this.shown;
    ctx.fillStyle = "#141821";
    ctx.fillRect(0, 0, s, s);
    const half = POINT_PX / 2;
    for (const [c, rows] of this.byColour) {  // one fill colour at a time
      ctx.fillStyle = c < 0 ? "#bab0ac" : palette[c];
      for (const i of rows) {
        ctx.fillRect((shown[2 * i] - x0) * sx - half, (y1 - shown[2 * i + 1]) * sy - half, POINT_PX, POINT_PX);
      }
    }
    this.drawSpot(this.pinned, "#ffffff", 7);
    if (this.hover) this.drawSpot(this.hover, "#ffe14d", 5);
    if (this.step && this.step.map === null) { this.step.map = performance.now(); this.finishStep(); }
  }

  drawSpot(xy, colour, r) {
    if (!xy) return;
    const ctx = this.el.map.getContext("2d"), [px, py] = this.toPixel(xy[0], xy[1]);
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(px - r, py); ctx.lineTo(px + r, py); ctx.moveTo(px, py - r); ctx.lineTo(px, py + r);
    ctx.stroke();
  }

  lensSpot() {
    return this.hover || this.pinned;
  }

  // Decode the lens spot with the shown epoch's decoder; a request arriving while one decodes replaces any waiting
  // one (latest wins, no backlog: a fast scrub paints the epoch it ends on).
  async showLens() {
    if (!this.movie || !this.lensSpot()) return;
    const t = this.target, spot = this.lensSpot();
    const request = { t, spot, z: latentAt(this.movie, this.indexes, t, spot[0], spot[1], this.data.k) };
    if (this.lensBusy) { this.lensWaiting = request; return; }
    this.lensBusy = true;
    try {
      for (let next = request; next; next = this.lensWaiting) {
        this.lensWaiting = null;
        await this.paintLens(next);
      }
    } finally {
      this.lensBusy = false;
    }
  }

  async paintLens({ t, spot, z }) {
    const pending = this.decoders[t], epoch = this.data.epochs[t];
    // the split on its own line, "= −(Recon … + KL …)" kept whole (pre-line; a 170 px column wrapped it after "−")
    this.el.numbers.textContent = `Epoch ${epoch}: ${this.data.numbers[t].replace(" = ", "\n= ")}`;
    if (!pending) {
      this.el.caption.textContent = this.data.decoders[t] ? "Loading the decoders…"
        : `Epoch ${epoch}'s decoder failed its checks: no picture for it.`;
      return;
    }
    let decoder;
    try {
      decoder = await pending;
    } catch (err) {
      this.el.caption.textContent = engineFailed(err, ".");
      return;
    }
    paintMeans(this.el.lens, await decoder.decode(z), this.data.shape);
    const where = spot === this.pinned && !this.hover ? "at the pinned spot" : "under the cursor";
    this.el.caption.textContent = `Epoch ${epoch}'s decoder, ${where} (${spot[0].toFixed(2)}, ${spot[1].toFixed(2)})`;
    if (this.step && this.step.lens === null && t === this.target) {
      this.step.lens = performance.now();
      this.finishStep();
    }
  }

  // A scrubber step is done when the map has drawn its first frame towards the new epoch and the lens has painted
  // that epoch's picture: what the person sees change.
  finishStep() {
    const step = this.step;
    if (!step || step.map === null || (step.lens === null && this.lensSpot() && this.decoders[this.target])) return;
    this.step = null;
    const ms = Math.max(step.map, step.lens ?? step.map) - step.t0;
    if (this.times.length < 5000) this.times.push(ms);
    this.el.root.dispatchEvent(new CustomEvent("vae-movie-step", { detail: ms }));
  }

  play() {
    const movie = this.movie;
    if (!movie || movie.m < 2) return;
    if (this.target >= movie.m - 1) this.goTo(0, GLIDE_MS);
    this.el.play.textContent = "⏸ Pause";
    this.el.play.setAttribute("aria-label", "Pause the movie");
    this.playing = setInterval(() => {
      if (this.target >= movie.m - 1) { this.stop(); return; }
      this.goTo(this.target + 1, PLAY_MS * 0.8);
    }, PLAY_MS);
  }

  stop() {
    if (this.playing) clearInterval(this.playing);
    this.playing = null;
    this.el.play.textContent = "▶ Play";
    this.el.play.setAttribute("aria-label", "Play the movie");
  }

  update(data) {
    this.data = { ...this.data, ...data };
    if (!this.pinned || !data.spot || data.spot.some((v, i) => v !== this.pinned[i])) this.pinned = data.spot;
    if (this.movie) { this.readout(); this.draw(); this.showLens(); }
  }

  remove() {
    this.stop();
    this.glide = null;
    this.holder.remove();
    const i = testHook.movies.indexOf(this);
    if (i >= 0) testHook.movies.splice(i, 1);
  }
}

export default function (component) {
  const { parentElement, data, setStateValue } = component;
  let ctrl = controllers.get(parentElement);
  if (ctrl && ctrl.framesURL !== data.frames) { ctrl.remove(); ctrl = null; }  // another model or projection
  if (!ctrl) {
    ctrl = new MovieController(parentElement);
    ctrl.framesURL = data.frames;
    ctrl.pinned = data.spot;
    controllers.set(parentElement, ctrl);
    testHook.movies.push(ctrl);
    ctrl.start(data);
  } else {
    ctrl.update(data);
  }
  ctrl.setStateValue = setStateValue;  // a rerun hands a fresh setter; events must use the current one
  return () => {
    ctrl.remove();
    if (controllers.get(parentElement) === ctrl) controllers.delete(parentElement);
  };
}
