// Compare's browser side: two maps (map/map.mjs's MapController, one per model) in one component, linked in the page
// with no rerun through the controllers' hooks: hovering one rings the same image on both and moves both lenses
// to the spot (each decodes its own model there, by its own map's kNN blend); a box or lasso on one marks the same
// rows on both; the colour, the legend's hidden classes, the zoom and the decoded-map toggle are shared.
// Events go to Python as the component state "event", as the Map sends them, with the side they came from.

import { testHook } from "../engine.mjs";
import { MapController } from "../map/map.mjs";

const mounts = new WeakMap();
const SIDES = ["a", "b"];

const TEMPLATE = `
<div class="vcmp">
  <div class="vcmp-bar"></div>
  <div class="vcmp-row">
    <div class="vcmp-map vcmp-a"><div class="vcmp-title"></div></div>
    <div class="vcmp-lenses">
      <div class="vcmp-lens vcmp-lens-a"><div class="vcmp-lens-title"></div></div>
      <div class="vcmp-lens vcmp-lens-b"><div class="vcmp-lens-title"></div></div>
    </div>
    <div class="vcmp-map vcmp-b"><div class="vcmp-title"></div></div>
  </div>
  <div class="vcmp-legend"></div>
</div>`;

class Compare {
  constructor(root) {
    this.holder = document.createElement("div");  // appended: root also holds our <style>
    root.appendChild(this.holder);
    this.holder.innerHTML = TEMPLATE;
    const q = (sel) => this.holder.querySelector(sel);
    this.linkTimes = [];  // ms from a pointer move over one map to the other's ring placed (bench/compare_page.py)
    this.maps = {};
    for (const side of SIDES) {
      const ctl = new MapController(q(`.vcmp-${side}`));
      // the lenses side by side in the middle (what A and B draw at one spot); one bar and one legend over both
      // (colour, search, toggles and the hidden classes are shared), where B's notes are said too
      q(`.vcmp-lens-${side}`).appendChild(ctl.el.side);
      if (side === "a") {
        q(".vcmp-bar").appendChild(ctl.el.bar);
        q(".vcmp-legend").appendChild(ctl.el.legend);
      } else {
        ctl.el.note.classList.add("vcmp-note-b");
        q(".vcmp-bar .vmap-bar").appendChild(ctl.el.note);
        ctl.el.bar.style.display = "none";
        ctl.el.legend.style.display = "none";
      }
      this.maps[side] = ctl;
      // the lens's caption only when it has something to say (loading, off, failed): a working one is named above
      const caption = ctl.el.lensCaption, title = q(`.vcmp-lens-${side} .vcmp-lens-title`);
      new MutationObserver(() => {
        const working = caption.dataset.working === "true";  // set by the lens (map/lens.mjs), not read off its text
        caption.classList.toggle("vcmp-quiet", working);
        title.title = working ? `Lens: ${ctl.lens.name}` : "";
      }).observe(caption, { attributes: true, attributeFilter: ["data-working"] });
    }
    this.a = this.maps.a;
    this.b = this.maps.b;
    this.link(this.a, this.b);
    this.link(this.b, this.a);
    for (const name of ["thumbs", "decoded"]) {  // A's bar is both maps' (B's is hidden): its toggles switch both
      this.a.el[name].addEventListener("change", () => {
        this.b.el[name].checked = this.a.el[name].checked;
        if (this.b.ready) this.b.el[name].dispatchEvent(new Event("change"));  // B's own handlers redraw it
      });
    }
  }

  link(from, to) {
    from.hooks = {
      hover: (row, xy, e) => {
        from.ring(row);
        if (!to.ready) return;
        to.ring(row);
        if (xy) {
          to.readout(xy);
          to.lens.show(xy, e.timeStamp).catch(() => {});
        }
        if (e && row !== null && this.linkTimes.length < 5000) this.linkTimes.push(performance.now() - e.timeStamp);
      },
      color: (mode) => { if (to.ready && to.mode !== mode) to.setColor(mode); },
      hidden: (classes) => { if (to.ready) to.setHidden(classes); },
      selected: (rows) => { from.showSelection(rows); if (to.ready) to.showSelection(rows); },
      zoom: (ranges) => { if (to.ready) to.zoomTo(ranges); },
    };
  }

  async update(data, setStateValue) {
    const shared = {
      classNames: data.classNames, palette: data.palette, colorModes: data.colorModes, colorRanges: data.colorRanges,
      color: data.color, height: data.height, maxMarkers: data.maxMarkers, lodMarkers: data.lodMarkers,
      maxSelection: data.maxSelection, atlas: data.atlas, density: null, zoom: null, zoomInLink: false, overlays: {},
    };
    await Promise.all(SIDES.map((side) => {
      const ctl = this.maps[side], own = data[side] || {};
      // the side rides along with every event: Python shows the detail of the map that was clicked
      ctl.setStateValue = (name, value) => setStateValue(name, { ...value, side });
      this.holder.querySelector(`.vcmp-${side} .vcmp-title`).textContent = own.title || side.toUpperCase();
      this.holder.querySelector(`.vcmp-lens-${side} .vcmp-lens-title`).textContent = own.lensTitle || "";
      return ctl.update({ ...shared, ...own });
    }));
    if (this.a.ready && this.b.ready) {  // a map drawn afresh (a new projection) takes the other's shared choices
      if (this.b.mode !== this.a.mode) this.b.setColor(this.a.mode);
      this.b.setHidden(this.a.hidden);
    }
  }

  destroy() {
    for (const side of SIDES) this.maps[side].destroy();
    this.holder.remove();
  }
}

export default function (component) {
  const { parentElement, data, setStateValue } = component;
  let cmp = mounts.get(parentElement);
  if (!cmp) {
    cmp = new Compare(parentElement);
    mounts.set(parentElement, cmp);
    (testHook.compares = testHook.compares || []).push(cmp);
  }
  cmp.update(data, setStateValue).catch((err) => cmp.a.status(`The maps could not start: ${err.message}`, true));
  return () => {
    cmp.destroy();
    if (mounts.get(parentElement) === cmp) mounts.delete(parentElement);
    const i = testHook.compares.indexOf(cmp);
    if (i >= 0) testHook.compares.splice(i, 1);
  };
}
