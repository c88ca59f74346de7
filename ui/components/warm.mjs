// Warms the browser while the server is still busy with a fresh server's first run (importing torch and the
// plotting libraries: seconds): Plotly.js (4.6 MB, ~1.4 s to fetch and evaluate here) and the Map's modules are
// imported now, so the map draws as soon as its data arrives. Draws nothing. The same URLs as the map's own
// imports: a module is evaluated once per page, so the map's later import finds them done.
import { absoluteURL } from "./engine.mjs";

const warming = Promise.all([import(absoluteURL("app/static/vendor/plotly.min.js")), import("./map/map.mjs")])
  .catch(() => null);  // a failure here is the map's to report, when it imports the same files

export default function () {
  return () => warming;
}
