/* Formatting and DOM helpers shared by every page module. Pure: no state, no fetches. */

export function el(tag, attrs, children) {
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

export function clear(node) {
  while (node && node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function isNumber(v) {
  return typeof v === "number" && isFinite(v);
}

/** A number with the catalogue's `precision` (decimals worth showing); as given when it has none. */
export function fmtNumber(v, precision) {
  if (!isNumber(v)) return String(v);
  if (Number.isInteger(precision)) return v.toLocaleString(undefined, { minimumFractionDigits: precision, maximumFractionDigits: precision });
  return v.toLocaleString(undefined, { maximumFractionDigits: 3 });
}

/** A value as a field's catalogue row says: unit, precision; flags on/off, arrays joined. */
export function fmt(v, info) {
  const unit = (info && info.unit) || "";
  const precision = info ? info.precision : undefined;
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return v ? "on" : "off";
  if (Array.isArray(v)) return v.map((x) => fmtNumber(x, precision)).join(" · ") + (unit ? " " + unit : "");
  return fmtNumber(v, precision) + (unit && isNumber(v) ? " " + unit : "");
}

export function fmtPower(w) {
  if (!isNumber(w)) return "–";
  return Math.abs(w) >= 1000 ? (w / 1000).toFixed(2) + " kW" : Math.round(w) + " W";
}

export function fmtTime(seconds, span) {
  const d = new Date(seconds * 1000);
  // Label detail follows the visible span: seconds for a zoomed minute, dates for weeks.
  if (span !== undefined && span < 2 * 3600) return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: span < 600 ? "2-digit" : undefined });
  if (span !== undefined && span < 36 * 3600) return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}
