// The Map's browser side: Plotly.js (scattergl) driven in the page. Points arrive once per map as a binary
// buffer (vae_core/map_points.py) fetched from /app/static/maps/<hash>.bin; every rerun after that sends only
// a small JSON (highlights, overlays), applied with Plotly.restyle/relayout so zoom and pan survive.
// Colour, hover, legend filtering, search and level of detail happen here with no Streamlit rerun.
// Events go to Python as the component state "event": {kind: point|space|selection, row|xy|rows, seq}.
//
// The controller owns its layers, each a module: the lens (lens.mjs), thumbnails at deep zoom (thumbnails.mjs), the
// decoded map (decoded.mjs), density contours, labels and the level-of-detail image (density.mjs). One controller
// per parent element (Streamlit's container for this mount), kept in `controllers` across reruns.
//
// Linking two maps (the Compare page, ui/components/compare/): a controller calls its `hooks` when the person hovers
// (row or null, xy), changes the colour, hides classes, selects rows or zooms; `ring(row)`, `setColor(mode)`,
// `setHidden(classes)`, `showSelection(rows)` and `zoomTo(ranges)` apply the same on another controller, in the page.

import { absoluteURL, fetchOnce, testHook } from "../engine.mjs";
import { DecodedMap } from "./decoded.mjs";
import { DensityLayer, densityImage } from "./density.mjs";
import { Lens } from "./lens.mjs";
import { buildIndex, nearest, parse, percentile, pointInPolygon } from "./points.mjs";
import { THUMBS_MAX, Thumbnails } from "./thumbnails.mjs";

// Plotly.js's bundle is UMD: imported as a module it still defines window.Plotly (once per page, like any module).
async function loadPlotly() {
  await import(absoluteURL("app/static/vendor/plotly.min.js"));
  return window.Plotly;
}

// One fetch and parse per map per page, shared by remounts.
function loadPoints(url) {
  return fetchOnce(url, async (response) => {
    const pts = parse(await response.arrayBuffer());
    pts.index = buildIndex(pts.x, pts.y);
    pts.nnSorted = Float32Array.from(pts.nn.filter(Number.isFinite)).sort();
    return pts;
  }, "the map's points");
}

const ZOOM_RECHECK_MS = 1000;  // how often the zoom is put back in the address bar after Streamlit rewrote it
const PICK_PX = 8;            // a click or hover within this many pixels of a point is on the point
const DOUBLE_CLICK_MS = 250;  // a click on empty space waits this long: the first half of a double-click (Plotly's
                              // zoom reset) must not decode the spot. A click on a point is sent at once.
const PREFS = "vmap-prefs";   // the layer toggles, kept for the tab: a new projection or split must not reset them
const TOGGLES = ["thumbs", "decoded", "contours", "labels"];
const TRACE = { main: 0, selection: 1, neighbours: 2, pick: 3, uploads: 4, paths: 5 };
const controllers = new WeakMap();

const TEMPLATE = `
<div class="vmap">
  <div class="vmap-bar">
    <label>Colour by <select class="vmap-color"></select></label>
    <label>Find index <input class="vmap-search" type="search" inputmode="numeric" placeholder="e.g. 42"></label>
    <button class="vmap-go" type="button">Go</button>
    <label title="When you zoom in this far that at most ${THUMBS_MAX} points are in view"><input class="vmap-thumbs"
      type="checkbox" checked> Images when zoomed in</label>
    <label title="Tile the view with images decoded on a grid, by the lens's method"><input class="vmap-decoded"
      type="checkbox"> Decoded map</label>
    <label class="vmap-density-toggle" title="Lines of equal point density (1 %, 3 %, 10 %, 30 % and 60 % of the densest spot), of all points, hidden classes too"><input
      class="vmap-contours" type="checkbox"> Density</label>
    <label class="vmap-labels-toggle" title="Each dense region's classes, named where each is densest (its share of the points there shown when under 60 %)"><input
      class="vmap-labels" type="checkbox" checked> Labels</label>
    <span class="vmap-note"></span>
  </div>
  <div class="vmap-body">
    <div class="vmap-plot"><div class="vmap-ring"></div></div>
    <div class="vmap-side">
      <canvas class="vmap-lens" width="28" height="28"></canvas>
      <div class="vmap-lens-caption">Move over the map</div>
      <div class="vmap-readout"></div>
    </div>
  </div>
  <div class="vmap-legend"></div>
  <div class="vmap-status"></div>
  <div class="vmap-tip"></div>
</div>`;

// Nothing leaves this machine: no Plotly logo (a link to plotly.com), no "Share chart…" (an upload to Plotly Cloud),
// and no server URL for one to use. ui/figures.CHART_CONFIG says the same for the st.plotly_chart figures.
const PLOT_CONFIG = { displaylogo: false, showSendToCloud: false, showEditInChartStudio: false, plotlyServerURL: "",
                      scrollZoom: true, responsive: true, doubleClick: "reset", doubleClickDelay: DOUBLE_CLICK_MS,
                      modeBarButtonsToRemove: ["autoScale2d", "toImage", "sendDataToCloud"] };
const RING_PX = { pick: 24, neighbours: 21 };  // rings drawn over thumbnails: just outside a 36 px picture's sides

// The plot's traces, in TRACE's order, empty: the main one is filled before newPlot, the marks by applyExtras.
function plotTraces(n) {
  const empty = () => ({ type: "scattergl", mode: "markers", x: [], y: [], hoverinfo: "skip" });
  return [
    { ...empty(), name: "points", marker: { size: n <= 12000 ? 5 : 3, opacity: 0.85, line: { width: 0 } },
      selected: { marker: { opacity: 0.85 } }, unselected: { marker: { opacity: 0.85 } } },
    { ...empty(), name: "selection", marker: { size: 7, color: "rgba(0,0,0,0)", line: { width: 1.2, color: "#fff" } } },
    { ...empty(), name: "neighbours", marker: { size: 12, symbol: "circle-open", color: "#ffb000", line: { width: 2 } } },
    { ...empty(), name: "picked", marker: { size: 20, symbol: "circle-open", color: "#ffffff", line: { width: 3 } } },
    // stars and paths are WebGL traces too: an SVG trace would be drawn under the WebGL points and hidden by them
    { ...empty(), mode: "markers+text", name: "uploads", textposition: "top center",
      textfont: { color: "#fff", size: 11 },
      marker: { size: 16, symbol: "star", color: "#ffe14d", line: { width: 1, color: "#000" } } },
    { ...empty(), mode: "lines+markers", name: "paths",
      line: { width: 2, color: "#fff" }, marker: { size: 6, color: "#fff" } },
  ];
}

function plotLayout(d) {
  const [x0, x1, y0, y1] = d.bounds;
  return {
    height: d.height, margin: { l: 0, r: 0, t: 8, b: 0 }, dragmode: "zoom", hovermode: false,
    xaxis: { visible: false, range: [x0, x1] }, yaxis: { visible: false, range: [y0, y1] },
    plot_bgcolor: "rgba(0,0,0,0)", paper_bgcolor: "rgba(0,0,0,0)", showlegend: false, uirevision: "map",
    images: [],
  };
}

export class MapController {
  constructor(root) {
    this.root = root;
    this.hooks = {};  // {hover(row, xy, event), color(mode), hidden(set), selected(rows), zoom(ranges)}: all optional
    this.hoverTimes = [];  // ms from a pointer move to the end of its hover handling (bench/compare_page.py)
    this.hidden = new Set();
    this.seq = 0;
    this.holder = document.createElement("div");  // appended, not root.innerHTML: root also holds our <style>
    root.appendChild(this.holder);
    this.holder.innerHTML = TEMPLATE;
    const q = (sel) => this.holder.querySelector(sel);
    this.el = { plot: q(".vmap-plot"), color: q(".vmap-color"), search: q(".vmap-search"), go: q(".vmap-go"), bar: q(".vmap-bar"),
                side: q(".vmap-side"), ring: q(".vmap-ring"),
                note: q(".vmap-note"), thumbs: q(".vmap-thumbs"), decoded: q(".vmap-decoded"), legend: q(".vmap-legend"),
                status: q(".vmap-status"), tip: q(".vmap-tip"), contours: q(".vmap-contours"), labels: q(".vmap-labels"),
                lens: q(".vmap-lens"), lensCaption: q(".vmap-lens-caption"), readout: q(".vmap-readout") };
    this.lens = new Lens(this.el.lens, this.el.lensCaption);
    this.thumbnails = new Thumbnails();
    this.decodedMap = new DecodedMap();
    this.densityLayer = new DensityLayer();
    this.lodImages = [];  // the level-of-detail density image, when a big map shows a sample of its points
    this.restorePrefs();
    this.bindControls();
  }

  bindControls() {
    for (const name of TOGGLES) this.el[name].addEventListener("change", () => this.savePrefs());
    this.el.color.addEventListener("change", () => this.setColor(this.el.color.value));
    this.el.thumbs.addEventListener("change", () => this.refreshThumbs(true));
    this.el.decoded.addEventListener("change", () => this.refreshDecoded());
    this.el.contours.addEventListener("change", () => this.refreshDensity());
    this.el.labels.addEventListener("change", () => this.refreshDensity());
    const find = () => this.search(this.el.search.value);
    this.el.go.addEventListener("click", find);
    this.el.search.addEventListener("keydown", (e) => { if (e.key === "Enter") find(); });
  }

  // --- data from Python ---------------------------------------------------------------------------------------
  async update(data) {
    this.data = data;
    if (data.zoom) this.linkZoom = { url: data.url, zoom: data.zoom };  // a link's view, for this map's first draw
    if (this.pendingNote && this.el.note.textContent === this.pendingNote) this.say("");  // the rerun has come
    this.pendingNote = "";
    if (data.error) { this.status(data.error, true); return; }
    if (this.url !== data.url) {
      this.url = data.url;
      this.ready = false;
      this.status("Loading the map…");
      try {
        await loadPlotly();
        const pts = await loadPoints(data.url);
        if (this.url !== data.url || this.destroyed) return;  // a newer map arrived meanwhile, or the map is gone
        this.pts = pts;
        this.hidden.clear();
        await this.draw();
      } catch (err) {
        this.status(`The map could not be drawn: ${err.message}`, true);
        return;
      }
    }
    if (this.ready) {
      this.applyExtras();
      this.setupLens(data.lens);
      this.refreshDensity();
      this.loadAtlas(data.atlas);
    }
  }

  // The lens, for this map's spec; a newly ready lens also redraws the decoded map (it decodes by the lens's rule).
  async setupLens(spec) {
    if (await this.lens.setup(spec, () => this.pts.index) && this.el.decoded.checked) this.refreshDecoded();
  }

  // The thumbnails' atlas. Its toggle is greyed out, saying why, when there is none: not silently gone.
  async loadAtlas(atlas) {
    const thumbs = this.el.thumbs;
    thumbs.disabled = !atlas || !!atlas.off;
    thumbs.parentElement.title = (atlas && atlas.off) ||
      `When you zoom in this far that at most ${THUMBS_MAX} points are in view`;
    try {
      if (await this.thumbnails.load(atlas)) this.refreshThumbs(true);
    } catch (err) {
      thumbs.disabled = true;
      thumbs.parentElement.title = "The images could not be fetched";
    }
  }

  restorePrefs() {
    try {
      const saved = JSON.parse(window.sessionStorage.getItem(PREFS) || "{}");
      for (const [name, on] of Object.entries(saved)) if (this.el[name] && typeof on === "boolean") this.el[name].checked = on;
    } catch (err) { /* storage may be off (private mode): the defaults stand */ }
  }

  savePrefs() {
    const prefs = {};
    for (const name of TOGGLES) prefs[name] = this.el[name].checked;
    try { window.sessionStorage.setItem(PREFS, JSON.stringify(prefs)); } catch (err) { /* not kept: fine */ }
  }

  setState(name, value) { if (this.setStateValue) this.setStateValue(name, value); }

  send(event, note = "") {
    this.say(note);  // a note from an earlier search must not linger under a new pick
    if (event.kind !== "selection" && ((this.gd && this.gd._fullLayout.selections) || []).length) {
      window.Plotly.relayout(this.gd, { selections: [] });  // the last box/lasso outline goes with its selection
    }
    this.seq += 1;
    // the colour rides along (a state change of its own would rerun the script: colour must not)
    this.setState("event", { ...event, color: this.mode, seq: `${Date.now()}-${this.seq}` });
  }

  status(text, warn = false) {
    this.el.status.textContent = text;
    this.el.status.classList.toggle("warn", warn);
  }

  // --- drawing ---------------------------------------------------------------------------------------------------
  colorValues(mode) {
    this.colorCache = this.colorCache || {};
    const key = `${this.url}:${mode}`;
    if (!this.colorCache[key]) {
      const src = this.pts[mode];  // label, recon, kl, or an extra array of the points file (Compare's agreement)
      this.colorCache[key] = src instanceof Float32Array ? src : Float32Array.from(src);
    }
    return this.colorCache[key];
  }

  markerFor(mode, values) {
    const d = this.data, names = d.classNames || [];
    if (mode === "label") {
      const n = Math.max(names.length, 1), scale = [];
      for (let i = 0; i < n; i++) {
        const c = d.palette[i % d.palette.length];
        scale.push([i / n, c], [(i + 1) / n, c]);
      }
      return { color: values, colorscale: scale, cmin: -0.5, cmax: n - 0.5, showscale: false };
    }
    const range = (d.colorRanges || {})[mode];  // a fixed scale (agreement: 0 to 1), else the values' own
    return { color: values, colorscale: "Viridis", showscale: true, ...(range ? { cmin: range[0], cmax: range[1] } : {}),
             colorbar: { title: { text: d.colorModes[mode], side: "right" }, thickness: 12, len: 0.8, y: 0.45 } };
  }

  async draw() {
    const d = this.data;
    this.el.color.innerHTML = Object.entries(d.colorModes)
      .map(([k, v]) => `<option value="${k}">${v}</option>`).join("");
    this.mode = d.colorModes[this.mode] ? this.mode : d.color;
    this.el.color.value = this.mode;
    const [x0, x1, y0, y1] = d.bounds;
    this.fullRange = { x: [x0, x1], y: [y0, y1] };
    const gd = this.el.plot, traces = plotTraces(this.pts.n), layout = plotLayout(d);
    if (this.gd) window.Plotly.purge(gd);
    this.extrasSignature = null;  // a new plot starts with no marks
    this.densityLayer.reset();    // nor contours or labels
    this.rings = []; this.ringsKey = "[]";  // nor rings
    const main = this.refreshPoints(true);  // drawn by newPlot itself: one draw, not an empty one then a restyle
    Object.assign(traces[0], { x: main.x, y: main.y, marker: main.marker });
    layout.images = main.images;
    const linked = this.linkZoom && this.linkZoom.url === d.url ? this.linkZoom.zoom : null;
    this.linkZoom = null;
    if (linked) { layout.xaxis.range = linked.slice(0, 2); layout.yaxis.range = linked.slice(2, 4); }
    await window.Plotly.newPlot(gd, traces, layout, PLOT_CONFIG);
    this.gd = gd;
    if (linked) this.refreshPoints();  // what is in view (thumbnails, a big map's level of detail) at that zoom
    this.writeZoom();
    if (!this.zoomTimer) this.zoomTimer = setInterval(() => this.writeZoom(), ZOOM_RECHECK_MS);
    if (!this.bound) { this.bindDom(); this.bound = true; }
    this.bindPlotly();  // newPlot after purge drops Plotly's own handlers
    this.drawLegend();
    this.ready = true;
  }

  // Which points Plotly draws: all of them while they fit the bound; past it, those in view (thinned to the bound)
  // over a density image of everything in view (level of detail: Plotly never draws more than `maxMarkers`).
  // first: before newPlot (the whole map in view); returns the main trace's data instead of restyling it.
  refreshPoints(first = false) {
    const pts = this.pts, gd = this.gd;
    const xr = first ? this.fullRange.x : gd._fullLayout.xaxis.range;
    const yr = first ? this.fullRange.y : gd._fullLayout.yaxis.range;
    const range = [Math.min(...xr), Math.max(...xr), Math.min(...yr), Math.max(...yr)];
    const keep = this.keepFn(), inView = this.choosePoints(range, keep), shown = this.shown;
    const values = this.colorValues(this.mode);
    let x = pts.x, y = pts.y, c = values;
    if (shown) {
      x = new Float32Array(shown.length); y = new Float32Array(shown.length); c = new Float32Array(shown.length);
      for (let k = 0; k < shown.length; k++) { const i = shown[k]; x[k] = pts.x[i]; y[k] = pts.y[i]; c[k] = values[i]; }
    }
    const marker = { ...this.markerFor(this.mode, c), size: (shown ? shown.length : pts.n) <= 12000 ? 5 : 3,
                     opacity: 0.85, line: { width: 0 } };
    const H = Math.round(320 * (this.data.height / Math.max(this.el.plot.clientWidth, 1))) || 240;
    this.lodImages = this.lod ? [densityImage(pts, range, keep, this.data.palette, 320, H)] : [];
    const images = first ? this.lodImages : this.layoutImages(this.thumbnailImages());
    if (!first) {
      window.Plotly.update(gd, { x: [x], y: [y], marker: [marker] }, { images }, [TRACE.main]);  // one redraw
      this.refreshRings();  // the thumbnails may have come or gone
    }
    this.drawn = shown ? shown.length : pts.n - pts.leftOut;
    this.status(...this.pointsStatus(inView));
    return { x, y, marker, images };
  }

  // Sets this.shown (the rows drawn, null: every point in row order) and this.lod; returns how many are in view.
  choosePoints([xa, xb, ya, yb], keep) {
    const pts = this.pts, max = this.data.maxMarkers;
    const fits = pts.n - pts.leftOut <= max;
    this.shown = null;
    this.lod = false;
    if (fits && !this.hidden.size) return 0;
    const bound = fits ? max : this.data.lodMarkers;  // past max: a bounded sample in view
    const chosen = [];
    for (let i = 0; i < pts.n; i++) {
      const a = pts.x[i], b = pts.y[i];
      if (!(a >= xa && a <= xb && b >= ya && b <= yb) || (keep && !keep(i))) continue;
      chosen.push(i);
    }
    const stride = Math.max(1, Math.ceil(chosen.length / bound));
    this.shown = stride === 1 ? Int32Array.from(chosen) : Int32Array.from(chosen.filter((_, k) => k % stride === 0));
    this.lod = stride > 1;
    return chosen.length;
  }

  pointsStatus(inView) {
    const pts = this.pts, parts = [`${(pts.n - pts.leftOut).toLocaleString()} points`];
    if (this.lod) parts.push(`${this.drawn.toLocaleString()} of ${inView.toLocaleString()} in view drawn as markers over their density (zoom in for all)`);
    if (this.hidden.size) parts.push(`${this.hidden.size} class${this.hidden.size > 1 ? "es" : ""} hidden`);
    if (pts.leftOut) parts.push(`${pts.leftOut.toLocaleString()} left out: NaN/infinite map coordinates`);
    return [parts.join(" · "), pts.leftOut > 0];
  }

  // The plot's images, bottom to top: decoded tiles, the level-of-detail density image, thumbnails.
  layoutImages(thumbnails) {
    return this.decodedMap.images.concat(this.lodImages, thumbnails);
  }

  thumbnailImages() {
    if (!this.gd) { this.thumbnails.rows = []; return []; }
    return this.thumbnails.images(this.pts, this.gd._fullLayout, this.keepFn(), this.el.thumbs.checked);
  }

  refreshThumbs(force) {
    if (!this.gd) return;
    const before = this.thumbnails.rows.join(","), images = this.thumbnailImages();
    const zoom = this.gd._fullLayout.xaxis._m;
    if (!force && before === this.thumbnails.rows.join(",") && (!images.length || zoom === this.thumbZoom)) return;
    this.thumbZoom = zoom;
    window.Plotly.relayout(this.gd, { images: this.layoutImages(images) });
    this.refreshRings();
  }

  // At deep zoom the thumbnails (SVG images, above the WebGL points) would hide the rings of the picked point and
  // its neighbours: while any thumbnail is drawn the rings are drawn again as shapes, which Plotly puts above images.
  ringShapes() {
    if (!this.thumbnails.rows.length || !this.marks) return [];
    const ring = (x, y, r, color, width) => ({
      type: "circle", xref: "x", yref: "y", xsizemode: "pixel", ysizemode: "pixel", xanchor: x, yanchor: y,
      x0: -r, x1: r, y0: -r, y1: r, layer: "above", fillcolor: "rgba(0,0,0,0)", line: { color, width } });
    const out = [], { neighbours, pick } = this.marks;
    neighbours[0].forEach((x, k) => out.push(ring(x, neighbours[1][k], RING_PX.neighbours, "#ffb000", 2.5)));
    pick[0].forEach((x, k) => out.push(ring(x, pick[1][k], RING_PX.pick, "#ffffff", 3.5)));
    return out;
  }

  refreshRings() {
    const rings = this.ringShapes(), key = JSON.stringify(rings);
    if (key === this.ringsKey) return;
    this.ringsKey = key;
    this.rings = rings;
    window.Plotly.relayout(this.gd, { shapes: this.densityLayer.shapes.concat(rings) });
  }

  // The decoded map, by the lens's rule, over the view; off (or no lens yet): no tiles.
  async refreshDecoded() {
    if (!this.gd) return;
    if (!this.el.decoded.checked || !this.lens.ready) {
      if (this.decodedMap.clear()) this.refreshThumbs(true);
      return;
    }
    if (await this.decodedMap.refresh(this.gd._fullLayout, this.lens)) this.refreshThumbs(true);
  }

  // Density contours and region labels, as the toggles and the hidden classes say.
  async refreshDensity() {
    const spec = this.data.density, on = spec && !spec.error;
    for (const el of [this.el.contours, this.el.labels]) el.parentElement.style.display = on ? "" : "none";
    if (!this.gd || !on) return;
    let update;
    try {
      update = await this.densityLayer.layout(spec, this.el.contours.checked, this.el.labels.checked, this.hidden, this.gd);
    } catch (err) {
      this.status(err.message, true);
      return;
    }
    if (!update) return;
    this.el.labels.parentElement.title = `Each dense region's classes, named where each is densest (its share of the ` +
      `points there shown when under 60 %). Found in ${(1000 * this.densityLayer.seconds).toFixed(0)} ms on the server.`;
    window.Plotly.relayout(this.gd, { ...update, shapes: update.shapes.concat(this.rings || []) });
  }

  relayoutLabels() {
    const layer = this.densityLayer;
    if (layer.peaks.length) window.Plotly.relayout(this.gd, { annotations: layer.placeLabels(this.gd._fullLayout) });
  }

  keepFn() {
    if (!this.hidden.size) return null;
    const label = this.pts.label, hidden = this.hidden;
    return (i) => !hidden.has(label[i]);
  }

  setColor(mode) {
    if (!this.data.colorModes[mode]) return;
    this.mode = mode;
    this.el.color.value = mode;
    const t0 = performance.now();
    this.refreshPoints();
    this.drawLegend();
    this.lastColorMs = performance.now() - t0;
    if (this.hooks.color) this.hooks.color(mode);
  }

  // The legend filters classes in every colour mode (a hidden class must stay reachable); its swatches are the
  // classes' colours only when the points are coloured by label.
  drawLegend() {
    const d = this.data, names = d.classNames || [], byLabel = this.mode === "label";
    if (!names.length) { this.el.legend.innerHTML = ""; return; }
    const counts = new Int32Array(names.length);
    for (let i = 0; i < this.pts.n; i++) { const l = this.pts.label[i]; if (l >= 0 && l < names.length) counts[l]++; }
    this.el.legend.innerHTML = "";
    names.forEach((name, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = this.hidden.has(i) ? "off" : "";
      b.title = "Click to hide or show this class";
      b.dataset.label = String(i);
      const sw = document.createElement("span");
      sw.className = byLabel ? "swatch" : "swatch plain";
      if (byLabel) sw.style.background = d.palette[i % d.palette.length];
      b.append(sw, document.createTextNode(`${name} (${counts[i].toLocaleString()})`));
      b.addEventListener("click", () => {
        const hidden = new Set(this.hidden);
        if (hidden.has(i)) hidden.delete(i); else hidden.add(i);
        this.setHidden(hidden);
      });
      this.el.legend.appendChild(b);
    });
  }

  // Hide these classes (the legend's filter); a linked map hears of it through hooks.hidden.
  setHidden(classes) {
    const hidden = new Set(classes);
    if (hidden.size === this.hidden.size && [...hidden].every((c) => this.hidden.has(c))) return;
    this.hidden = hidden;
    this.refreshPoints();
    this.drawLegend();
    this.applyExtras();
    this.refreshDensity();
    if (this.hooks.hidden) this.hooks.hidden(new Set(hidden));
  }

  // --- highlights and overlays from Python (picked point, neighbours, selection, uploads, paths) ---------------
  applyExtras() {
    const d = this.data, pts = this.pts, focus = d.focus || {};
    const rowsXY = (rows) => {
      const x = [], y = [];
      for (const i of rows || []) if (i >= 0 && i < pts.n && Number.isFinite(pts.x[i])) { x.push(pts.x[i]); y.push(pts.y[i]); }
      return [x, y];
    };
    const [sx, sy] = rowsXY(focus.rows);
    const [nx, ny] = rowsXY(focus.neighbours);
    let [px, py] = focus.row !== undefined && focus.row !== null ? rowsXY([focus.row]) : [[], []];
    if (focus.xy) { px = [focus.xy[0]]; py = [focus.xy[1]]; }
    if (this.localPick) { [px, py] = [[this.localPick[0]], [this.localPick[1]]]; }
    const ups = (d.overlays && d.overlays.uploads) || [];
    const paths = (d.overlays && d.overlays.paths) || [];
    const lx = [], ly = [];
    for (const p of paths) { lx.push(...p.x, NaN); ly.push(...p.y, NaN); }
    // a restyle redraws every WebGL trace (the big one too): only when the marks really changed
    const signature = JSON.stringify([sx.length, sx.slice(0, 50), nx, px, py, ups, lx.length, lx.slice(0, 50)]);
    this.localPick = null;
    this.marks = { neighbours: [nx, ny], pick: [px, py] };
    if (signature === this.extrasSignature) return;
    this.extrasSignature = signature;
    window.Plotly.restyle(this.gd, {
      x: [sx, nx, px, ups.map((u) => u.x), lx], y: [sy, ny, py, ups.map((u) => u.y), ly],
      text: [[], [], [], ups.map((u) => u.name), []],
    }, [TRACE.selection, TRACE.neighbours, TRACE.pick, TRACE.uploads, TRACE.paths]);
    this.refreshRings();
  }

  // The zoom in the address bar (reload or share the link: it opens there), written here without a rerun; the whole
  // map drops it. Streamlit rewrites the bar with its own parameters after a run, so it is checked again each second.
  writeZoom() {
    if (!this.gd || this.destroyed || this.data.zoomInLink === false) return;
    const fl = this.gd._fullLayout, full = this.fullRange;
    const view = [...fl.xaxis.range, ...fl.yaxis.range].map(Number);
    const whole = [...full.x, ...full.y];
    const span = Math.max(whole[1] - whole[0], whole[3] - whole[2]);
    const url = new URL(window.location.href);
    if (view.every((v, i) => Math.abs(v - whole[i]) < 1e-6 * span)) url.searchParams.delete("zoom");
    else url.searchParams.set("zoom", view.map((v) => Number(v.toFixed(3))).join(","));
    if (url.href !== window.location.href) window.history.replaceState(window.history.state, "", url.href);
  }

  // --- mouse: hover tooltip, click to pick, box/lasso ---------------------------------------------------------
  toData(clientX, clientY) {
    const gd = this.gd, fl = gd._fullLayout, r = gd.getBoundingClientRect();
    const px = clientX - r.left - fl._size.l, py = clientY - r.top - fl._size.t;
    if (px < 0 || py < 0 || px > fl._size.w || py > fl._size.h) return null;
    return [fl.xaxis.p2l(px), fl.yaxis.p2l(py)];
  }

  pagePos(row) {  // page pixels of a row's point (tests and the search jump)
    const gd = this.gd, fl = gd._fullLayout, r = gd.getBoundingClientRect();
    return { x: r.left + fl._size.l + fl.xaxis.l2p(this.pts.x[row]), y: r.top + fl._size.t + fl.yaxis.l2p(this.pts.y[row]) };
  }

  // The nearest point on screen within PICK_PX pixels (axes may scale x and y differently: compare in pixels).
  pointNear(xy) {
    const fl = this.gd._fullLayout, mx = Math.abs(fl.xaxis._m), my = Math.abs(fl.yaxis._m);
    const found = nearest(this.pts.index, xy[0], xy[1], 8, this.keepFn());
    let best = null;
    for (const [, row] of found) {
      const d = Math.hypot((this.pts.x[row] - xy[0]) * mx, (this.pts.y[row] - xy[1]) * my);
      if (d <= PICK_PX && (!best || d < best.px)) best = { row, px: d };
    }
    return best;
  }

  // The press is on Plotly's drag surface (the plot area), not on a control or a label drawn over it. Region labels
  // let presses through to that surface (no pointer events of their own), so their boxes are checked here.
  onPlotArea(e) {
    if (!(e.target instanceof Element) || !e.target.classList.contains("nsewdrag")) return false;
    for (const label of this.gd.querySelectorAll("g.annotation")) {
      const r = label.getBoundingClientRect();
      if (e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom) return false;
    }
    return true;
  }

  bindDom() {
    const gd = this.gd;
    let down = null, frame = 0, last = null;
    gd.addEventListener("pointerdown", (e) => {
      // only a press on the plot area itself can pick: the mode bar, a region label and the colour bar are over
      // or beside it, and a click on them (Zoom, Pan, Box Select…) is never a click on the map
      if (!this.onPlotArea(e)) { down = null; return; }
      down = { x: e.clientX, y: e.clientY, far: 0 };
      if (this.pendingSpace) { clearTimeout(this.pendingSpace); this.pendingSpace = 0; }  // a double-click: no pick
    }, true);
    // Plotly covers the page with a drag cover on mousedown, so the release lands outside gd: listen on window
    // a click is a press that never strayed 4 px (a lasso may end where it began: it is not a click)
    const onMove = (e) => { if (down) down.far = Math.max(down.far, Math.hypot(e.clientX - down.x, e.clientY - down.y)); };
    const onUp = (e) => {
      if (!down || Math.max(down.far, Math.hypot(e.clientX - down.x, e.clientY - down.y)) > 4 || e.button !== 0) {
        down = null;
        return;
      }
      down = null;
      const second = e.timeStamp - (this.lastClick || -Infinity) < DOUBLE_CLICK_MS;
      this.lastClick = second ? -Infinity : e.timeStamp;
      if (second) return;  // the second half of a double-click (Plotly resets the zoom): no pick
      const xy = this.toData(e.clientX, e.clientY);
      if (xy) this.pick(xy);
    };
    window.addEventListener("pointermove", onMove, true);
    window.addEventListener("pointerup", onUp, true);
    this.unbind = () => {
      window.removeEventListener("pointermove", onMove, true);
      window.removeEventListener("pointerup", onUp, true);
    };
    gd.addEventListener("pointermove", (e) => {
      last = e;
      if (!frame) frame = requestAnimationFrame(() => { frame = 0; this.hover(last); });
    }, true);
    gd.addEventListener("pointerleave", () => {
      this.el.tip.style.display = "none";
      if (this.hooks.hover) this.hooks.hover(null, null, null);
    });
  }

  bindPlotly() {
    const gd = this.gd;
    gd.on("plotly_selected", (ev) => this.selected(ev));
    gd.on("plotly_relayout", (ev) => {
      if (ev && Object.keys(ev).some((k) => k.startsWith("xaxis") || k.startsWith("yaxis") || k === "autosize")) {
        this.writeZoom();
        if (this.pts.n - this.pts.leftOut > this.data.maxMarkers || this.hidden.size) this.refreshPoints();
        else this.refreshThumbs(false);
        if (this.el.decoded.checked) this.refreshDecoded();
        this.relayoutLabels();  // which labels fit, and where, depends on the zoom
        this.placeRing();
        if (this.hooks.zoom) this.hooks.zoom({ x: this.gd._fullLayout.xaxis.range.slice(), y: this.gd._fullLayout.yaxis.range.slice() });
      }
    });
  }

  hover(e) {
    const xy = this.toData(e.clientX, e.clientY), tip = this.el.tip;
    this.hoverCount = (this.hoverCount || 0) + 1;
    const hit = xy ? this.pointNear(xy) : null;
    if (xy) {
      this.readout(xy);
      this.lens.show(xy, e.timeStamp).catch(() => {});
    }
    if (hit) {
      const i = hit.row, names = this.data.classNames || [], label = this.pts.label[i];
      tip.textContent = `#${i} · ${names[label] ?? label} · −ELBO ${(-this.pts.elbo[i]).toFixed(1)}`;
      const box = this.root.querySelector(".vmap").getBoundingClientRect();
      tip.style.left = `${e.clientX - box.left + 12}px`;
      tip.style.top = `${e.clientY - box.top + 12}px`;
    }
    tip.style.display = hit ? "block" : "none";
    if (this.hooks.hover) this.hooks.hover(hit ? hit.row : null, xy, e);
    if (this.hoverTimes.length < 5000) this.hoverTimes.push(performance.now() - e.timeStamp);
  }

  // A ring around row's point (null: none), drawn as a page element over the plot: no Plotly redraw, so a linked
  // map can follow the cursor of another at pointer speed. It follows zooms; a point out of view has no ring.
  ring(row) {
    this.ringRow = row === null || row === undefined || !this.pts || row < 0 || row >= this.pts.n ? null : row;
    this.placeRing();
  }

  placeRing() {
    const el = this.el.ring, row = this.ringRow;
    if (row === null || row === undefined || !this.gd || !Number.isFinite(this.pts.x[row])) { el.style.display = "none"; return; }
    const fl = this.gd._fullLayout, px = fl.xaxis.l2p(this.pts.x[row]), py = fl.yaxis.l2p(this.pts.y[row]);
    if (px < 0 || py < 0 || px > fl._size.w || py > fl._size.h) { el.style.display = "none"; return; }
    el.style.left = `${fl._size.l + px}px`;
    el.style.top = `${fl._size.t + py}px`;
    el.style.display = "block";
  }

  // Mark these rows as selected (another map's box or lasso), in the page; Python's next focus replaces it.
  showSelection(rows) {
    const x = [], y = [];
    for (const i of rows) if (i >= 0 && i < this.pts.n && Number.isFinite(this.pts.x[i])) { x.push(this.pts.x[i]); y.push(this.pts.y[i]); }
    this.extrasSignature = null;  // the next highlights from Python are drawn whatever they are
    window.Plotly.restyle(this.gd, { x: [x], y: [y] }, [TRACE.selection]);
  }

  // Show these axis ranges ({x: [x0, x1], y: [y0, y1]}), unless they are shown already (a linked map's zoom).
  zoomTo(ranges) {
    if (!this.gd) return;
    const fl = this.gd._fullLayout, same = (a, b) => Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]) < 1e-9 * (1 + Math.abs(b[1] - b[0]));
    if (same(fl.xaxis.range, ranges.x) && same(fl.yaxis.range, ranges.y)) return;
    window.Plotly.relayout(this.gd, { "xaxis.range": ranges.x.slice(), "yaxis.range": ranges.y.slice() });
  }

  // Distance from the cursor to the data: map units, and where that sits among the points' own neighbour spacings.
  readout(xy) {
    const found = nearest(this.pts.index, xy[0], xy[1], 1, null);
    if (!found.length) return;
    const dist = found[0][0], pct = percentile(this.pts.nnSorted, dist);
    this.lastReadout = { x: xy[0], y: xy[1], distance: dist, percentile: pct };
    const far = dist > this.data.farDistance;
    // three short lines under the lens (its column is narrow): where, how far from the data, and what that means
    this.el.readout.title = `${dist.toFixed(3)} map units to the nearest point: farther than ${pct.toFixed(0)}% of ` +
      "the points lie from their own nearest neighbour";
    this.el.readout.textContent = `(${xy[0].toFixed(2)}, ${xy[1].toFixed(2)})\n${dist.toFixed(2)} map units to the ` +
      `nearest point\n${far ? "outside the data: a guess" : `within the data (p${pct.toFixed(0)})`}`;
    this.el.readout.classList.toggle("warn", far);
  }

  pick(xy) {
    const hit = this.pointNear(xy);
    // Only the event: the rerun brings the pick and its neighbours back as data, drawn in one redraw after the
    // detail panel has rendered (a redraw here would hold the main thread while the detail arrives: ~0.4 s at 70k).
    if (hit) { this.send({ kind: "point", row: hit.row }); return; }
    const spot = [Number(xy[0].toFixed(4)), Number(xy[1].toFixed(4))];
    this.pendingSpace = setTimeout(() => { this.pendingSpace = 0; this.send({ kind: "space", xy: spot }); },
                                   DOUBLE_CLICK_MS);
  }

  selected(ev) {
    if (!ev || (!ev.range && !ev.lassoPoints)) return;  // a double-click clears Plotly's outline: keep the last pick
    if (this.pendingSpace) { clearTimeout(this.pendingSpace); this.pendingSpace = 0; }  // a selection, not a click
    const pts = this.pts, keep = this.keepFn(), rows = [];
    this.lastShape = ev.range ? { range: ev.range } : { lasso: ev.lassoPoints };
    if (ev.range) {
      const [xa, xb] = ev.range.x.slice().sort((a, b) => a - b), [ya, yb] = ev.range.y.slice().sort((a, b) => a - b);
      for (let i = 0; i < pts.n; i++) {
        const a = pts.x[i], b = pts.y[i];
        if (a >= xa && a <= xb && b >= ya && b <= yb && (!keep || keep(i))) rows.push(i);
      }
    } else {
      const xs = ev.lassoPoints.x, ys = ev.lassoPoints.y;
      const [xa, xb, ya, yb] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
      for (let i = 0; i < pts.n; i++) {
        const a = pts.x[i], b = pts.y[i];
        if (!(a >= xa && a <= xb && b >= ya && b <= yb) || (keep && !keep(i))) continue;
        if (pointInPolygon(a, b, xs, ys)) rows.push(i);
      }
    }
    const cap = this.data.maxSelection;
    if (this.hooks.selected) this.hooks.selected(rows.slice(0, cap));
    // said at once: the grid beside the map takes a rerun (seconds on a big selection)
    this.pendingNote = rows.length ? `${rows.length.toLocaleString()} points selected: opening them beside the map…` : "";
    this.send({ kind: "selection", rows: rows.slice(0, cap), total: rows.length }, this.pendingNote);
  }

  // Search by index: zoom to the point, mark it, show it in the lens and open its detail. What went wrong is said
  // beside the box, where the person is looking.
  search(text) {
    const typed = String(text).trim(), row = Number(typed), n = this.pts.n;
    const range = `0 to ${(n - 1).toLocaleString()}`;
    if (!/^-?\d+$/.test(typed)) {
      this.say(typed ? `“${typed.slice(0, 20)}” is not a point number: type a whole number from ${range}.`
        : `Type a point number from ${range}.`, true);
      return;
    }
    if (row < 0 || row >= n) {
      this.say(`No point #${typed}: this map's points are numbered ${range}.`, true);
      return;
    }
    if (!Number.isFinite(this.pts.x[row])) {
      this.say(`Point #${row} has no place on this map (its coordinates are NaN/infinite).`, true);
      return;
    }
    const fl = this.gd._fullLayout, span = (r) => Math.abs(r[1] - r[0]);
    const full = this.fullRange, half = (s) => s / 2;
    const sx = Math.min(span(fl.xaxis.range), span(full.x) / 4), sy = Math.min(span(fl.yaxis.range), span(full.y) / 4);
    const x = this.pts.x[row], y = this.pts.y[row];
    window.Plotly.relayout(this.gd, { "xaxis.range": [x - half(sx), x + half(sx)], "yaxis.range": [y - half(sy), y + half(sy)] });
    if (this.hidden.has(this.pts.label[row])) { this.hidden.delete(this.pts.label[row]); this.refreshPoints(); this.drawLegend(); }
    this.localPick = [x, y];
    this.applyExtras();
    this.readout([x, y]);  // the lens shows the found point's spot, not wherever the cursor last was
    this.lens.show([x, y], performance.now()).catch(() => {});
    this.send({ kind: "point", row }, `Found #${row}.`);
  }

  say(text, warn = false) {
    this.el.note.textContent = text;
    this.el.note.classList.toggle("warn", warn);
  }

  destroy() {
    this.destroyed = true;
    clearInterval(this.zoomTimer);
    if (this.unbind) this.unbind();
    if (this.gd && window.Plotly) window.Plotly.purge(this.gd);
    this.holder.remove();
  }
}

export default function (component) {
  const { parentElement, data, setStateValue } = component;
  let ctl = controllers.get(parentElement);
  if (!ctl) {
    ctl = new MapController(parentElement);
    controllers.set(parentElement, ctl);
    testHook.maps.push(ctl);
  }
  ctl.setStateValue = setStateValue;  // a rerun hands a fresh setter; events must use the current one
  ctl.update(data).catch((err) => ctl.status(`The map could not start: ${err.message}`, true));
  return () => {
    ctl.destroy();
    if (controllers.get(parentElement) === ctl) controllers.delete(parentElement);
    const i = testHook.maps.indexOf(ctl);
    if (i >= 0) testHook.maps.splice(i, 1);
  };
}
