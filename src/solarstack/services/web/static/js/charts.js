/* The charts page: history (/api/historical) of the fields whose catalogue role a panel
 * charts, with range buttons, a custom window, drag-to-zoom and live points from the
 * stream; the CSV link exports what the first panel shows. Ratings and configuration
 * values have roles of their own ("rating") and so never land on a chart. */

import { el, fmtTime, isNumber } from "./format.js";
import { LCARS, PALETTE, deviceNames, model } from "./model.js";

/** Chart panels: the roles each one draws (catalogue vocabulary, core/catalog.py ROLES). */
const PANELS = [
  { id: "power", title: "Power", roles: ["pv_power", "load_power", "grid_power", "battery_power"] },
  { id: "voltage", title: "Battery voltage", roles: ["battery_voltage"] },
  { id: "current", title: "Battery current", roles: ["battery_current", "battery_charge_current", "battery_discharge_current"] },
  { id: "soc", title: "State of charge", roles: ["soc"] },
  { id: "temperature", title: "Temperatures", roles: ["temperature", "indoor_temperature"] },
];

const charts = {};
const chartState = { hours: 24, start: null, end: null, zoomed: false };

if (window.Chart && LCARS) {
  window.Chart.defaults.font.family = "Antonio, 'Arial Narrow', sans-serif";
  window.Chart.defaults.font.size = 13;
}

export function chartOptions(unit) {
  const grid = LCARS ? "rgba(153,153,255,0.18)" : "rgba(255,255,255,0.08)";
  const text = LCARS ? "#ffcc99" : "#adb5bd";
  return {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    parsing: false,
    normalized: true,
    interaction: { mode: "nearest", axis: "x", intersect: false },
    plugins: { legend: { labels: { color: text, boxWidth: 12 } }, tooltip: { callbacks: { title: (items) => items.length ? fmtTime(items[0].parsed.x) : "" } } },
    scales: {
      x: { type: "linear", bounds: "data", grid: { color: grid }, ticks: { color: text, maxTicksLimit: 8, callback: function (v) { return fmtTime(v, this.max - this.min); } } },
      y: { grid: { color: grid }, ticks: { color: text }, title: { display: !!unit, text: unit || "", color: text } },
    },
  };
}

function seriesFor(panel) {
  const out = [];
  for (const device of deviceNames()) {
    const dev = model.devices[device];
    for (const [key, info] of Object.entries(dev.fields || {})) {
      if (!panel.roles.includes(info.role) || !isNumber((dev.state || {})[key])) continue;
      out.push({ device, key, unit: info.unit, label: dev.name + " · " + info.name });
    }
  }
  return out.slice(0, 8);
}

function historyUrl(path, device, fields) {
  const q = new URLSearchParams({ device, fields: fields.join(",") });
  if (chartState.start && chartState.end) {
    q.set("start", String(chartState.start));
    q.set("end", String(chartState.end));
  } else q.set("hours", String(chartState.hours));
  return path + "?" + q.toString();
}

export async function loadCharts() {
  const box = document.getElementById("charts");
  if (!box || !window.Chart) return;
  const csv = document.getElementById("csv-link");
  let csvSet = false;
  for (const panel of PANELS) {
    const series = seriesFor(panel);
    if (!series.length) continue;
    let chart = charts[panel.id];
    if (!chart) {
      const canvas = el("canvas", { "aria-label": panel.title });
      box.append(el("div", { class: "col-12 col-xl-6" }, [el("div", { class: "card tile" }, [
        el("div", { class: "card-header tile-head", text: panel.title }),
        el("div", { class: "card-body" }, [el("div", { class: "chart-box", "data-chart": panel.id }, [canvas])]),
      ])]));
      chart = charts[panel.id] = new window.Chart(canvas, { type: "line", data: { datasets: [] }, options: chartOptions(series[0].unit) });
      enableDragZoom(chart);
    }
    const byDevice = {};
    for (const s of series) (byDevice[s.device] = byDevice[s.device] || []).push(s);
    const datasets = [];
    for (const [device, items] of Object.entries(byDevice)) {
      const fields = items.map((s) => s.key);
      if (csv && !csvSet) {
        csv.href = historyUrl("/api/export.csv", device, fields);
        csvSet = true;
      }
      try {
        const resp = await fetch(historyUrl("/api/historical", device, fields), { credentials: "same-origin" });
        if (!resp.ok) continue;
        const data = await resp.json();
        for (const s of items) {
          const color = PALETTE[datasets.length % PALETTE.length];
          datasets.push({
            label: s.label, _device: device, _key: s.key,
            data: (data.series[s.key] || []).map(([x, y]) => ({ x, y })),
            borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 2, tension: 0.2,
          });
        }
      } catch (err) {
        console.warn("history", err);
      }
    }
    chart.data.datasets = datasets;
    // A zoomed or custom window shows exactly that window, however few points fall in it.
    chart.options.scales.x.min = chartState.start && chartState.end ? chartState.start : undefined;
    chart.options.scales.x.max = chartState.start && chartState.end ? chartState.end : undefined;
    chart.update();
  }
}

/** Drag horizontally across a chart to zoom every chart to that window. */
function enableDragZoom(chart) {
  const canvas = chart.canvas;
  let startX = null;
  const band = el("div", { class: "zoom-band", hidden: true });
  canvas.parentElement.append(band);
  canvas.addEventListener("pointerdown", (e) => { startX = e.offsetX; band.hidden = false; band.style.left = startX + "px"; band.style.width = "0px"; });
  canvas.addEventListener("pointermove", (e) => {
    if (startX === null) return;
    band.style.left = Math.min(startX, e.offsetX) + "px";
    band.style.width = Math.abs(e.offsetX - startX) + "px";
  });
  const finish = (e) => {
    if (startX === null) return;
    band.hidden = true;
    const a = chart.scales.x.getValueForPixel(Math.min(startX, e.offsetX));
    const b = chart.scales.x.getValueForPixel(Math.max(startX, e.offsetX));
    const dragged = Math.abs(e.offsetX - startX);
    startX = null;
    if (dragged < 8 || !isFinite(a) || !isFinite(b) || b <= a) return; // a click, not a drag
    chartState.start = a;
    chartState.end = b;
    chartState.zoomed = true;
    document.getElementById("zoom-reset").disabled = false;
    loadCharts();
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointerleave", (e) => { if (startX !== null) finish(e); });
}

export function liveAppend(device, state) {
  if (chartState.start && chartState.end) return; // a fixed window does not move
  const x = state.ts ? Date.parse(state.ts) / 1000 : Date.now() / 1000;
  for (const chart of Object.values(charts)) {
    let changed = false;
    for (const ds of chart.data.datasets) {
      if (ds._device !== device || !isNumber(state[ds._key])) continue;
      const last = ds.data[ds.data.length - 1];
      if (last && last.x >= x) continue;
      ds.data.push({ x, y: state[ds._key] });
      const cutoff = x - chartState.hours * 3600;
      while (ds.data.length && ds.data[0].x < cutoff) ds.data.shift();
      changed = true;
    }
    if (changed) chart.update("none");
  }
}

export function initCharts() {
  for (const btn of document.querySelectorAll(".range-btn")) {
    btn.addEventListener("click", () => {
      for (const b of document.querySelectorAll(".range-btn")) b.classList.toggle("active", b === btn);
      chartState.hours = btn.dataset.hours === "all" ? "all" : Number(btn.dataset.hours);
      chartState.start = chartState.end = null;
      document.getElementById("zoom-reset").disabled = true;
      loadCharts();
    });
  }
  const apply = document.getElementById("range-apply");
  if (apply) apply.addEventListener("click", () => {
    const s = Date.parse(document.getElementById("range-start").value);
    const e = Date.parse(document.getElementById("range-end").value);
    if (!isFinite(s) || !isFinite(e) || e <= s) return;
    chartState.start = Math.floor(s / 1000);
    chartState.end = Math.floor(e / 1000);
    document.getElementById("zoom-reset").disabled = false;
    loadCharts();
  });
  const reset = document.getElementById("zoom-reset");
  if (reset) reset.addEventListener("click", () => {
    chartState.start = chartState.end = null;
    reset.disabled = true;
    loadCharts();
  });
}
