// The Map's layers beyond the markers, as methods of MapController (map.js): the lens (decode under the cursor
// through the shared engine, engine.js), thumbnails at deep zoom, the decoded-map tiles, the density image.
// Concatenated after map.js by the Python wrapper (one module).

Object.assign(MapController.prototype, {
  // --- the lens: decode under the cursor in the page, through the shared engine (engine.js) --------------------
  async setupLens(lens) {
    const key = JSON.stringify(lens || null);
    if (key === this.lensKey) return;
    this.lensKey = key;
    this.lensFn = null;
    const caption = this.el.lensCaption;
    if (!lens || lens.error) { caption.textContent = lens ? lens.error : "The lens is off."; return; }
    caption.textContent = "Loading the lens…";
    try {
      const canvas = this.el.lens, shape = lens.shape;
      let view, session, zOf = (xy) => Float32Array.of(xy[0], xy[1]);  // learned (xy -> image) and exact (z = xy)
      if (lens.method === "learned") {
        session = await loadDecoder(lens.graphUrl);
        view = liveView(canvas, session, shape);
      } else {
        session = await loadDecoder(lens.decoderUrl);
        view = liveView(canvas, session, shape);
        if (lens.method === "knn") {
          const table = await loadLatents(lens.placementUrl);
          zOf = (xy) => Float32Array.from(window.VMapPoints.blend(
            window.VMapPoints.nearest(this.pts.index, xy[0], xy[1], table.k, null), table.latents, table.d));
        }
      }
      if (key !== this.lensKey) return;
      this.lensView = view;
      this.lensZ = zOf;
      this.lensSession = session;
      this.lensShape = shape;
      if (this.el.decoded.checked) this.refreshDecoded();
      this.lensTimes = [];
      this.lensFn = (xy, t0) => {
        const before = view.painted;
        return view.show(zOf(xy)).then(() => {
          if (view.painted > before && this.lensTimes.length < 5000) this.lensTimes.push(performance.now() - t0);
        });
      };
      caption.textContent = `Lens: ${lens.name}. Click to pin it.`;
    } catch (err) {
      caption.textContent = engineFailed(err).replace(/: images are decoded.*$/, ": click to decode on the server.");
    }
  },

  // --- images on the map: at deep zoom each point in view is drawn as its own thumbnail, cut from one atlas -----
  async loadAtlas() {
    const atlas = this.data.atlas;
    if (!atlas || atlas.off || (this.atlas && this.atlas.url === atlas.url)) return;
    const image = await loadImage(atlas.url);
    const canvas = document.createElement("canvas");
    canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
    canvas.getContext("2d").drawImage(image, 0, 0);
    this.atlas = { ...atlas, canvas, crops: new Map() };
    this.refreshThumbs(true);
  },

  thumbURL(row) {
    const a = this.atlas;
    if (!a.crops.has(row)) {
      const [h, w] = a.size, c = document.createElement("canvas");
      c.width = w; c.height = h;
      c.getContext("2d").drawImage(a.canvas, (row % a.cols) * w, Math.floor(row / a.cols) * h, w, h, 0, 0, w, h);
      a.crops.set(row, c.toDataURL());
    }
    return a.crops.get(row);
  },

  thumbnailImages() {
    this.thumbRows = [];
    if (!this.el.thumbs.checked || !this.atlas || this.atlas.n !== this.pts.n || !this.gd) return [];
    const pts = this.pts, fl = this.gd._fullLayout, keep = this.keepFn();
    const [xa, xb] = fl.xaxis.range.slice().sort((p, q) => p - q), [ya, yb] = fl.yaxis.range.slice().sort((p, q) => p - q);
    const rows = [];
    for (let i = 0; i < pts.n; i++) {
      const x = pts.x[i], y = pts.y[i];
      if (!(x >= xa && x <= xb && y >= ya && y <= yb) || (keep && !keep(i))) continue;
      rows.push(i);
      if (rows.length > THUMBS_MAX) return [];
    }
    this.thumbRows = rows;
    const sx = THUMB_PX / Math.abs(fl.xaxis._m), sy = THUMB_PX / Math.abs(fl.yaxis._m);
    return rows.map((i) => ({ source: this.thumbURL(i), xref: "x", yref: "y", x: pts.x[i], y: pts.y[i], sizex: sx,
                              sizey: sy, xanchor: "center", yanchor: "middle", sizing: "stretch", layer: "above" }));
  },

  // The decoded map: a G×G grid over the view, decoded in one batch by the lens's graphs, drawn under the markers.
  async refreshDecoded() {
    if (!this.gd) return;
    if (!this.el.decoded.checked || !this.lensSession) {
      if ((this.decodedImages || []).length) { this.decodedImages = []; this.refreshThumbs(true); }
      return;
    }
    const G = 12, fl = this.gd._fullLayout, shape = this.lensShape, size = shape.reduce((p, q) => p * q, 1);
    const [xa, xb] = fl.xaxis.range.slice().sort((p, q) => p - q), [ya, yb] = fl.yaxis.range.slice().sort((p, q) => p - q);
    const dx = (xb - xa) / G, dy = (yb - ya) / G, centres = [];
    for (let r = 0; r < G; r++) for (let c = 0; c < G; c++) centres.push([xa + (c + 0.5) * dx, yb - (r + 0.5) * dy]);
    const zs = centres.map((xy) => this.lensZ(xy)), dim = zs[0].length, batch = new Float32Array(G * G * dim);
    zs.forEach((z, k) => batch.set(z, k * dim));
    const stamp = (this.decodedStamp = (this.decodedStamp || 0) + 1);
    const means = await this.lensSession.decode(batch, G * G);
    if (stamp !== this.decodedStamp) return;  // the view moved on meanwhile
    const canvas = document.createElement("canvas");
    this.decodedImages = centres.map(([x, y], k) => {
      paintMeans(canvas, means, shape, k * size);
      return { source: canvas.toDataURL(), xref: "x", yref: "y", x, y, sizex: dx, sizey: dy, xanchor: "center",
               yanchor: "middle", sizing: "stretch", layer: "below", opacity: 0.85 };
    });
    this.refreshThumbs(true);
  },

  refreshThumbs(force) {
    if (!this.gd) return;
    const before = (this.thumbRows || []).join(","), images = this.thumbnailImages();
    const zoom = this.gd._fullLayout.xaxis._m;
    if (!force && before === this.thumbRows.join(",") && (!images.length || zoom === this.thumbZoom)) return;
    this.thumbZoom = zoom;
    window.Plotly.relayout(this.gd, { images: (this.decodedImages || []).concat(this.density || [], images) });
  },

  // --- density contours and the dense regions' labels (vae_core/density.py), fetched once per map ---------------
  // Shapes and annotations sit above Plotly's WebGL points, and zoom with the map: no redraw of the points.
  async refreshDensity() {
    const d = this.data.density;
    for (const el of [this.el.contours, this.el.labels]) el.parentElement.style.display = d && !d.error ? "" : "none";
    if (!this.gd || !d || d.error) return;
    const key = JSON.stringify([d.url, this.el.contours.checked, this.el.labels.checked, [...this.hidden].sort()]);
    if (key === this.densityKey) return;
    this.densityKey = key;
    const layer = (this.densityCache = this.densityCache || new Map());
    if (!layer.has(d.url)) {
      layer.set(d.url, fetch(asset(d.url)).then((r) => {
        if (!r.ok) throw new Error(`the density layer could not be fetched (${r.status})`);
        return r.json();
      }).catch((err) => { layer.delete(d.url); throw err; }));
    }
    let found;
    try { found = await layer.get(d.url); } catch (err) { this.status(err.message, true); this.densityKey = null; return; }
    if (key !== this.densityKey) return;  // toggled again meanwhile
    this.el.labels.parentElement.title = `Each dense region's classes, named where each is densest (its share of the ` +
      `points there shown when under 60 %). Found in ${(1000 * found.seconds).toFixed(0)} ms on the server.`;
    const shapes = !this.el.contours.checked ? [] : found.contours.map((c, k) => ({
      type: "path", path: c.path, xref: "x", yref: "y", layer: "above",
      line: { color: `rgba(255,255,255,${(0.3 + 0.5 * k / Math.max(1, found.contours.length - 1)).toFixed(2)})`, width: 1 },
      fillcolor: "rgba(0,0,0,0)" }));
    this.labelSource = !this.el.labels.checked ? [] : found.peaks.filter((p) => p.label < 0 || !this.hidden.has(p.label));
    this.densityShapes = shapes;
    window.Plotly.relayout(this.gd, { shapes, annotations: this.placeLabels() });
  },

  // The labels that fit this view, strongest first: each tries its spot, then a row above or below; one that still
  // overlaps a stronger label (or would leave the plot) is left out until a zoom makes room. Pixels, not map units.
  placeLabels() {
    const src = this.labelSource || [], fl = this.gd._fullLayout, W = fl._size.w, H = fl._size.h, rowH = 18;
    const ctx = (this.measure = this.measure || document.createElement("canvas").getContext("2d"));
    ctx.font = "bold 12px sans-serif";
    const escape = (t) => String(t).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    const placed = [], out = [];
    for (const p of src) {
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
        out.push({ x: p.x, y: p.y, xref: "x", yref: "y", showarrow: false, xshift: shift, yshift: -dy,
                   text: `<b>${escape(p.text)}</b>${share}`, font: { color: "#fff", size: 12 },
                   bgcolor: "rgba(14,17,23,0.8)", borderpad: 2 });
        break;
      }
    }
    this.densityShown = { contours: (this.densityShapes || []).length, labels: out.map((a) => a.text),
                          leftOut: src.length - out.length };
    return out;
  },

  relayoutLabels() {
    if (this.labelSource && this.labelSource.length) window.Plotly.relayout(this.gd, { annotations: this.placeLabels() });
  },

  // All points in view aggregated into a picture: class colours (or the colour scale's ends) weighted by count.
  densityImage(xa, xb, ya, yb, keep) {
    const pts = this.pts, W = 320, H = Math.round(320 * (this.data.height / Math.max(this.el.plot.clientWidth, 1))) || 240;
    const r = new Float32Array(W * H), g = new Float32Array(W * H), b = new Float32Array(W * H), n = new Float32Array(W * H);
    const pal = this.data.palette.map((h) => [1, 3, 5].map((o) => parseInt(h.slice(o, o + 2), 16)));
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
  },
});
