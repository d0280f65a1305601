/* The house page: indoor sensors (devices of kind "house") and the weather (kind "weather"):
 * current values, the forecast arrays (catalogue group "forecast") on two charts — power
 * forecasts (W) beside the PV actually produced (role pv_power, from history), the rest
 * on the other. */

import { clear, el, fmt, isNumber } from "./format.js";
import { PALETTE, devicesOfKind, model, stateFields, withRole } from "./model.js";
import { chartOptions } from "./charts.js";

let forecastChart = null;
let pvChart = null;

function list(box, devices) {
  if (!devices.length) return;
  clear(box);
  for (const [name, dev] of devices) {
    const dl = el("dl", { class: "values" });
    for (const [key, value, info] of stateFields(name)) {
      if (Array.isArray(value) || info.diagnostic) continue;
      dl.append(el("dt", { text: info.name }), el("dd", { text: fmt(value, info), "data-device": name, "data-key": key }));
    }
    box.append(el("h3", { class: "h6 tile-sub", text: dev.name }), dl);
  }
}

export function renderHouse() {
  const indoor = document.getElementById("indoor");
  const now = document.getElementById("weather-now");
  if (!indoor || !now) return;
  list(indoor, devicesOfKind("house"));
  const weather = devicesOfKind("weather");
  list(now, weather);
  if (!window.Chart || !weather.length) return;
  const [wname, wdev] = weather[0];
  const state = wdev.state || {};
  // The forecast's hours: its array of timestamps, when it sends one (else hourly from now).
  const stamps = stateFields(wname).find(([, v, info]) => info.group === "forecast" && Array.isArray(v) && typeof v[0] === "string");
  const times = stamps ? stamps[1].map((t) => Date.parse(t) / 1000) : null;
  const base = Math.floor((state.ts ? Date.parse(state.ts) : Date.now()) / 3600000) * 3600;
  const datasets = [];
  const pvSets = [];
  for (const [key, value, info] of stateFields(wname)) {
    if (info.group !== "forecast" || !Array.isArray(value) || !value.some(isNumber)) continue;
    const points = value.slice(0, 48).map((y, i) => ({ x: times ? times[i] : base + i * 3600, y }));
    const color = PALETTE[(datasets.length + pvSets.length) % PALETTE.length];
    const ds = { label: info.name + (info.unit ? " (" + info.unit + ")" : ""), data: points, borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 2, tension: 0.3, _key: key };
    (info.unit === "W" ? pvSets : datasets).push(ds);
  }
  if (!forecastChart) forecastChart = new window.Chart(document.getElementById("forecast-chart"), { type: "line", data: { datasets: [] }, options: chartOptions("") });
  forecastChart.data.datasets = datasets;
  forecastChart.update("none");
  if (!pvChart) {
    pvChart = new window.Chart(document.getElementById("pv-chart"), { type: "line", data: { datasets: [] }, options: chartOptions("W") });
    loadPvActual();
  }
  const actual = pvChart.data.datasets.filter((d) => d._actual);
  pvChart.data.datasets = pvSets.concat(actual);
  pvChart.update("none");
}

async function loadPvActual() {
  const pv = withRole("pv_power");
  if (!pv.length) return;
  const { device, key } = pv[0];
  try {
    const resp = await fetch("/api/historical?" + new URLSearchParams({ device, fields: key, hours: "48" }));
    if (!resp.ok) return;
    const data = await resp.json();
    pvChart.data.datasets.push({
      label: "PV actual · " + model.devices[device].name, _actual: true,
      data: (data.series[key] || []).map(([x, y]) => ({ x, y })),
      borderColor: PALETTE[2], backgroundColor: PALETTE[2], pointRadius: 0, borderWidth: 2, fill: false,
    });
    pvChart.update("none");
  } catch (err) {
    console.warn("pv history", err);
  }
}
