// The latent pad: one <input type=range> per latent dimension; every input event decodes z in the page and paints
// it (engine.mjs), moves the mini map's marker (the Placer's rule) and shows z's values. Python hears the final z
// only when a drag or key press ends (`change`), as state "z": {z: [...], seq}. If the engine cannot load, state
// "engine" says why, and the page paints the server's decode of each z it receives (data.pixels) instead.
//
// data: {rev, z, dims: [{d, name, aria, help, min, max, step, inactive}], top, shape: [C, H, W], size,
//        decoder, placement, minimap, minimapSize, pixels (base64 uint8 H×W×C of z, decoded by the server),
//        serverOnly (skip the engine: the server path)}
// One pad per parent element (Streamlit's container for this mount), kept in `pads` across reruns.

import { base64Bytes, engineFailed, liveView, loadDecoder, loadImage, loadPlacement, paintBytes, rasterPoint }
  from "./engine.mjs";

const pads = new WeakMap();

function fmt(v) {
  return (v >= 0 ? "+" : "−") + Math.abs(v).toFixed(2);
}

function drawMarker(canvas, background, bounds, xy) {
  const size = canvas.width, ctx = canvas.getContext("2d");
  ctx.drawImage(background, 0, 0);
  const [cx, cy] = rasterPoint(bounds, size, xy);
  const r = 8; // ui.figures.mark_raster: black outline 3 px, white 1 px, arms of 8 px
  for (const [w, color] of [[3, "#000"], [1, "#fff"]]) {
    ctx.fillStyle = color;
    ctx.fillRect(cx - w, cy - r, 2 * w + 1, 2 * r + 1);
    ctx.fillRect(cx - r, cy - w, 2 * r + 1, 2 * w + 1);
  }
}

function buildPad(parent, data) {
  // our own box: the parent also holds Streamlit's <style> with pad.css, which must stay
  const root = document.createElement("div");
  parent.appendChild(root);
  root.innerHTML = `
    <div class="pad">
      <div class="sliders"><div class="cols top"></div>
        <details class="more"><summary></summary><div class="cols rest"></div></details></div>
      <div class="view">
        <canvas class="decoded" role="img" aria-label="image decoded from z"></canvas>
        <div class="caption">decoded from the sliders' z</div>
        <div class="zvalues"></div>
        <div class="note" hidden></div>
        <div class="mapbox" hidden><canvas class="minimap"></canvas>
          <div class="caption">✚ marks z on the Map</div></div>
      </div>
    </div>`;
  const pad = {
    root, el: root.querySelector(".pad"), rev: null, z: null, inputs: new Map(), outputs: new Map(), seq: 0,
    decoded: root.querySelector("canvas.decoded"), minimap: root.querySelector("canvas.minimap"),
    view: null, placement: null, background: null, failed: false, frames: 0,
  };
  return pad;
}

function layoutSliders(pad, data) {
  const top = pad.root.querySelector(".cols.top"), rest = pad.root.querySelector(".cols.rest");
  const more = pad.root.querySelector("details.more");
  top.innerHTML = rest.innerHTML = "";
  pad.inputs.clear();
  pad.outputs.clear();
  const shown = data.dims.slice(0, data.top), hidden = data.dims.slice(data.top);
  for (const [box, dims] of [[top, shown], [rest, hidden]]) {
    const perColumn = Math.ceil(dims.length / 2);
    const columns = [document.createElement("div"), document.createElement("div")];
    columns.forEach((c) => { c.className = "col"; box.appendChild(c); });
    dims.forEach((info, i) => columns[Math.floor(i / Math.max(perColumn, 1))].appendChild(sliderRow(pad, info)));
  }
  more.hidden = hidden.length === 0;
  more.querySelector("summary").textContent = `${hidden.length} more dimensions (lower KL)`;
}

function sliderRow(pad, info) {
  const row = document.createElement("div");
  row.className = "row" + (info.inactive ? " inactive" : "");
  row.title = info.help;
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = info.name; // text, never markup
  const input = document.createElement("input");
  Object.assign(input, { type: "range", min: info.min, max: info.max, step: info.step });
  input.setAttribute("aria-label", info.aria);
  input.dataset.dim = info.d;
  const out = document.createElement("output");
  row.append(name, input, out);
  pad.inputs.set(info.d, input);
  pad.outputs.set(info.d, out);
  input.addEventListener("input", () => {
    pad.z[info.d] = input.valueAsNumber;
    update(pad);
  });
  input.addEventListener("change", () => send(pad)); // end of a drag, a key press, a click on the track
  return row;
}

function showValues(pad) {
  for (const [d, out] of pad.outputs) out.textContent = fmt(pad.z[d]);
  pad.root.querySelector(".zvalues").textContent = "z = (" + Array.from(pad.z, fmt).join(", ") + ")";
}

function placeMarker(pad) {
  if (!pad.placement || !pad.background) return;
  const xy = pad.placement.place(pad.z);
  drawMarker(pad.minimap, pad.background, pad.placement.bounds, xy);
  pad.el.dataset.marker = rasterPoint(pad.placement.bounds, pad.minimap.width, xy).join(",");
}

function update(pad) {
  showValues(pad);
  if (pad.view) pad.view.show(pad.z); // decode + paint now, in this event's frame
  placeMarker(pad);
}

function send(pad) {
  pad.seq += 1;
  pad.setStateValue("z", { z: Array.from(pad.z), seq: pad.seq, rev: pad.rev });
}

function fail(pad, err) {
  if (pad.failed) return;
  pad.failed = true;
  const note = pad.root.querySelector(".note");
  note.textContent = engineFailed(err);
  note.hidden = false;
  pad.setStateValue("engine", note.textContent);
}

async function startEngine(pad, data) {
  if (data.serverOnly) return;
  try {
    const decoder = await loadDecoder(data.decoder);
    pad.view = liveView(pad.decoded, decoder, data.shape);
    pad.el.dataset.engine = "ready";
    pad.view.show(pad.z);
  } catch (err) {
    console.error("vae engine", err);
    fail(pad, err);
  }
}

async function startMap(pad, data) {
  if (!data.placement || !data.minimap) return;
  try {
    const [placement, background] = await Promise.all([loadPlacement(data.placement), loadImage(data.minimap)]);
    pad.placement = placement;
    pad.background = background;
    pad.minimap.width = pad.minimap.height = data.minimapSize;
    pad.root.querySelector(".mapbox").hidden = false;
    placeMarker(pad);
  } catch (err) {
    console.error("vae map", err);
  }
}

// A new decoder or placement table (another model or map) builds a new pad; any other rerun updates this one.
function padFor(parentElement, data) {
  let pad = pads.get(parentElement);
  if (pad && pad.decoderURL === data.decoder && pad.placementURL === data.placement) return [pad, false];
  if (pad) pad.root.remove();
  pad = buildPad(parentElement, data);
  pad.decoderURL = data.decoder;
  pad.placementURL = data.placement;
  pads.set(parentElement, pad);
  return [pad, true];
}

export default function (component) {
  const { parentElement, data, setStateValue } = component;
  const [pad, fresh] = padFor(parentElement, data);
  pad.setStateValue = setStateValue; // a rerun hands a fresh setter; events must use the current one
  pad.decoded.style.width = pad.decoded.style.height = `${data.size}px`;
  const layoutKey = JSON.stringify(data.dims);
  if (pad.layoutKey !== layoutKey) {
    const keep = pad.z;
    layoutSliders(pad, data);
    pad.layoutKey = layoutKey;
    pad.z = keep;
  }
  if (pad.rev !== data.rev || !pad.z) { // Python set z (a start button, a hand-over, Reset): take it
    pad.rev = data.rev;
    pad.z = Float64Array.from(data.z);
  }
  for (const [d, input] of pad.inputs) input.value = pad.z[d]; // the thumb; z keeps the exact value
  showValues(pad);
  if (!pad.view) paintBytes(pad.decoded, base64Bytes(data.pixels), data.shape); // the server's image until then
  if (fresh) {
    startEngine(pad, data);
    startMap(pad, data);
  } else {
    update(pad);
  }
  return () => {
    pad.root.remove();
    if (pads.get(parentElement) === pad) pads.delete(parentElement);
  };
}
