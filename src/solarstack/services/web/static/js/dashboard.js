/* The dashboard: power flow, battery gauge, key figures, today's energy, warnings, device
 * cards. Every figure is a catalogue role the readers publish — grid power is the reader's
 * `grid_power` field, never a balance worked out here: the browser computes no physics. */

import { clear, el, fmt, fmtPower, isNumber } from "./format.js";
import { LCARS, deviceNames, firstOf, model, stateFields, sumOf, withRole } from "./model.js";

function figures() {
  return {
    pv: sumOf("pv_power"),
    load: firstOf("load_power"),
    grid: firstOf("grid_power"),
    batteryPower: firstOf("battery_power"),
    batteryV: withRole("battery_voltage").find((i) => isNumber(i.value)) || null,
    batteryA: withRole("battery_current").find((i) => isNumber(i.value)) || null,
    soc: firstOf("soc"),
    mode: withRole("mode").map((i) => i.value).find((v) => typeof v === "string"),
  };
}

function setFlow(id, watts, reverse) {
  const line = document.getElementById("line-" + id);
  const label = document.getElementById("flow-" + id);
  if (label) label.textContent = fmtPower(watts === null ? null : Math.abs(watts));
  if (!line) return;
  const active = isNumber(watts) && Math.abs(watts) >= 5;
  line.classList.toggle("active", active);
  line.classList.toggle("reverse", active && !!reverse);
  // Faster dashes for more power: 0.4 s at 5 kW, 3 s near zero.
  if (active) line.style.animationDuration = Math.max(0.4, 3 - Math.abs(watts) / 2000).toFixed(2) + "s";
}

export function renderDashboard() {
  const r = figures();
  setFlow("pv", r.pv, false);
  setFlow("load", r.load, false);
  // Battery line drawn battery -> hub: discharging flows forward, charging (+) reverse.
  setFlow("battery", r.batteryPower, r.batteryPower !== null && r.batteryPower > 0);
  // Grid line drawn grid -> hub: importing (+) forward, exporting (-) reverse.
  setFlow("grid", r.grid, r.grid !== null && r.grid < 0);
  const socArc = document.getElementById("soc-arc");
  const socText = document.getElementById("soc-text");
  if (socArc && socText) {
    const c = 2 * Math.PI * 50;
    const soc = r.soc === null ? 0 : Math.max(0, Math.min(100, r.soc));
    socArc.style.strokeDasharray = c.toFixed(1);
    socArc.style.strokeDashoffset = (c * (1 - soc / 100)).toFixed(1);
    socArc.classList.toggle("low", r.soc !== null && r.soc < 25);
    socText.textContent = r.soc === null ? "–" : Math.round(r.soc) + "%";
  }
  const summary = document.getElementById("battery-summary");
  if (summary) {
    summary.textContent = [
      r.batteryV ? fmt(r.batteryV.value, r.batteryV.info) : null,
      r.batteryA ? fmt(r.batteryA.value, r.batteryA.info) : null,
      r.batteryPower !== null ? (r.batteryPower >= 0 ? "charging " : "discharging ") + fmtPower(Math.abs(r.batteryPower)) : null,
    ].filter(Boolean).join(" · ");
  }
  const modeBadge = document.getElementById("mode-badge");
  if (modeBadge) {
    modeBadge.textContent = r.mode ? String(r.mode) : "";
    modeBadge.className = "float-end small badge " + (LCARS ? "lcars-pill" : "text-bg-info");
  }
  const box = document.getElementById("figures");
  if (box) {
    clear(box);
    const rows = [
      ["Solar", fmtPower(r.pv)],
      ["Load", fmtPower(r.load)],
      ["Grid", r.grid === null ? "–" : r.grid === 0 ? "0 W" : (r.grid < 0 ? "export " : "import ") + fmtPower(Math.abs(r.grid))],
      ["Battery", r.batteryPower === null ? "–" : fmtPower(r.batteryPower)],
      ["State of charge", r.soc === null ? "–" : Math.round(r.soc) + " %"],
    ];
    for (const [k, v] of rows) box.append(el("dt", { text: k }), el("dd", { text: v, "data-figure": k }));
  }
  renderEnergy();
  renderWarnings();
  renderBadges();
  renderSystems(document.getElementById("system-panels"));
  renderDevicePanels(document.getElementById("device-panels"));
}

/** Each device's own "today" energy counters (roles `<flow>_energy_today`), the device named. */
function renderEnergy() {
  const box = document.getElementById("energy");
  if (!box) return;
  const items = [];
  for (const device of deviceNames()) {
    for (const [key, value, info] of stateFields(device)) {
      if (info.role && info.role.endsWith("_energy_today") && isNumber(value)) items.push({ device, key, value, info });
    }
  }
  if (!items.length) return;
  clear(box);
  for (const i of items) {
    box.append(
      el("dt", { text: model.devices[i.device].name + " · " + i.info.name }),
      el("dd", { text: fmt(i.value, i.info), "data-device": i.device, "data-energy": i.info.role }),
    );
  }
}

/** Raised `warning` fields: a flag that is on, or a text that is not empty (the catalogue's rule). */
export function raised(value) {
  if (value === true) return true;
  if (typeof value === "string") return value.trim() !== "";
  return Array.isArray(value) && value.length > 0;
}

function renderWarnings() {
  const box = document.getElementById("warnings");
  if (!box) return;
  const active = [];
  for (const i of withRole("warning")) {
    if (!raised(i.value)) continue;
    const name = model.devices[i.device].name;
    active.push(name + ": " + i.info.name + (i.value === true ? "" : " " + [].concat(i.value).join(", ")));
  }
  for (const device of deviceNames()) {
    if (model.devices[device].availability === "offline") active.push(model.devices[device].name + ": offline");
  }
  clear(box);
  if (!active.length) box.append(el("li", { class: "text-secondary", text: "none" }));
  for (const w of active) box.append(el("li", { class: "warning-item", text: w }));
}

export function renderBadges() {
  const box = document.getElementById("device-badges");
  if (!box) return;
  clear(box);
  const names = deviceNames();
  if (!names.length) box.append(el("span", { class: "text-secondary", text: "waiting for devices…" }));
  for (const name of names) {
    const dev = model.devices[name];
    const state = dev.availability === "offline" ? "offline" : dev.stale ? "stale" : "online";
    const cls = LCARS ? "lcars-pill status-" + state : "badge me-2 " + ({ online: "text-bg-success", stale: "text-bg-warning", offline: "text-bg-danger" })[state];
    box.append(el("span", { class: cls, "data-device": name, "data-status": state, text: dev.name + " · " + state }));
  }
}

/** One card per device listing every field it reports, titled and formatted by its catalogue. */
function renderDevicePanels(box) {
  if (!box) return;
  for (const name of deviceNames()) {
    const dev = model.devices[name];
    let card = box.querySelector('[data-panel="' + name + '"]');
    if (!card) {
      card = el("div", { class: "col-12 col-md-6 col-xxl-4", "data-panel": name }, [
        el("div", { class: "card tile h-100" }, [
          el("div", { class: "card-header tile-head", text: dev.name + (dev.model ? " · " + dev.model : "") }),
          el("div", { class: "card-body" }, [el("dl", { class: "values" })]),
        ]),
      ]);
      box.append(card);
    }
    const dl = clear(card.querySelector("dl"));
    for (const [key, value, info] of stateFields(name)) {
      if (info.diagnostic) continue;
      dl.append(el("dt", { text: info.name }), el("dd", { text: fmt(value, info), "data-device": name, "data-key": key, "data-role": info.role }));
    }
    if (dev.state && dev.state.ts) dl.append(el("dt", { text: "Updated" }), el("dd", { class: "small", text: new Date(dev.state.ts).toLocaleTimeString() }));
  }
}


/** Groups a system's side-by-side table leaves out: ratings and limits belong on the device cards. */
const SYSTEM_SKIP_GROUPS = ["ratings", "warnings"];

/** One card per system of units (a parallel inverter system, a DTU's microinverters): a column per unit and one for
 * the system, a row per field the units report. A row the system totals (catalogue `totals`:
 * total key -> the unit key it sums) shows that total; nothing is added up here. */
function renderSystems(box) {
  if (!box) return;
  const systems = deviceNames().filter((n) => (model.devices[n].units || []).length);
  for (const card of box.querySelectorAll("[data-system]")) if (!systems.includes(card.dataset.system)) card.remove();
  for (const name of systems) {
    const sys = model.devices[name];
    const units = sys.units.filter((u) => model.devices[u]);
    let card = box.querySelector('[data-system="' + name + '"]');
    if (!card) {
      card = el("div", { class: "col-12", "data-system": name }, [
        el("div", { class: "card tile" }, [
          el("div", { class: "card-header tile-head" }),
          el("div", { class: "card-body table-responsive" }, [el("table", { class: "table table-sm system-table mb-0" })]),
        ]),
      ]);
      box.append(card);
    }
    // what the units are, from their catalogue kind: a DTU's are "microinverters"
    const unitKind = (model.devices[units[0]] || {}).kind;
    const noun = unitKind === "microinverter" ? "microinverters" : "units";
    card.dataset.unitKind = unitKind || "";
    card.querySelector(".tile-head").textContent = sys.name + " · " + sys.units.length + " " + noun;
    const table = clear(card.querySelector("table"));
    const head = el("tr", {}, [el("th", { text: "" })]);
    for (const u of units) {
      const dev = model.devices[u];
      const status = dev.availability === "offline" ? "offline" : dev.stale ? "stale" : "online";
      head.append(el("th", { "data-unit": u, "data-status": status, text: dev.name.replace(sys.name, "").trim() || dev.name }, status === "online" ? [] : [el("div", { class: "small text-warning", text: status })]));
    }
    head.append(el("th", { text: "System" }));
    table.append(el("thead", {}, [head]));
    const body = el("tbody");
    const totalOf = {};
    for (const [total, source] of Object.entries(sys.totals || {})) totalOf[source] = total;
    // every unit's rows, not just the first's: units may differ (a 2-port and a 4-port microinverter)
    const fieldsOf = {};
    for (const u of units) for (const [k, f] of Object.entries(model.devices[u].fields || {})) if (!(k in fieldsOf)) fieldsOf[k] = f;
    const keys = Object.keys(fieldsOf).filter((k) => {
      const info = fieldsOf[k];
      if (k in totalOf) return true;
      return !info.diagnostic && info.kind !== "bool" && info.kind !== "array" && !SYSTEM_SKIP_GROUPS.includes(info.group);
    });
    // the totalled rows first: the figures people compare across units
    keys.sort((a, b) => (b in totalOf) - (a in totalOf));
    for (const key of keys) {
      const info = fieldsOf[key];
      // a field no unit reports (a second PV input this model lacks) is no row
      if (units.every((u) => [undefined, null].includes((model.devices[u].state || {})[key]))) continue;
      const row = el("tr", { "data-key": key }, [el("th", { class: "fw-normal", text: info.name })]);
      for (const u of units) {
        const value = (model.devices[u].state || {})[key];
        row.append(el("td", { "data-unit": u, text: value === undefined ? "–" : fmt(value, model.devices[u].fields[key] || info) }));
      }
      const total = totalOf[key];
      const totalValue = total ? (sys.state || {})[total] : undefined;
      row.append(el("td", { class: "fw-bold", "data-total": total || null, text: totalValue === undefined ? "" : fmt(totalValue, (sys.fields || {})[total] || info) }));
      body.append(row);
    }
    table.append(body);
  }
}
