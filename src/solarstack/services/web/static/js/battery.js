/* The battery page: one card per pack (a device with a `cell_voltage` array), its cells as
 * bars scaled over the pack's own spread, its raised alarms and its battery, cell and
 * temperature figures — all picked by catalogue role and group. */

import { clear, el, fmt, isNumber } from "./format.js";
import { deviceNames, model, stateFields } from "./model.js";
import { raised } from "./dashboard.js";

const SHOWN_GROUPS = ["battery", "cells", "temperature", "energy"];

export function renderBattery() {
  const box = document.getElementById("packs");
  if (!box) return;
  const packs = [];
  for (const name of deviceNames()) {
    const cells = stateFields(name).find(([, v, info]) => info.role === "cell_voltage" && Array.isArray(v) && v.some(isNumber));
    if (cells) packs.push([name, model.devices[name], cells]);
  }
  const empty = document.getElementById("packs-empty");
  if (empty) empty.hidden = packs.length > 0;
  for (const [name, dev, [cellKey, raw, cellInfo]] of packs) {
    let card = box.querySelector('[data-pack="' + name + '"]');
    if (!card) {
      card = el("div", { class: packs.length > 1 ? "col-12 col-xxl-6" : "col-12", "data-pack": name }, [
        el("div", { class: "card tile h-100" }, [
          el("div", { class: "card-header tile-head", text: dev.name }),
          el("div", { class: "card-body" }, [el("div", { class: "cell-stats" }), el("div", { class: "cells" }), el("dl", { class: "values pack-values" })]),
        ]),
      ]);
      box.append(card);
    }
    const toV = cellInfo.unit === "mV" ? 0.001 : 1;
    const cells = raw.map((v) => (isNumber(v) ? v * toV : null));
    const valid = cells.filter(isNumber);
    const min = Math.min(...valid);
    const max = Math.max(...valid);
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
      const cls = "cell" + (v === min ? " cell-min" : "") + (v === max ? " cell-max" : "");
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
    for (const [key, value, info] of stateFields(name)) {
      if (key === cellKey) continue;
      if (info.role === "warning") {
        // A pack has a dozen alarm flags: list the raised ones, not sixteen "off" rows.
        if (raised(value)) alarms.push(info.name);
        continue;
      }
      if (info.diagnostic || Array.isArray(value) || !SHOWN_GROUPS.includes(info.group) || info.role === "rating") continue;
      dl.append(el("dt", { text: info.name }), el("dd", { text: fmt(value, info), "data-device": name, "data-key": key }));
    }
    dl.prepend(el("dt", { text: "Alarms" }), el("dd", { class: alarms.length ? "alarm" : null, "data-alarms": name, text: alarms.length ? alarms.join(", ") : "none" }));
  }
}
