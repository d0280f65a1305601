/* solarstack web UI: the entry module for every page in both themes (no build step; the
 * browser loads these ES modules from /static/js/).
 *
 *   format.js     DOM and number formatting helpers
 *   model.js      the devices (state + catalogue from /api/data) and role/kind look-ups
 *   stream.js     /api/stream into the model; ages from /api/data
 *   dashboard.js  power flow, figures, today's energy, warnings, device cards
 *   battery.js    packs and cells
 *   charts.js     history charts, zoom, CSV link
 *   energy.js     energy per flow by day and month (/api/energy), chart, table, CSV link
 *   house.js      indoor sensors, weather, forecasts
 *   console.js    settings, queries, poll now
 *
 * The page is a shell; each change from the stream re-renders the current page. Meaning
 * (titles, units, precision, roles, groups, device kinds, settings, queries) comes from the
 * device catalogues the readers publish: nothing here knows a protocol or a field key. */

import { renderBattery } from "./battery.js";
import { initCharts, liveAppend, loadCharts } from "./charts.js";
import { initSettings, renderSettings } from "./console.js";
import { renderBadges, renderDashboard } from "./dashboard.js";
import { initEnergy } from "./energy.js";
import { renderHouse } from "./house.js";
import { PAGE } from "./model.js";
import { startStream } from "./stream.js";

function render(changed, state) {
  if (PAGE === "dashboard") renderDashboard();
  else if (PAGE === "battery") renderBattery();
  else if (PAGE === "house") renderHouse();
  else if (PAGE === "settings") renderSettings();
  else if (PAGE === "charts") {
    if (changed === null) loadCharts();
    else if (state) liveAppend(changed, state);
  }
  document.body.dataset.version = String((Number(document.body.dataset.version) || 0) + 1);
}

if (PAGE === "charts") initCharts();
if (PAGE === "settings") initSettings();
if (PAGE === "energy") initEnergy();
startStream(render, () => { if (PAGE === "dashboard") renderBadges(); });
