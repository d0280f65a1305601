/* The live data: /api/stream Server-Sent Events (a `snapshot` first, then a `state` event per
 * new reading, `catalog` when a device's catalogue changed) into the model, and the ages and
 * stale flags that move without events, from /api/data now and then. */

import { clear, el } from "./format.js";
import { LCARS, model } from "./model.js";

function setLink(ok) {
  model.connected = ok;
  const node = document.getElementById("link-status");
  if (!node) return;
  clear(node);
  node.dataset.live = ok ? "true" : "false";
  if (LCARS) node.textContent = ok ? "LINK ACTIVE" : "LINK LOST";
  else node.append(el("span", { class: "badge " + (ok ? "text-bg-success" : "text-bg-danger"), text: ok ? "live" : "reconnecting…" }));
}

async function fetchData() {
  const resp = await fetch("/api/data", { credentials: "same-origin" });
  return resp.ok ? (await resp.json()).devices || {} : null;
}

/** Keep the model live; `render(changed, state)` runs after each change (changed null: everything). */
export function startStream(render, onAges) {
  let source = null;

  function connect() {
    if (source) source.close();
    source = new EventSource("/api/stream");
    source.addEventListener("open", () => setLink(true));
    source.addEventListener("error", () => {
      setLink(false);
      // The browser retries a dropped stream itself, but not a refused one (the server's
      // 503 when too many streams are open): try again later, with jitter.
      if (source && source.readyState === EventSource.CLOSED) {
        const closed = source;
        setTimeout(() => { if (source === closed) connect(); }, 10000 + Math.random() * 10000);
      }
    });
    source.addEventListener("snapshot", (e) => {
      model.devices = JSON.parse(e.data).devices || {};
      render(null);
    });
    source.addEventListener("state", (e) => {
      const ev = JSON.parse(e.data);
      const dev = model.devices[ev.device] || (model.devices[ev.device] = { name: ev.device, kind: null, model: "", fields: {}, settings: {}, queries: [], state: {} });
      if (ev.state && Object.keys(ev.state).length) dev.state = ev.state;
      dev.availability = ev.availability;
      dev.stale = !!ev.stale; // a reader re-sending its last good state marks it stale
      dev.age_s = 0;
      render(ev.device, ev.state);
    });
    source.addEventListener("catalog", async () => {
      // A device's catalogue changed: take the whole picture again.
      const devices = await fetchData();
      if (devices) {
        model.devices = devices;
        render(null);
      }
    });
  }

  async function refreshAges() {
    try {
      const fresh = await fetchData();
      if (!fresh) return;
      for (const [name, dev] of Object.entries(fresh)) {
        const mine = model.devices[name];
        if (!mine) continue;
        mine.stale = dev.stale;
        mine.age_s = dev.age_s;
        mine.availability = dev.availability;
      }
      onAges();
    } catch (err) {
      console.warn("refresh", err);
    }
  }

  connect();
  setInterval(refreshAges, 30000);
  // A page leaving (or entering the back/forward cache) must drop its stream: browsers allow
  // only six connections per server, and streams held by hidden pages would starve new ones.
  window.addEventListener("pagehide", () => { if (source) { source.close(); source = null; } });
  window.addEventListener("pageshow", (e) => { if (e.persisted) connect(); });
}
