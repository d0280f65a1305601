/* The house page: indoor sensors (devices of kind "house"), the weather now (kind "weather",
 * catalogue group "weather"), its 48 h forecast and the PV forecast against the PV actually
 * produced (role pv_power, from /api/historical and the stream). Everything is found by the
 * catalogue: the forecast's series are the group "forecast" arrays of FORECAST_HOURS values
 * starting at the group's timestamp field; the power series (unit W) go on the PV chart, the
 * rest on the forecast chart with one y axis per unit. The forecast's 24-value arrays are per
 * hour of the day (the learnt correction, today's model), not a time line, and are not drawn. */

import { clear, el, fmt, fmtTime, isNumber } from "./format.js";
import { PALETTE, devicesOfKind, model, stateFields, withRole } from "./model.js";
import { chartOptions } from "./charts.js";

const FORECAST_HOURS = 48;
/** The PV card's figures: the forecast group's numbers in these units (power, energy, error). */
const PV_FIGURE_UNITS = ["W", "kWh", "%"];
/** Time ticks on the house charts: every 6 h (00, 06, 12, 18 UTC), not Chart.js' odd minutes. */
const TICK_SECONDS = 6 * 3600;
/** How far back the PV chart shows what was produced, beside the forecast ahead. */
const ACTUAL_HOURS = 24;

let forecastChart = null;
let pvChart = null;
let actualLoaded = false;

/** A value for a list: timestamps (catalogue device_class) as local times, the rest by fmt. */
function show(value, info) {
  if (info.device_class === "timestamp" && typeof value === "string" && isFinite(Date.parse(value))) {
    return fmtTime(Date.parse(value) / 1000, 3600);
  }
  return fmt(value, info);
}

function list(box, devices, keep) {
  if (!devices.length) return;
  clear(box);
  for (const [name, dev] of devices) {
    const dl = el("dl", { class: "values" });
    for (const [key, value, info] of stateFields(name)) {
      if (Array.isArray(value) || info.diagnostic || !keep(info)) continue;
      dl.append(el("dt", { text: info.name }), el("dd", { text: show(value, info), "data-device": name, "data-key": key }));
    }
    box.append(el("h3", { class: "h6 tile-sub", text: dev.name }), dl);
  }
}

function figures(box, name) {
  clear(box);
  for (const [key, value, info] of stateFields(name)) {
    if (info.group !== "forecast" || info.diagnostic || Array.isArray(value) || !PV_FIGURE_UNITS.includes(info.unit)) continue;
    box.append(el("dt", { text: info.name }), el("dd", { text: fmt(value, info), "data-device": name, "data-key": key }));
  }
}

/** The hourly series of a weather device: [key, values, info] and the unix time of each value. */
function forecastSeries(name) {
  const dev = model.devices[name];
  const fields = stateFields(name).filter(([, , info]) => info.group === "forecast");
  const start = fields.find(([, v, info]) => info.device_class === "timestamp" && typeof v === "string");
  const first = start && isFinite(Date.parse(start[1]))
    ? Date.parse(start[1]) / 1000
    : Math.floor((dev.state && dev.state.ts ? Date.parse(dev.state.ts) : Date.now()) / 3600000) * 3600;
  const series = fields.filter(([, v, info]) => Array.isArray(v) && (info.size || v.length) === FORECAST_HOURS && v.some(isNumber));
  return { series, time: (i) => first + i * 3600 };
}

function dataset(label, points, color, extra) {
  return { label, data: points, borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 2, tension: 0.3, ...extra };
}

/** Chart options with one y axis per unit: the first on the left, the others on the right. */
function hourTicks(options) {
  options.scales.x.ticks.stepSize = TICK_SECONDS;
  return options;
}

function unitAxes(units) {
  const options = hourTicks(chartOptions(units[0] || ""));
  const base = options.scales.y;
  options.scales = { x: options.scales.x };
  units.forEach((unit, i) => {
    options.scales["y" + i] = {
      ...base,
      position: i === 0 ? "left" : "right",
      grid: i === 0 ? base.grid : { drawOnChartArea: false },
      title: { ...base.title, display: true, text: unit || "" },
    };
  });
  return options;
}

export function renderHouse() {
  const indoor = document.getElementById("indoor");
  const now = document.getElementById("weather-now");
  if (!indoor || !now) return;
  list(indoor, devicesOfKind("house"), () => true);
  const weather = devicesOfKind("weather");
  list(now, weather, (info) => info.group === "weather");
  if (!weather.length) return;
  const [wname] = weather[0];
  const box = document.getElementById("pv-figures");
  if (box) figures(box, wname);
  if (!window.Chart) return;

  const { series, time } = forecastSeries(wname);
  const weatherSets = [];
  const pvSets = [];
  for (const [key, value, info] of series) {
    const points = value.map((y, i) => ({ x: time(i), y }));
    const label = info.name + (info.unit ? " (" + info.unit + ")" : "");
    // the forecast dashed, what was produced (PALETTE[2] on) solid
    if (info.unit === "W") pvSets.push(dataset(label, points, PALETTE[(pvSets.length * 3) % PALETTE.length], { _key: key, borderDash: [6, 4] }));
    else weatherSets.push(dataset(label, points, PALETTE[weatherSets.length % PALETTE.length], { _key: key, _unit: info.unit }));
  }

  const units = [...new Set(weatherSets.map((d) => d._unit))];
  for (const d of weatherSets) d.yAxisID = "y" + units.indexOf(d._unit);
  const key = units.join("|");
  if (forecastChart && forecastChart._units !== key) {
    forecastChart.destroy();
    forecastChart = null;
  }
  if (!forecastChart) {
    forecastChart = new window.Chart(document.getElementById("forecast-chart"), { type: "line", data: { datasets: [] }, options: unitAxes(units) });
    forecastChart._units = key;
  }
  forecastChart.data.datasets = weatherSets;
  forecastChart.update("none");

  if (!pvChart) pvChart = new window.Chart(document.getElementById("pv-chart"), { type: "line", data: { datasets: [] }, options: hourTicks(chartOptions("W")) });
  const actual = pvChart.data.datasets.filter((d) => d._actual);
  appendActual(actual);
  pvChart.data.datasets = pvSets.concat(actual);
  pvChart.update("none");
  // once the model knows a PV power field (the inverter's catalogue may arrive after the weather's)
  if (!actualLoaded && withRole("pv_power").length) {
    actualLoaded = true;
    loadActual();
  }
}

/** Each device's PV power (the sum of its pv_power fields, e.g. two strings) at `state.ts`. */
function pvNow() {
  const out = {};
  for (const { device, value } of withRole("pv_power")) {
    if (!isNumber(value)) continue;
    const ts = model.devices[device].state.ts;
    const x = ts ? Date.parse(ts) / 1000 : Date.now() / 1000;
    out[device] = { x, y: (out[device] ? out[device].y : 0) + value };
  }
  return out;
}

function appendActual(actual) {
  for (const [device, point] of Object.entries(pvNow())) {
    const ds = actual.find((d) => d._device === device);
    if (!ds) continue;
    const last = ds.data[ds.data.length - 1];
    if (!last || last.x < point.x) ds.data.push(point);
  }
}

async function loadActual() {
  const byDevice = {};
  for (const { device, key } of withRole("pv_power")) (byDevice[device] = byDevice[device] || []).push(key);
  const sets = [];
  for (const [device, keys] of Object.entries(byDevice)) {
    try {
      const q = new URLSearchParams({ device, fields: keys.join(","), hours: String(ACTUAL_HOURS) });
      const resp = await fetch("/api/historical?" + q, { credentials: "same-origin" });
      if (!resp.ok) continue;
      const data = await resp.json();
      // One line per device: its strings summed at each time stamp.
      const sum = new Map();
      for (const k of keys) for (const [x, y] of data.series[k] || []) if (isNumber(y)) sum.set(x, (sum.get(x) || 0) + y);
      const points = [...sum.entries()].sort((a, b) => a[0] - b[0]).map(([x, y]) => ({ x, y }));
      const color = PALETTE[(2 + sets.length) % PALETTE.length];
      sets.push(dataset("PV actual · " + model.devices[device].name + " (W)", points, color, { _actual: true, _device: device, tension: 0.2, fill: false }));
    } catch (err) {
      console.warn("pv history", err);
    }
  }
  appendActual(sets);
  pvChart.data.datasets = pvChart.data.datasets.filter((d) => !d._actual).concat(sets);
  pvChart.update("none");
}
