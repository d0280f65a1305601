/* The settings console: one card per device whose catalogue lists settings (select or number,
 * with this unit's options and ranges, the current value from the setting's read-back
 * field), the query form (the device's catalogue `queries`), "Poll now" (/api/refresh) and
 * the result log. The server checks everything again against the same catalogue. */

import { clear, el, fmt } from "./format.js";
import { CSRF, deviceNames, model } from "./model.js";

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
    for (const [k, v] of Object.entries(detail)) dl.append(el("dt", { text: k }), el("dd", { text: typeof v === "object" ? JSON.stringify(v) : String(v) }));
    item.append(dl);
  } else if (detail) item.append(el("div", { class: "small", text: String(detail) }));
  log.prepend(item);
}

/** Field keys of a query's answer, titled by the device's catalogue. */
function titled(device, fields) {
  const out = {};
  for (const [k, v] of Object.entries(fields || {})) out[((model.devices[device] || {}).fields || {})[k] ? model.devices[device].fields[k].name : k] = v;
  return out;
}

async function post(path, payload) {
  const resp = await fetch(path, { method: "POST", headers: authHeaders(), credentials: "same-origin", body: JSON.stringify(payload) });
  return [resp, await resp.json().catch(() => ({}))];
}

async function sendCommand(payload, title) {
  try {
    const [resp, data] = await post("/api/command", payload);
    if (!resp.ok) {
      logResult(title + " — refused (" + resp.status + ")", false, data.error || resp.statusText);
      return;
    }
    const result = data.result || {};
    const detail = result.fields ? titled(payload.device, result.fields) : result.value !== undefined ? { value: result.value } : {};
    if (result.error) detail.error = result.error;
    logResult(title + (result.ok ? " — read back" : " — failed"), !!result.ok, detail);
  } catch (err) {
    logResult(title, false, String(err));
  }
}

async function sendRefresh(device) {
  const title = (device ? model.devices[device].name : "every device") + " — poll now";
  try {
    const [resp, data] = await post("/api/refresh", device ? { device } : {});
    if (!resp.ok) {
      logResult(title + " — refused (" + resp.status + ")", false, data.error || resp.statusText);
      return;
    }
    const detail = {};
    for (const [d, r] of Object.entries(data.results || {})) detail[(model.devices[d] || { name: d }).name] = r.ok ? "polled " + (r.polled || []).join(", ") : r.error;
    for (const d of data.missing || []) detail[(model.devices[d] || { name: d }).name] = "no answer";
    const ok = !(data.missing || []).length && Object.values(data.results || {}).every((r) => r.ok);
    logResult(title + (ok ? " — done" : " — incomplete"), ok, detail);
  } catch (err) {
    logResult(title, false, String(err));
  }
}

function fillQueryForm() {
  const qdev = document.getElementById("query-device");
  if (!qdev) return;
  const current = qdev.value;
  // Inverters first (what people query most), then the rest, each group by name.
  const names = deviceNames()
    .filter((n) => (model.devices[n].queries || []).length)
    .sort((a, b) => (model.devices[a].kind === "inverter" ? 0 : 1) - (model.devices[b].kind === "inverter" ? 0 : 1));
  if (qdev.options.length !== names.length) {
    clear(qdev);
    for (const n of names) qdev.append(el("option", { value: n, text: model.devices[n].name }));
    if (names.includes(current)) qdev.value = current;
  }
  // The example and the suggestions are the selected device's own queries.
  const queries = ((model.devices[qdev.value] || {}).queries || []);
  const input = document.getElementById("query-command");
  if (input) input.placeholder = queries[0] || "";
  const suggestions = document.getElementById("query-suggestions");
  if (suggestions && (suggestions.dataset.device !== qdev.value || suggestions.options.length !== queries.length)) {
    clear(suggestions);
    for (const q of queries) suggestions.append(el("option", { value: q }));
    suggestions.dataset.device = qdev.value;
  }
}

export function renderSettings() {
  const box = document.getElementById("setting-devices");
  if (!box) return;
  fillQueryForm();
  const devices = deviceNames().filter((n) => Object.keys(model.devices[n].settings || {}).length);
  if (!devices.length) return;
  const placeholder = box.querySelector(".text-secondary");
  if (placeholder) placeholder.remove();
  for (const name of devices) {
    const dev = model.devices[name];
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
      if (cur && s.state_key) cur.textContent = fmt(value, { unit: s.unit });
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
  // Once the user picks a value, live updates stop moving the control. Both events: a
  // select changed by keyboard or script may fire only "change", never "input".
  for (const event of ["input", "change"]) control.addEventListener(event, () => { control.dataset.touched = "1"; });
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
  const range = s.component === "number" && [s.min, s.max].every((x) => x !== null) ? s.min + "–" + s.max + (s.unit ? " " + s.unit : "") : "";
  return el("div", { class: "setting-row row g-2 align-items-center mb-2", "data-row": key }, [
    el("div", { class: "col-12 col-sm-4 setting-name" }, [el("span", { text: s.name }), range ? el("span", { class: "small text-secondary d-block", text: range }) : null]),
    el("div", { class: "col-6 col-sm-2 small" }, [el("span", { class: "current", "data-current": key, text: "–" })]),
    el("div", { class: "col-6 col-sm-3" }, [control]),
    el("div", { class: "col-12 col-sm-3" }, [apply]),
    el("div", { class: "col-12" }, [confirmBox]),
  ]);
}

export function initSettings() {
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
  const qdev = document.getElementById("query-device");
  if (qdev) qdev.addEventListener("change", fillQueryForm);
  const query = document.getElementById("query-form");
  if (query) query.addEventListener("submit", (e) => {
    e.preventDefault();
    const device = document.getElementById("query-device").value;
    const command = document.getElementById("query-command").value.trim().toUpperCase();
    if (device && command) sendCommand({ device, command }, device + " " + command);
  });
  const refresh = document.getElementById("refresh-run");
  if (refresh) refresh.addEventListener("click", () => sendRefresh(document.getElementById("query-device").value || null));
  const refreshAll = document.getElementById("refresh-all");
  if (refreshAll) refreshAll.addEventListener("click", () => sendRefresh(null));
}
