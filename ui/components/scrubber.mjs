// The path scrubber: t in [0, 1] along the chosen path from A to B (vae_core.latent.lerp / slerp, same formulas),
// decoded in the page on every input event (engine.mjs); on the mini map the path is drawn and the current point
// moves along it, placed by the Placer's rule. State "t" goes to Python when a drag or key press ends; if the
// engine cannot load, state "engine" says why and the page paints the server's decode of that t (data.pixels).
//
// data: {rev, a, b, kind: "linear" | "slerp", t, shape, size, decoder, placement, minimap, minimapSize,
//        path: [[x, y], ...] (the strip's steps on the map), pixels, serverOnly}
// One scrubber per parent element (Streamlit's container for this mount), kept in `scrubbers` across reruns.

import { base64Bytes, engineFailed, liveView, loadDecoder, loadImage, loadPlacement, paintBytes, rasterPoint }
  from "./engine.mjs";

const scrubbers = new WeakMap();

const PARALLEL_COS = 1 - 1e-7; // vae_core.latent.PARALLEL_COS

function pathPoint(a, b, kind, t) {
  const n = a.length, z = new Float64Array(n);
  if (t <= 0) return Float64Array.from(a); // the strips' ends are exactly the endpoints
  if (t >= 1) return Float64Array.from(b);
  let na = 0, nb = 0, dot = 0;
  for (let i = 0; i < n; i++) { na += a[i] * a[i]; nb += b[i] * b[i]; }
  na = Math.sqrt(na); nb = Math.sqrt(nb);
  if (kind === "slerp" && na > 0 && nb > 0) {
    for (let i = 0; i < n; i++) dot += (a[i] / na) * (b[i] / nb);
    const cos = Math.min(Math.max(dot, -1), 1);
    if (Math.abs(cos) <= PARALLEL_COS) {
      const angle = Math.acos(cos), sin = Math.sin(angle);
      const wa = Math.sin((1 - t) * angle) / sin, wb = Math.sin(t * angle) / sin, norm = (1 - t) * na + t * nb;
      for (let i = 0; i < n; i++) z[i] = (wa * (a[i] / na) + wb * (b[i] / nb)) * norm;
      return z;
    }
  }
  for (let i = 0; i < n; i++) z[i] = a[i] + t * (b[i] - a[i]);
  return z;
}

function toPixel(bounds, size, xy) {
  const [x0, x1, y0, y1] = bounds;
  return [(xy[0] - x0) / (x1 - x0) * (size - 2), (y1 - xy[1]) / (y1 - y0) * (size - 2)];
}

function drawPath(sc) {
  const ctx = sc.minimap.getContext("2d"), size = sc.minimap.width, bounds = sc.placement.bounds;
  ctx.drawImage(sc.background, 0, 0);
  const points = sc.data.path.map((xy) => toPixel(bounds, size, xy));
  ctx.lineWidth = 2;
  ctx.strokeStyle = sc.data.kind === "slerp" ? "#59a14f" : "#f28e2b"; // the page's path colours
  ctx.beginPath();
  points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.stroke();
  for (const [label, [x, y]] of [["A", points[0]], ["B", points[points.length - 1]]]) {
    ctx.fillStyle = "#fff";
    ctx.font = "bold 13px sans-serif";
    ctx.fillText(label, x + 6, y - 6);
  }
  const [cx, cy] = rasterPoint(bounds, size, sc.placement.place(sc.z));
  ctx.beginPath();
  ctx.arc(cx, cy, 6, 0, 2 * Math.PI);
  ctx.fillStyle = "#fff";
  ctx.fill();
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#000";
  ctx.stroke();
  sc.el.dataset.marker = `${cx},${cy}`;
}

function scrubTo(sc, t) {
  sc.t = t;
  sc.z = pathPoint(sc.data.a, sc.data.b, sc.data.kind, t);
  sc.el.querySelector("output").textContent = `t = ${t.toFixed(3)}`;
  if (sc.view) sc.view.show(sc.z);
  if (sc.placement && sc.background) drawPath(sc);
}

function buildScrubber(parent) {
  const root = document.createElement("div");
  parent.appendChild(root);
  root.innerHTML = `
    <div class="scrubber">
      <div class="controls"><input type="range" min="0" max="1" step="0.001"><output></output></div>
      <div class="panes">
        <div class="pane"><canvas class="decoded" role="img" aria-label="image decoded at t"></canvas>
          <div class="caption">decoded at t, in your browser</div><div class="note" hidden></div></div>
        <div class="pane mapbox" hidden><canvas class="minimap"></canvas>
          <div class="caption">● the point at t on its path</div></div>
      </div>
    </div>`;
  const sc = { root, el: root.querySelector(".scrubber"), input: root.querySelector("input"),
    decoded: root.querySelector("canvas.decoded"), minimap: root.querySelector("canvas.minimap"),
    view: null, placement: null, background: null, failed: false, rev: null };
  sc.input.addEventListener("input", () => scrubTo(sc, sc.input.valueAsNumber));
  sc.input.addEventListener("change", () => sc.setStateValue("t", sc.t));
  return sc;
}

async function startScrubber(sc, data) {
  if (!data.serverOnly) {
    try {
      sc.view = liveView(sc.decoded, await loadDecoder(data.decoder), data.shape);
      sc.el.dataset.engine = "ready";
      sc.view.show(sc.z);
    } catch (err) {
      console.error("vae engine", err);
      const note = sc.el.querySelector(".note");
      note.textContent = engineFailed(err);
      note.hidden = false;
      sc.setStateValue("engine", note.textContent);
    }
  }
  if (data.placement && data.minimap) {
    try {
      [sc.placement, sc.background] = await Promise.all([loadPlacement(data.placement), loadImage(data.minimap)]);
      sc.minimap.width = sc.minimap.height = data.minimapSize;
      sc.el.querySelector(".mapbox").hidden = false;
      drawPath(sc);
    } catch (err) {
      console.error("vae map", err);
    }
  }
}

// A new decoder or placement table (another model or map) builds a new scrubber; any other rerun updates this one.
function scrubberFor(parentElement, data) {
  let sc = scrubbers.get(parentElement);
  if (sc && sc.decoderURL === data.decoder && sc.placementURL === data.placement) return [sc, false];
  if (sc) sc.root.remove();
  sc = buildScrubber(parentElement);
  sc.decoderURL = data.decoder;
  sc.placementURL = data.placement;
  scrubbers.set(parentElement, sc);
  return [sc, true];
}

export default function (component) {
  const { parentElement, data, setStateValue } = component;
  const [sc, fresh] = scrubberFor(parentElement, data);
  sc.setStateValue = setStateValue; // a rerun hands a fresh setter; events must use the current one
  sc.input.setAttribute("aria-label", data.aria);
  sc.decoded.style.width = sc.decoded.style.height = `${data.size}px`;
  const endpointsChanged = !sc.data || sc.data.rev !== data.rev;
  sc.data = data;
  const t = endpointsChanged ? data.t : sc.t;
  sc.input.value = t;
  if (!sc.view) paintBytes(sc.decoded, base64Bytes(data.pixels), data.shape);
  scrubTo(sc, t);
  if (fresh) startScrubber(sc, data);
  return () => {
    sc.root.remove();
    if (scrubbers.get(parentElement) === sc) scrubbers.delete(parentElement);
  };
}
