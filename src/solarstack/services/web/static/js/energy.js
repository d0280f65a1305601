/* The energy page: today, the last 30 days by day and the last 12 months by month, per flow
 * (PV, load, grid import/export, battery charge/discharge), from /api/energy — a bar chart
 * and the same table, and a CSV link to /api/energy.csv. The server sums each flow over the
 * devices whose catalogue counts it (role `<flow>_energy`) and cuts days and months in its
 * time zone; nothing here knows a device or a field. */

import { clear, el, fmtNumber, isNumber } from "./format.js";
import { LCARS, PALETTE } from "./model.js";

const FLOW_TITLES = {
  pv: "PV",
  load: "Load",
  grid_import: "Grid import",
  grid_export: "Grid export",
  battery_charge: "Battery charge",
  battery_discharge: "Battery discharge",
};
const TITLES = { days: "Last 30 days", months: "Last 12 months" };
const state = { period: "days", chart: null, loaded: false };

const title = (flow) => FLOW_TITLES[flow] || flow;
const kwh = (v) => (isNumber(v) ? fmtNumber(v, 2) : "–");

async function fetchTable(period) {
  const resp = await fetch("/api/energy?period=" + period, { credentials: "same-origin" });
  const body = await resp.json();
  if (!resp.ok) throw new Error(body.error || String(resp.status));
  return body;
}

function renderToday(days) {
  const box = clear(document.getElementById("energy-today"));
  const today = days.rows[days.rows.length - 1];
  for (const flow of days.flows) {
    if (!days.counters[flow].length) continue;
    box.append(el("dt", { text: title(flow) }), el("dd", { text: isNumber(today.energy[flow]) ? kwh(today.energy[flow]) + " kWh" : "–", "data-today": flow }));
  }
  if (!box.childElementCount) box.append(el("dd", { class: "text-secondary", text: "no device counts energy yet" }));
}

function renderTable(data, flows) {
  const table = document.getElementById("energy-table");
  const head = clear(table.tHead);
  head.append(el("tr", {}, [el("th", { text: data.period === "days" ? "Day" : "Month" }), ...flows.map((f) => el("th", { text: title(f) + " kWh" }))]));
  const body = clear(table.tBodies[0]);
  // Newest first: the reader wants today / this month at the top.
  for (const row of [...data.rows].reverse()) {
    body.append(el("tr", { "data-period": row.label }, [
      el("td", { text: row.label }),
      ...flows.map((f) => el("td", { text: kwh(row.energy[f]), "data-flow": f })),
    ]));
  }
  const foot = clear(table.tFoot);
  foot.append(el("tr", {}, [el("td", { text: "Total" }), ...flows.map((f) => el("td", { text: kwh(data.totals[f]), "data-total": f }))]));
}

function renderChart(data, flows) {
  const canvas = document.getElementById("energy-chart");
  if (!canvas || !window.Chart) return;
  const text = LCARS ? "#ffcc99" : "#adb5bd";
  const grid = LCARS ? "rgba(153,153,255,0.18)" : "rgba(255,255,255,0.08)";
  const datasets = flows.map((f, i) => ({
    label: title(f),
    data: data.rows.map((r) => (isNumber(r.energy[f]) ? r.energy[f] : null)),
    backgroundColor: PALETTE[i % PALETTE.length],
    borderWidth: 0,
  }));
  const labels = data.rows.map((r) => (data.period === "days" ? r.label.slice(5) : r.label));
  if (!state.chart) {
    state.chart = new window.Chart(canvas, {
      type: "bar",
      data: { labels, datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { labels: { color: text, boxWidth: 12 } } },
        scales: {
          x: { grid: { color: grid }, ticks: { color: text, maxRotation: 0, autoSkip: true } },
          y: { grid: { color: grid }, ticks: { color: text }, title: { display: true, text: "kWh", color: text } },
        },
      },
    });
  } else {
    state.chart.data.labels = labels;
    state.chart.data.datasets = datasets;
    state.chart.update();
  }
}

async function load(period) {
  state.period = period;
  document.getElementById("energy-title").textContent = TITLES[period];
  document.getElementById("energy-csv").href = "/api/energy.csv?period=" + period;
  for (const b of document.querySelectorAll(".period-btn")) b.classList.toggle("active", b.dataset.period === period);
  const note = document.getElementById("energy-note");
  try {
    const data = await fetchTable(period);
    if (period === "days") renderToday(data);
    // Only flows some device counts: a site without a grid has no grid columns.
    const flows = data.flows.filter((f) => data.counters[f].length);
    renderTable(data, flows);
    renderChart(data, flows);
    note.textContent = data.source === "none"
      ? "No PROMETHEUS_URL is set: energy history needs Prometheus."
      : `Days and months in ${data.timezone}; each flow summed over ${[...new Set(flows.flatMap((f) => data.counters[f]))].join(", ") || "no devices"}.`;
    document.body.dataset.energy = period;
  } catch (err) {
    note.textContent = "Energy history unavailable: " + err.message;
  }
}

export function initEnergy() {
  for (const b of document.querySelectorAll(".period-btn")) b.addEventListener("click", () => load(b.dataset.period));
  // Today's figures come from the days table; the months one loads when asked for.
  load("days");
}
