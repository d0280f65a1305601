/* solarstack web UI: one script for every page in both themes.
 *
 * The page is a shell; this script keeps a model of every device (state, labels from
 * Home Assistant discovery, availability) fed by the /api/stream Server-Sent Events
 * (a `snapshot` first, then one `state` event per new reading) and re-renders the parts
 * of the current page. Nothing is hard-coded per device: roles on the dashboard (PV,
 * load, battery, grid) are found from field keys and units; everything else is listed
 * generically with the labels and units discovery announced.
 */
(function () {
  "use strict";

  const body = document.body;
  const THEME = body.dataset.theme || "standard";
  const PAGE = body.dataset.page || "dashboard";
  const CSRF = body.dataset.csrf || "";
  const LCARS = THEME === "lcars";
  const model = { devices: {}, connected: false };
  const PALETTE = LCARS
    ? ["#ff9900", "#cc99cc", "#9999ff", "#ff9966", "#ffcc66", "#99ccff", "#cc6666", "#ffcc99"]
    : ["#ffc107", "#0dcaf0", "#20c997", "#fd7e14", "#d63384", "#6f42c1", "#adb5bd", "#198754"];

  // ---------------------------------------------------------------- helpers

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of [].concat(children || [])) {
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function clear(node) {
    while (node && node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function humanize(key) {
    const s = key.replace(/_/g, " ");
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  function fieldInfo(device, key) {
    const dev = model.devices[device] || {};
    const f = (dev.fields || {})[key];
    return f || { name: humanize(key), unit: null, device_class: null, platform: "sensor" };
  }

  function isNumber(v) {
    return typeof v === "number" && isFinite(v);
  }

  function fmtNumber(v, unit) {
    if (!isNumber(v)) return String(v);
    const a = Math.abs(v);
    let digits = a >= 1000 || Number.isInteger(v) ? 0 : a >= 100 ? 1 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
    // Cell voltages differ in millivolts: show them.
    if (unit === "V" && !Number.isInteger(v)) digits = a < 10 ? 3 : 2;
    return v.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: Number.isInteger(v) ? 0 : digits });
  }

  function fmt(v, unit) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "boolean") return v ? "on" : "off";
    if (Array.isArray(v)) return v.map((x) => fmtNumber(x, unit)).join(" · ") + (unit ? " " + unit : "");
    return fmtNumber(v, unit) + (unit && isNumber(v) ? " " + unit : "");
  }

  function fmtPower(w) {
    if (!isNumber(w)) return "–";
    return Math.abs(w) >= 1000 ? (w / 1000).toFixed(2) + " kW" : Math.round(w) + " W";
  }

  function fmtTime(seconds, span) {
    const d = new Date(seconds * 1000);
    // Label detail follows the visible span: seconds for a zoomed minute, dates for weeks.
    if (span !== undefined && span < 2 * 3600) return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: span < 600 ? "2-digit" : undefined });
    if (span !== undefined && span < 36 * 3600) return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
    return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  /** Every (device, key, value, info) whose key matches `re` (and the unit, when given). */
  function find(re, unit, strict) {
    const out = [];
    for (const [device, dev] of Object.entries(model.devices)) {
      for (const [key, value] of Object.entries(dev.state || {})) {
        if (key === "ts" || !re.test(key)) continue;
        const info = fieldInfo(device, key);
        // Before discovery arrives a field has no unit: roles may still match it by key, unless strict.
        if (unit && (info.unit || strict) && info.unit !== unit) continue;
        out.push({ device, key, value, info });
      }
    }
    return out;
  }

  function sum(items) {
    const nums = items.map((i) => i.value).filter(isNumber);
    return nums.length ? nums.reduce((a, b) => a + b, 0) : null;
  }

  function first(items) {
    const hit = items.find((i) => isNumber(i.value));
    return hit ? hit.value : null;
  }

  // ----------------------------------------------------- roles on the dashboard

  function roles() {
    const pv = sum(find(/^pv\d*_(input_)?power$|^pv_power$|^solar_power$/, "W"));
    const load = first(find(/^(ac_)?output_active_power$|^load_power$|^load$/, "W"));
    let batteryPower = first(find(/^battery_power$|^power$/, "W").filter((i) => /^battery_power$/.test(i.key) || hasCells(i.device)));
    const batteryV = first(find(/^battery_voltage$|^pack_voltage$|^voltage$/, "V"));
    const charge = first(find(/^battery_charging_current$/, "A"));
    const discharge = first(find(/^battery_discharge_current$/, "A"));
    let batteryA = first(find(/^battery_current$|^current$/, "A"));
    if (batteryA === null && (charge !== null || discharge !== null)) batteryA = (charge || 0) - (discharge || 0);
    if (batteryPower === null && batteryA !== null && batteryV !== null) batteryPower = batteryA * batteryV;
    let grid = first(find(/^grid_power$|^ac_input_power$|^grid_active_power$/, "W"));
    if (grid === null && load !== null && pv !== null && batteryPower !== null) {
      // Energy balance through the inverter: what the sun and battery do not cover comes from the grid.
      grid = Math.round(load + batteryPower - pv);
      if (Math.abs(grid) < 20) grid = 0;
    }
    const soc = first(find(/^(battery_)?(capacity|soc|state_of_charge)$/, "%"));
    const mode = find(/^(device_)?mode$|^inverter_mode$|^working_mode$/).map((i) => i.value).find((v) => typeof v === "string");
    return { pv, load, batteryPower, batteryV, batteryA, grid, soc, mode };
  }

  function hasCells(device) {
    const state = (model.devices[device] || {}).state || {};
    return Object.values(state).some((v) => Array.isArray(v));
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

  function renderDashboard() {
    const r = roles();
    setFlow("pv", r.pv, false);
    setFlow("load", r.load, false);
    // Battery line drawn battery -> hub: discharging flows forward, charging reverse.
    setFlow("battery", r.batteryPower === null ? null : r.batteryPower, r.batteryPower !== null && r.batteryPower > 0);
    // Grid line drawn grid -> hub: importing forward, exporting reverse.
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
      summary.textContent = [r.batteryV !== null ? fmt(r.batteryV, "V") : null, r.batteryA !== null ? fmt(r.batteryA, "A") : null, r.batteryPower !== null ? (r.batteryPower >= 0 ? "charging " : "discharging ") + fmtPower(Math.abs(r.batteryPower)) : null].filter(Boolean).join(" · ");
    }
    const modeBadge = document.getElementById("mode-badge");
    if (modeBadge) {
      modeBadge.textContent = r.mode ? String(r.mode) : "";
      modeBadge.className = "float-end small badge " + (LCARS ? "lcars-pill" : "text-bg-info");
    }
    const figures = document.getElementById("figures");
    if (figures) {
      clear(figures);
      const rows = [
        ["Solar", fmtPower(r.pv)],
        ["Load", fmtPower(r.load)],
        ["Grid", r.grid === null ? "–" : (r.grid < 0 ? "export " : "import ") + fmtPower(Math.abs(r.grid))],
        ["Battery", r.batteryPower === null ? "–" : fmtPower(r.batteryPower)],
        ["State of charge", r.soc === null ? "–" : Math.round(r.soc) + " %"],
      ];
      for (const [k, v] of rows) figures.append(el("dt", { text: k }), el("dd", { text: v, "data-figure": k }));
    }
    renderEnergy();
    renderWarnings();
    renderBadges();
    renderDevicePanels(document.getElementById("device-panels"));
  }

  function renderEnergy() {
    const box = document.getElementById("energy");
    if (!box) return;
    const items = find(/./, "kWh", true).concat(find(/./, "Wh", true)).filter((i) => isNumber(i.value));
    if (!items.length) return;
    clear(box);
    const today = items.filter((i) => /today|day|daily/.test(i.key));
    for (const i of today.length ? today : items) {
      box.append(el("dt", { text: i.info.name }), el("dd", { text: fmt(i.value, i.info.unit) }));
    }
  }

  const WARNING_KEY = /warn|fault|alarm|protect|error|overload|fail|_loss$|_low$|_high$|_weak$|short|_locked$|_open$|_over$|_under$|derating|too_low|power_limit/;

  function renderWarnings() {
    const box = document.getElementById("warnings");
    if (!box) return;
    const active = [];
    for (const [device, dev] of Object.entries(model.devices)) {
      // Setting read-backs (QFLAG's "overload bypass" enabled...) are configuration, not alarms.
      const readbacks = new Set(Object.values(dev.settings || {}).map((s) => s.state_key).filter(Boolean));
      for (const [key, value] of Object.entries(dev.state || {})) {
        if (readbacks.has(key)) continue;
        const info = fieldInfo(device, key);
        // HA's device_class "problem" marks an alarm; without one, the key has to say so.
        const alarmish = info.device_class === "problem" || WARNING_KEY.test(key);
        if (alarmish && value === true) active.push(dev.name + ": " + info.name);
        if (alarmish && Array.isArray(value) && value.length && typeof value[0] === "string") active.push(dev.name + ": " + value.join(", "));
        if (alarmish && typeof value === "string" && value && !/^(none|ok|no|0+)$/i.test(value)) active.push(dev.name + ": " + info.name + " " + value);
      }
      if (dev.availability === "offline") active.push(dev.name + ": offline");
    }
    clear(box);
    if (!active.length) box.append(el("li", { class: "text-secondary", text: "none" }));
    for (const w of active) box.append(el("li", { class: "warning-item", text: w }));
  }

  function renderBadges() {
    const box = document.getElementById("device-badges");
    if (!box) return;
    clear(box);
    const names = Object.keys(model.devices).sort();
    if (!names.length) box.append(el("span", { class: "text-secondary", text: "waiting for devices…" }));
    for (const name of names) {
      const dev = model.devices[name];
      const state = dev.availability === "offline" ? "offline" : dev.stale ? "stale" : "online";
      const cls = LCARS ? "lcars-pill status-" + state : "badge me-2 " + ({ online: "text-bg-success", stale: "text-bg-warning", offline: "text-bg-danger" })[state];
      box.append(el("span", { class: cls, "data-device": name, "data-status": state, text: dev.name + " · " + state }));
    }
  }

  /** One card per device listing every field it reports, with discovery's labels and units. */
  function renderDevicePanels(box) {
    if (!box) return;
    const names = Object.keys(model.devices).sort();
    for (const name of names) {
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
      for (const [key, value] of Object.entries(dev.state || {})) {
        if (key === "ts") continue;
        const info = fieldInfo(name, key);
        dl.append(el("dt", { text: info.name }), el("dd", { text: fmt(value, info.unit), "data-device": name, "data-key": key }));
      }
      if (dev.state && dev.state.ts) dl.append(el("dt", { text: "Updated" }), el("dd", { class: "small", text: new Date(dev.state.ts).toLocaleTimeString() }));
    }
  }

  // ---------------------------------------------------------------- battery

  function renderBattery() {
    const box = document.getElementById("packs");
    if (!box) return;
    const packs = Object.entries(model.devices).filter(([, dev]) =>
      Object.entries(dev.state || {}).some(([k, v]) => Array.isArray(v) && /cell/.test(k) && v.some(isNumber)));
    const empty = document.getElementById("packs-empty");
    if (empty) empty.hidden = packs.length > 0;
    for (const [name, dev] of packs) {
      let card = box.querySelector('[data-pack="' + name + '"]');
      if (!card) {
        card = el("div", { class: packs.length > 1 ? "col-12 col-xxl-6" : "col-12", "data-pack": name }, [
          el("div", { class: "card tile h-100" }, [
            el("div", { class: "card-header tile-head", text: dev.name }),
            el("div", { class: "card-body" }, [
              el("div", { class: "cell-stats" }),
              el("div", { class: "cells" }),
              el("dl", { class: "values pack-values" }),
            ]),
          ]),
        ]);
        box.append(card);
      }
      const state = dev.state;
      const cellKey = Object.keys(state).find((k) => Array.isArray(state[k]) && /cell/.test(k) && /volt/.test(k)) || Object.keys(state).find((k) => Array.isArray(state[k]) && /cell/.test(k));
      const info = fieldInfo(name, cellKey);
      const toV = info.unit === "mV" ? 0.001 : 1;
      const cells = state[cellKey].map((v) => (isNumber(v) ? v * toV : null));
      const valid = cells.filter(isNumber);
      const min = Math.min(...valid);
      const max = Math.max(...valid);
      const balancing = Object.entries(state).filter(([k]) => /balanc/.test(k));
      const balancingCells = balancing.map(([, v]) => v).find(Array.isArray) || [];
      const stats = clear(card.querySelector(".cell-stats"));
      stats.append(
        el("span", { class: "stat", "data-stat": "min", text: "min " + min.toFixed(3) + " V" }),
        el("span", { class: "stat", "data-stat": "max", text: "max " + max.toFixed(3) + " V" }),
        el("span", { class: "stat", "data-stat": "delta", text: "Δ " + ((max - min) * 1000).toFixed(0) + " mV" }),
      );
      const bars = clear(card.querySelector(".cells"));
      // Scale bars over the pack's own spread (with margin) so a 10 mV imbalance is visible.
      const lo = min - 0.02;
      const hi = max + 0.02;
      cells.forEach((v, i) => {
        const pct = isNumber(v) ? Math.max(4, ((v - lo) / (hi - lo)) * 100) : 0;
        const cls = "cell" + (v === min ? " cell-min" : "") + (v === max ? " cell-max" : "") + (balancingCells[i] ? " cell-balancing" : "");
        const bar = el("div", { class: "cell-bar" });
        bar.style.height = pct.toFixed(1) + "%";
        bars.append(el("div", { class: cls, title: "cell " + (i + 1) + ": " + (isNumber(v) ? v.toFixed(3) + " V" : "–") }, [
          el("div", { class: "cell-track" }, [bar]),
          el("div", { class: "cell-volt", text: isNumber(v) ? v.toFixed(3) : "–" }),
          el("div", { class: "cell-no", text: String(i + 1) }),
        ]));
      });
      const dl = clear(card.querySelector(".pack-values"));
      const alarms = [];
      for (const [key, value] of Object.entries(state)) {
        if (key === "ts" || key === cellKey) continue;
        const fi = fieldInfo(name, key);
        if (typeof value === "boolean" && (fi.device_class === "problem" || /alarm|fault|protect|warn/.test(key))) {
          // A pack has a dozen alarm flags: list the raised ones, not sixteen "off" rows.
          if (value) alarms.push(fi.name);
          continue;
        }
        const important = /soc|capacity|current|voltage|power|temp|balanc|mos|cycle/.test(key) || fi.unit === "°C";
        if (!important) continue;
        dl.append(el("dt", { text: fi.name }), el("dd", { text: fmt(value, fi.unit), "data-device": name, "data-key": key }));
      }
      dl.prepend(el("dt", { text: "Alarms" }), el("dd", { class: alarms.length ? "alarm" : null, "data-alarms": name, text: alarms.length ? alarms.join(", ") : "none" }));
    }
  }

  // ---------------------------------------------------------------- charts

  const charts = {};
  const chartState = { hours: 24, start: null, end: null, zoomed: false };
  // Ratings and configuration values are numbers too, but flat lines nobody wants on a chart.
  const NOT_CHARTED = /^rated_|offset|_scc$|^max_|^min_cell|^average_cell|_recharge_|_redischarge_|_float_|_bulk_|_under_/;
  const GROUPS = [
    { id: "power", title: "Power", unit: "W", re: /pv|load|output_active_power|grid|battery_power|solar|^power$/ },
    { id: "voltage", title: "Battery voltage", unit: "V", re: /battery_voltage|pack_voltage|^voltage$/ },
    { id: "current", title: "Battery current", unit: "A", re: /battery_.*current|^current$/ },
    { id: "soc", title: "State of charge", unit: "%", re: /capacity|soc|state_of_charge/ },
    { id: "temperature", title: "Temperatures", unit: "°C", re: /temp/ },
  ];

  if (window.Chart && LCARS) {
    window.Chart.defaults.font.family = "Antonio, 'Arial Narrow', sans-serif";
    window.Chart.defaults.font.size = 13;
  }

  function chartOptions(unit) {
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

  function seriesFor(group) {
    const out = [];
    for (const [device, dev] of Object.entries(model.devices)) {
      for (const [key, value] of Object.entries(dev.state || {})) {
        if (key === "ts" || !isNumber(value)) continue;
        const info = fieldInfo(device, key);
        if ((info.unit || "") !== group.unit || !group.re.test(key) || NOT_CHARTED.test(key)) continue;
        out.push({ device, key, label: dev.name + " · " + info.name });
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

  async function loadCharts() {
    const box = document.getElementById("charts");
    if (!box || !window.Chart) return;
    const csv = document.getElementById("csv-link");
    let csvSet = false;
    for (const group of GROUPS) {
      const series = seriesFor(group);
      if (!series.length) continue;
      let chart = charts[group.id];
      if (!chart) {
        const canvas = el("canvas", { "aria-label": group.title });
        box.append(el("div", { class: "col-12 col-xl-6" }, [el("div", { class: "card tile" }, [
          el("div", { class: "card-header tile-head", text: group.title }),
          el("div", { class: "card-body" }, [el("div", { class: "chart-box", "data-chart": group.id }, [canvas])]),
        ])]));
        chart = charts[group.id] = new window.Chart(canvas, { type: "line", data: { datasets: [] }, options: chartOptions(group.unit) });
        enableDragZoom(chart);
      }
      const byDevice = {};
      for (const s of series) (byDevice[s.device] = byDevice[s.device] || []).push(s.key);
      const datasets = [];
      for (const [device, fields] of Object.entries(byDevice)) {
        if (csv && !csvSet) {
          csv.href = historyUrl("/api/export.csv", device, fields);
          csvSet = true;
        }
        try {
          const resp = await fetch(historyUrl("/api/historical", device, fields), { credentials: "same-origin" });
          if (!resp.ok) continue;
          const data = await resp.json();
          for (const key of fields) {
            const color = PALETTE[datasets.length % PALETTE.length];
            datasets.push({
              label: model.devices[device].name + " · " + fieldInfo(device, key).name,
              _device: device, _key: key,
              data: (data.series[key] || []).map(([x, y]) => ({ x, y })),
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

  function liveAppend(device, state) {
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

  function initCharts() {
    for (const btn of document.querySelectorAll(".range-btn")) {
      btn.addEventListener("click", () => {
        for (const b of document.querySelectorAll(".range-btn")) b.classList.toggle("active", b === btn);
        chartState.hours = Number(btn.dataset.hours);
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

  // ---------------------------------------------------------------- house

  let forecastChart = null;
  let pvChart = null;

  function renderHouse() {
    const indoor = document.getElementById("indoor");
    const now = document.getElementById("weather-now");
    if (!indoor || !now) return;
    const isWeather = (dev) => Object.keys(dev.state || {}).some((k) => /forecast|weather_code|cloud_cover|wind_speed|irradiance/.test(k));
    const isIndoor = (dev) => !isWeather(dev) && Object.keys(dev.state || {}).some((k) => /humidity|pressure/.test(k));
    const list = (box, pick) => {
      const devs = Object.entries(model.devices).filter(([, d]) => pick(d));
      if (!devs.length) return;
      clear(box);
      for (const [name, dev] of devs) {
        const dl = el("dl", { class: "values" });
        for (const [key, value] of Object.entries(dev.state || {})) {
          if (key === "ts" || Array.isArray(value)) continue;
          const info = fieldInfo(name, key);
          dl.append(el("dt", { text: info.name }), el("dd", { text: fmt(value, info.unit), "data-device": name, "data-key": key }));
        }
        box.append(el("h3", { class: "h6 tile-sub", text: dev.name }), dl);
      }
    };
    list(indoor, isIndoor);
    list(now, isWeather);
    if (!window.Chart) return;
    const weather = Object.entries(model.devices).find(([, d]) => isWeather(d));
    if (!weather) return;
    const [wname, wdev] = weather;
    const state = wdev.state;
    const times = Array.isArray(state.forecast_time) ? state.forecast_time.map((t) => Date.parse(t) / 1000) : null;
    const base = Math.floor((state.ts ? Date.parse(state.ts) : Date.now()) / 3600000) * 3600;
    const datasets = [];
    const pvSets = [];
    for (const [key, value] of Object.entries(state)) {
      if (!Array.isArray(value) || key === "forecast_time" || !value.some(isNumber)) continue;
      const info = fieldInfo(wname, key);
      const points = value.slice(0, 48).map((y, i) => ({ x: times ? times[i] : base + i * 3600, y }));
      const color = PALETTE[(datasets.length + pvSets.length) % PALETTE.length];
      const ds = { label: info.name + (info.unit ? " (" + info.unit + ")" : ""), data: points, borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 2, tension: 0.3 };
      (/pv|solar|irradiance|radiation/.test(key) ? pvSets : datasets).push(ds);
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
    const pv = find(/^pv\d*_(input_)?power$|^pv_power$|^solar_power$/, "W");
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

  // ---------------------------------------------------------------- settings console

  function authHeaders() {
    const headers = { "Content-Type": "application/json", "X-CSRF-Token": CSRF };
    const token = sessionStorage.getItem("solarstack-token");
    if (token) headers.Authorization = "Bearer " + token;
    return headers;
  }

  function logResult(title, ok, detail) {
    const log = document.getElementById("result-log");
    if (!log) return;
    if (log.firstChild && log.firstChild.classList.contains("text-secondary")) clear(log);
    const item = el("li", { class: "result " + (ok ? "result-ok" : "result-error"), "data-ok": ok ? "true" : "false" }, [
      el("div", { class: "result-title", text: (ok ? "✔ " : "✖ ") + title }),
    ]);
    if (detail && typeof detail === "object") {
      const dl = el("dl", { class: "values small" });
      for (const [k, v] of Object.entries(detail)) dl.append(el("dt", { text: humanize(k) }), el("dd", { text: typeof v === "object" ? JSON.stringify(v) : String(v) }));
      item.append(dl);
    } else if (detail) item.append(el("div", { class: "small", text: String(detail) }));
    log.prepend(item);
  }

  async function sendCommand(payload, title) {
    try {
      const resp = await fetch("/api/command", { method: "POST", headers: authHeaders(), credentials: "same-origin", body: JSON.stringify(payload) });
      const data = await resp.json().catch(() => ({}));
      if (!resp.ok) {
        logResult(title + " — refused (" + resp.status + ")", false, data.error || resp.statusText);
        return;
      }
      const result = data.result || {};
      const detail = result.fields || (result.value !== undefined ? { value: result.value } : {});
      if (result.error) detail.error = result.error;
      logResult(title + (result.ok ? " — read back" : " — failed"), !!result.ok, detail);
    } catch (err) {
      logResult(title, false, String(err));
    }
  }

  function renderSettings() {
    const box = document.getElementById("setting-devices");
    const qdev = document.getElementById("query-device");
    if (!box) return;
    const devices = Object.entries(model.devices).filter(([, d]) => Object.keys(d.settings || {}).length);
    if (qdev) {
      const current = qdev.value;
      // Devices with settings (the ones that answer queries) first.
      const hasSettings = (n) => (Object.keys(model.devices[n].settings || {}).length ? 0 : 1);
      const names = Object.keys(model.devices).sort((a, b) => hasSettings(a) - hasSettings(b) || a.localeCompare(b));
      if (qdev.options.length !== names.length) {
        clear(qdev);
        for (const n of names) qdev.append(el("option", { value: n, text: model.devices[n].name }));
        if (names.includes(current)) qdev.value = current;
      }
    }
    if (!devices.length) return;
    const placeholder = box.querySelector(".text-secondary");
    if (placeholder) placeholder.remove();
    for (const [name, dev] of devices) {
      let card = box.querySelector('[data-settings="' + name + '"]');
      if (!card) {
        card = el("div", { class: "col-12", "data-settings": name }, [el("div", { class: "card tile" }, [
          el("div", { class: "card-header tile-head", text: dev.name + " settings" }),
          el("div", { class: "card-body" }, [el("div", { class: "setting-rows" })]),
        ])]);
        box.append(card);
        const rows = card.querySelector(".setting-rows");
        for (const [key, s] of Object.entries(dev.settings)) rows.append(settingRow(name, key, s));
      }
      for (const [key, s] of Object.entries(dev.settings)) {
        const cur = card.querySelector('[data-current="' + key + '"]');
        const value = s.state_key ? (dev.state || {})[s.state_key] : undefined;
        if (cur && s.state_key) cur.textContent = fmt(value, s.unit);
        // Start each control at the device's current value (until the user touches it).
        const control = card.querySelector('[data-setting="' + key + '"]');
        if (control && !control.dataset.touched && value !== undefined && value !== null) {
          const text = typeof value === "boolean" ? (value ? "ON" : "OFF") : String(value);
          if (s.component === "number" || s.options.includes(text)) control.value = text;
        }
      }
    }
  }

  function settingRow(device, key, s) {
    let control;
    if (s.component === "select") {
      control = el("select", { class: "form-select form-select-sm", "aria-label": s.name, "data-setting": key }, s.options.map((o) => el("option", { value: o, text: o })));
    } else {
      control = el("input", { class: "form-control form-control-sm", type: "number", "aria-label": s.name, "data-setting": key, min: s.min, max: s.max, step: s.step || "any" });
    }
    control.addEventListener("input", () => { control.dataset.touched = "1"; });
    const confirmBox = el("div", { class: "confirm small", hidden: true });
    const apply = el("button", { type: "button", class: "btn btn-sm btn-outline-warning", "data-apply": key, text: "Apply" });
    apply.addEventListener("click", () => {
      const value = control.value;
      if (value === "") return;
      clear(confirmBox);
      const yes = el("button", { type: "button", class: "btn btn-sm btn-danger ms-2", "data-confirm": key, text: "Confirm" });
      const no = el("button", { type: "button", class: "btn btn-sm btn-outline-secondary ms-1", text: "Cancel" });
      confirmBox.append(el("span", { text: "Set " + s.name + " to " + value + (s.unit ? " " + s.unit : "") + "?" }), yes, no);
      confirmBox.hidden = false;
      no.addEventListener("click", () => { confirmBox.hidden = true; });
      yes.addEventListener("click", () => {
        confirmBox.hidden = true;
        const v = s.component === "number" ? Number(value) : value;
        sendCommand({ device, setting: key, value: v }, s.name + " = " + value);
      });
    });
    const range = s.component === "number" ? [s.min, s.max].every((x) => x !== null) ? s.min + "–" + s.max + (s.unit ? " " + s.unit : "") : "" : "";
    return el("div", { class: "setting-row row g-2 align-items-center mb-2", "data-row": key }, [
      el("div", { class: "col-12 col-sm-4 setting-name" }, [el("span", { text: s.name }), range ? el("span", { class: "small text-secondary d-block", text: range }) : null]),
      el("div", { class: "col-6 col-sm-2 small" }, [el("span", { class: "current", "data-current": key, text: "–" })]),
      el("div", { class: "col-6 col-sm-3" }, [control]),
      el("div", { class: "col-12 col-sm-3" }, [apply]),
      el("div", { class: "col-12" }, [confirmBox]),
    ]);
  }

  function initSettings() {
    const form = document.getElementById("token-form");
    const stateText = document.getElementById("token-state");
    const showTokenState = () => {
      if (stateText) stateText.textContent = sessionStorage.getItem("solarstack-token") ? "A token is set for this tab." : "No token set: commands need a login.";
    };
    if (form) form.addEventListener("submit", (e) => {
      e.preventDefault();
      const value = document.getElementById("api-token").value.trim();
      if (value) sessionStorage.setItem("solarstack-token", value);
      else sessionStorage.removeItem("solarstack-token");
      document.getElementById("api-token").value = "";
      showTokenState();
    });
    showTokenState();
    const query = document.getElementById("query-form");
    if (query) query.addEventListener("submit", (e) => {
      e.preventDefault();
      const device = document.getElementById("query-device").value;
      const command = document.getElementById("query-command").value.trim().toUpperCase();
      if (device && command) sendCommand({ device, command }, device + " " + command);
    });
  }

  // ---------------------------------------------------------------- live stream

  function setLink(ok) {
    model.connected = ok;
    const node = document.getElementById("link-status");
    if (!node) return;
    clear(node);
    node.dataset.live = ok ? "true" : "false";
    if (LCARS) node.textContent = ok ? "LINK ACTIVE" : "LINK LOST";
    else node.append(el("span", { class: "badge " + (ok ? "text-bg-success" : "text-bg-danger"), text: ok ? "live" : "reconnecting…" }));
  }

  function render(changed, state) {
    if (PAGE === "dashboard") renderDashboard();
    else if (PAGE === "battery") renderBattery();
    else if (PAGE === "house") renderHouse();
    else if (PAGE === "settings") renderSettings();
    else if (PAGE === "charts") {
      if (changed === null) loadCharts();
      else if (state) liveAppend(changed, state);
    }
    body.dataset.version = String((Number(body.dataset.version) || 0) + 1);
  }

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
      const data = JSON.parse(e.data);
      model.devices = data.devices || {};
      render(null);
    });
    source.addEventListener("state", (e) => {
      const ev = JSON.parse(e.data);
      const dev = model.devices[ev.device] || (model.devices[ev.device] = { name: ev.device, model: "", fields: {}, settings: {}, state: {} });
      if (ev.state && Object.keys(ev.state).length) dev.state = ev.state;
      dev.availability = ev.availability;
      dev.stale = false;
      dev.age_s = 0;
      render(ev.device, ev.state);
    });
    source.addEventListener("catalog", async () => {
      // Labels or settings changed: take the whole picture again.
      const resp = await fetch("/api/data", { credentials: "same-origin" });
      if (resp.ok) {
        model.devices = (await resp.json()).devices || {};
        render(null);
      }
    });
  }

  /** Ages and stale flags move without new events: refresh them from /api/data now and then. */
  async function refreshAges() {
    try {
      const resp = await fetch("/api/data", { credentials: "same-origin" });
      if (!resp.ok) return;
      const fresh = (await resp.json()).devices || {};
      for (const [name, dev] of Object.entries(fresh)) {
        const mine = model.devices[name];
        if (!mine) continue;
        mine.stale = dev.stale;
        mine.age_s = dev.age_s;
        mine.availability = dev.availability;
      }
      if (PAGE === "dashboard") renderBadges();
    } catch (err) {
      console.warn("refresh", err);
    }
  }

  if (PAGE === "charts") initCharts();
  if (PAGE === "settings") initSettings();
  connect();
  setInterval(refreshAges, 30000);
  // A page leaving (or entering the back/forward cache) must drop its stream: browsers allow
  // only six connections per server, and streams held by hidden pages would starve new ones.
  window.addEventListener("pagehide", () => { if (source) { source.close(); source = null; } });
  window.addEventListener("pageshow", (e) => { if (e.persisted) connect(); });
})();
