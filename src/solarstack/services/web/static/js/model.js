/* The page's model of every device — state, availability and its catalogue as /api/data
 * shows it (titles, units, kind, role, group, precision, settings, queries) — and the
 * look-ups every page makes through it. Nothing here knows a protocol or a key name:
 * meaning comes from the catalogue's roles, groups and device kinds. */

import { isNumber } from "./format.js";

const body = document.body;
export const THEME = body.dataset.theme || "standard";
export const PAGE = body.dataset.page || "dashboard";
export const CSRF = body.dataset.csrf || "";
export const LCARS = THEME === "lcars";
export const PALETTE = LCARS
  ? ["#ff9900", "#cc99cc", "#9999ff", "#ff9966", "#ffcc66", "#99ccff", "#cc6666", "#ffcc99"]
  : ["#ffc107", "#0dcaf0", "#20c997", "#fd7e14", "#d63384", "#6f42c1", "#adb5bd", "#198754"];

export const model = { devices: {}, connected: false };

/** The catalogue row of a field; a field the catalogue does not list is shown under its key. */
export function fieldInfo(device, key) {
  const dev = model.devices[device] || {};
  return (dev.fields || {})[key] || { name: key, unit: null, kind: null, role: null, group: null, precision: null };
}

/** Device ids, sorted. */
export function deviceNames() {
  return Object.keys(model.devices).sort();
}

/** Power roles are watts by contract (core/catalog.py ROLES); a user's multiplier may publish a
 * power field in kW (docs/config.md), so role look-ups bring such a value back to W. */
const TO_WATTS = { kW: 1000 };

/** Every (device, key, value, info) whose catalogue role is one of `roles`, devices in order
 * (a power in kW comes back in W, with its info saying so). */
export function withRole(...roles) {
  const out = [];
  for (const device of deviceNames()) {
    const dev = model.devices[device];
    for (const [key, info] of Object.entries(dev.fields || {})) {
      if (!roles.includes(info.role)) continue;
      const value = (dev.state || {})[key];
      if (value === undefined) continue;
      const toWatts = TO_WATTS[info.unit];
      if (toWatts && isNumber(value)) out.push({ device, key, value: value * toWatts, info: { ...info, unit: "W", precision: 0 } });
      else out.push({ device, key, value, info });
    }
  }
  return out;
}

/** The first number among the fields with this role (the site's one SOC, one load…). */
export function firstOf(role) {
  const hit = withRole(role).find((i) => isNumber(i.value));
  return hit ? hit.value : null;
}

/** The sum over every field with this role (PV strings, several inverters), or null. */
export function sumOf(role) {
  const nums = withRole(role).map((i) => i.value).filter(isNumber);
  return nums.length ? nums.reduce((a, b) => a + b, 0) : null;
}

/** [name, dev] of every device of a catalogue kind ("weather", "house", "battery"…). */
export function devicesOfKind(...kinds) {
  return deviceNames().filter((n) => kinds.includes(model.devices[n].kind)).map((n) => [n, model.devices[n]]);
}

/** A device's state as [key, value, info], in catalogue order, then keys the catalogue lacks. */
export function stateFields(device) {
  const dev = model.devices[device] || {};
  const state = dev.state || {};
  const keys = Object.keys(dev.fields || {}).filter((k) => k in state);
  for (const k of Object.keys(state)) if (k !== "ts" && !keys.includes(k)) keys.push(k);
  return keys.map((k) => [k, state[k], fieldInfo(device, k)]);
}
