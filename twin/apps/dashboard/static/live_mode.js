// The trainers' page in live mode (twin live --serve): the twin beside the park's telemetry.
// Measured and twin values per plant, the estimated grid with each voltage's standard
// deviation, the alarms as they are raised, the EMS's recommendation (not sent). Polls
// /api/telemetry?since=N twice a second; window.twin.telemetry holds what is shown (tests).
// In the page's language (i18n.js, its switch): labels carry data-i18n, the rest is drawn
// again by tmRelabel; the alarms' details come as templates and values (tmSay).
"use strict";

const TM = {seq: 0, frames: [], alarms: [], grid: null, ems: null, status: null, info: null,
            chartAt: 0};

// the alarms' names, English (translated by i18n.js)
const TM_KINDS = {lost_tag: "Lost tag", stuck_meter: "Stuck meter", sign_flip: "Sign flip",
                  pv_underperformance: "PV underperformance", wind_curtailment: "Wind curtailment",
                  wind_icing: "Wind icing", soc_drift: "SOC drift", capacity_fade: "Capacity fade",
                  feeder_mismatch: "Feeder mismatch", bad_data: "Bad data"};

// what the twin says (twin/live/checks.py's Said: the alarms' details, why nothing is
// recommended): an English template, the key of i18n.js, and its values as written
function tmSay(said) {
  return said ? t(said.template, said.values) : "";
}

function tmEl(tag, attrs = {}, text = "") {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

function tmLabel(tag, attrs, key) {  // a label in the page's language, switched with it
  return tmEl(tag, {...attrs, "data-i18n": key}, t(key));
}

function tmFmt(x, digits) {
  if (x === null || x === undefined || Number.isNaN(x)) return "—";
  const r = Number(Number(x).toFixed(digits));
  return (r === 0 ? 0 : r).toFixed(digits);
}

// a point's value as shown: powers in MW to 3 decimals, a state of charge in %, weather as is
function tmShow(p, v) {
  if (v === null || v === undefined) return "—";
  if (p.attr === "soc") return tmFmt(100 * v, 2);
  if (p.unit === "MW") return tmFmt(v, 3);
  return tmFmt(v, 1);
}

function tmUnit(p) { return p.attr === "soc" ? "%" : p.unit; }

function liveMode(info) {
  TM.info = info;
  window.twin.telemetry = TM;
  document.body.classList.add("telemetry");
  twin.lang = firstLang() === "zh" ? "zh" : "en";  // app.js
  document.getElementById("park").textContent = info.park;
  for (const id of ["btn-tour", "btn-presenter"]) document.getElementById(id).hidden = true;
  document.getElementById("file").textContent = info.file;
  const main = document.querySelector("main");
  for (const s of main.querySelectorAll(":scope > section")) s.hidden = true;

  const plants = tmEl("section", {class: "card tm tm-plants"});
  plants.append(tmLabel("h2", {}, "Measured and twin"),
                tmLabel("p", {class: "muted small"}, "each plant's measured value beside the twin's, " +
                        "from the measured weather (PV, wind) and the measured power (storage's energy count)"));
  const table = tmEl("table", {class: "kv tm-table", id: "tm-points"});
  const head = tmEl("tr");
  for (const h of ["point", "measured", "twin", "deviation", "unit"]) head.append(tmLabel("th", {}, h));
  table.append(head);
  for (const p of info.points) {
    if (p.kind === "weather") continue;
    const row = tmEl("tr", {"data-point": p.point});
    row.append(tmEl("td", {class: "name"}, p.point), tmEl("td", {class: "measured"}),
               tmEl("td", {class: "twin"}), tmEl("td", {class: "dev"}), tmEl("td", {}, tmUnit(p)));
    table.append(row);
  }
  plants.append(table);
  const weather = tmEl("p", {class: "muted small", id: "tm-weather"});
  plants.append(weather);

  const chart = tmEl("section", {class: "card tm tm-chart"});
  chart.append(tmLabel("h2", {}, "Power, measured (solid) and twin (dashed), MW"),
               tmEl("div", {id: "tm-chart", class: "plot"}),
               tmLabel("h2", {}, "The EMS's plan in force: its forecasts (dotted) and what it plans, MW"),
               tmEl("div", {id: "tm-plan", class: "plot"}));

  const alarms = tmEl("section", {class: "card tm tm-alarms"});
  alarms.append(tmLabel("h2", {}, "Alarms"), tmEl("p", {class: "muted small", id: "tm-alarm-note"}, t("none so far")),
                tmEl("ul", {id: "tm-alarms", class: "event-list"}));

  const ems = tmEl("section", {class: "card tm tm-ems"});
  ems.append(tmLabel("h2", {}, "EMS recommendation"),
             tmLabel("p", {class: "muted small"}, "planned on the live state; nothing is sent to the devices"),
             tmLabel("div", {id: "tm-ems"}, info.recommend ? "waiting for the first step" :
                     "off (twin live --recommend, or an EMS scenario)"));

  const grid = tmEl("section", {class: "card tm tm-grid"});
  grid.append(tmLabel("h2", {}, "Estimated grid"));
  if (info.grid) {
    grid.append(tmLabel("p", {class: "muted small", id: "tm-grid-note"}, "waiting for the first estimate"));
    const buses = tmEl("table", {class: "kv tm-table", id: "tm-buses"});
    const bh = tmEl("tr");
    for (const h of ["bus", "measured p.u.", "estimated p.u.", "± σ p.u."]) bh.append(tmLabel("th", {}, h));
    buses.append(bh);
    info.grid.buses.forEach((b, i) => {
      const row = tmEl("tr", {"data-bus": String(i)});
      row.append(tmEl("td", {class: "name"}, b), tmEl("td", {class: "measured"}),
                 tmEl("td", {class: "est"}), tmEl("td", {class: "sigma"}));
      buses.append(row);
    });
    const lines = tmEl("table", {class: "kv tm-table", id: "tm-lines"});
    const wrap = tmEl("div", {class: "tm-scroll"});
    wrap.append(buses);
    grid.append(wrap, tmLabel("h3", {}, "Most loaded lines (estimated)"), lines);
  } else {
    grid.append(tmLabel("p", {class: "muted small"}, "no grid section in the mapping: nothing to estimate"));
  }
  main.append(plants, alarms, ems, chart, grid);
  document.getElementById("btn-lang").onclick = () => applyLang(twin.lang === "zh" ? "en" : "zh");
  applyLang(twin.lang);  // app.js: the data-i18n labels, then tmRelabel
  tmPoll();
}

function tmRelabel() {  // the language switched (app.js applyLang): what is not a data-i18n label
  document.title = t("{x} — live telemetry", {x: TM.info.park});
  document.getElementById("mode").textContent = t("live · telemetry");
  if (!TM.status) return;
  tmStatus();
  tmPoints();
  tmAlarms(true);
  tmGrid();
  tmEms();
  TM.planAt = null;
  tmPlan();
  tmChart();
}

async function tmPoll() {
  try {
    const r = await fetch(`/api/telemetry?since=${TM.seq}`, {credentials: "same-origin"});
    if (!r.ok) throw new Error(`/api/telemetry: ${r.status} ${await r.text()}`);
    tmApply(await r.json());
    document.getElementById("message").textContent = "";
  } catch (err) {
    document.getElementById("message").textContent = err.message;
  }
  if (!TM.status || TM.status.state !== "ended") setTimeout(tmPoll, 500);
}

function tmApply(d) {
  TM.seq = d.seq;
  TM.frames.push(...d.frames);
  if (TM.frames.length > 192) TM.frames.splice(0, TM.frames.length - 192);
  TM.alarms = d.alarms;
  TM.grid = d.grid;
  TM.ems = d.ems;
  TM.status = d.status;
  tmStatus();
  if (d.frames.length && typeof tick === "function") tick();
  tmPoints();
  tmAlarms();
  tmGrid();
  tmEms();
  tmPlan();
  if (d.frames.length && performance.now() - TM.chartAt > 1000) tmChart();
}

function tmStatus() {
  const s = TM.status, state = document.getElementById("state");
  state.textContent = t(s.state) + (s.error ? `: ${s.error}` : "");
  state.dataset.state = s.state;
  state.className = `badge ${s.state === "following" ? "running" : s.state === "failed" ? "failed" : "finished"}`;
  document.getElementById("rate").textContent = t("{x} steps", {x: s.n_steps});
}

function tmPoints() {
  const f = TM.frames[TM.frames.length - 1];
  if (!f) return;
  document.getElementById("clock").textContent = f.time;
  const stale = new Set(f.stale);
  const alarmed = new Set(TM.alarms.map((a) => a.point));
  for (const p of TM.info.points) {
    if (p.kind === "weather") continue;
    const row = document.querySelector(`#tm-points tr[data-point="${p.point}"]`);
    const m = f.measured[p.point], w = f.twin[p.point];
    row.querySelector(".measured").textContent = tmShow(p, m);
    row.querySelector(".twin").textContent = w === undefined ? "" : tmShow(p, w);
    let dev = "";
    if (w !== undefined && w !== null && m !== undefined && m !== null) {
      dev = p.attr === "soc" ? t("{x} pt", {x: tmFmt(100 * (m - w), 2)}) : tmFmt(m - w, 3);
    }
    row.querySelector(".dev").textContent = dev;
    row.classList.toggle("stale", stale.has(p.point));
    row.classList.toggle("alarm", alarmed.has(p.point));
  }
  const wx = TM.info.points.filter((p) => p.kind === "weather" && f.measured[p.point] !== undefined);
  document.getElementById("tm-weather").textContent = wx.length
    ? t("measured weather: ") + wx.map((p) => `${p.attr} ${tmShow(p, f.measured[p.point])}`).join(" · ") : "";
}

function tmAlarms(again = false) {
  const ul = document.getElementById("tm-alarms");
  if (ul.children.length === TM.alarms.length && !again) return;
  ul.textContent = "";
  for (const a of TM.alarms.slice().reverse()) {  // newest first
    const li = tmEl("li", {"data-kind": a.kind, "data-point": a.point, "data-raised": String(a.raised_s),
                           class: "tm-alarm"});
    li.append(tmEl("b", {class: "kind"}, `${t(TM_KINDS[a.kind] || a.kind)} `),
              tmEl("span", {}, t("{point} · raised {at} (since {since}) · ",
                                 {point: a.point, at: a.raised, since: a.since.slice(11)})),
              tmEl("span", {class: "muted detail"}, tmSay(a.said)));
    ul.append(li);
  }
  document.getElementById("tm-alarm-note").textContent =
    TM.alarms.length ? t("{x} raised", {x: TM.alarms.length}) : t("none so far");
}

function tmGrid() {
  const g = TM.grid, info = TM.info.grid;
  if (!g || !info) return;
  const bad = new Set(g.bad);
  info.buses.forEach((b, i) => {
    const row = document.querySelector(`#tm-buses tr[data-bus="${i}"]`);
    const point = info.measured[i];
    row.querySelector(".measured").textContent = point ? tmFmt(g.measured_pu[point], 4) : "";
    row.querySelector(".est").textContent = tmFmt(g.vm_pu[i], 4);
    row.querySelector(".sigma").textContent = g.vm_sigma_pu ? tmFmt(g.vm_sigma_pu[i], 5) : "—";
    row.classList.toggle("measured", Boolean(point));
    row.classList.toggle("bad", bad.has(i));
  });
  const lines = document.getElementById("tm-lines");
  lines.textContent = "";
  const order = g.loading_pct.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, 8);
  for (const [v, i] of order) {
    const row = tmEl("tr", {"data-line": String(i)});
    const sd = g.loading_sigma_pct ? g.loading_sigma_pct[i] : null;
    row.append(tmEl("td", {class: "name"}, info.lines[i]), tmEl("td", {class: "loading"}, `${tmFmt(v, 1)} %`),
               tmEl("td", {class: "sigma"}, sd === null ? "" : `± ${tmFmt(sd, 2)}`));
    lines.append(row);
  }
  const note = document.getElementById("tm-grid-note");
  note.removeAttribute("data-i18n");
  note.textContent = t(
    "WLS from {m} of {n} bus voltages and the measured powers, every {k} steps; " +
    "{e} estimates, {f} failed; σ from the gain matrix",
    {m: info.measured.filter(Boolean).length, n: info.buses.length, k: info.every,
     e: g.n_estimates, f: g.n_failed});
}

function tmEms() {
  const e = TM.ems, box = document.getElementById("tm-ems");
  if (!e) return;
  box.removeAttribute("data-i18n");  // no longer the label it started with
  box.textContent = "";
  for (const [which, r] of [["now", e.now], ["next", e.next]]) {
    if (!r) continue;
    const div = tmEl("div", {class: `tm-rec ${which}`, "data-t": String(r.t)});
    const when = t(which === "now" ? "this step" : "next step");
    if (r.why) {
      div.append(tmEl("p", {class: "muted"}, t("{when}, {for}: nothing recommended ({why})",
                                               {when, for: r.for, why: tmSay(r.said)})));
    } else {
      div.append(tmEl("p", {}, t("{when}, {for}: import {x} MW planned ({status})",
                                 {when, for: r.for, x: tmFmt(r.p_import_plan_mw, 3), status: r.status})));
      const table = tmEl("table", {class: "kv"});
      for (const [b, v] of Object.entries(r.p_set_mw)) {
        const row = tmEl("tr", {"data-battery": b});
        row.append(tmEl("td", {}, b), tmEl("td", {class: "setpoint"}, tmFmt(v, 3)),
                   tmEl("td", {class: "muted"}, t("MW, {x}", {x: t(v > 0 ? "charge" : v < 0 ? "discharge" : "hold")})));
        table.append(row);
      }
      div.append(table);
    }
    box.append(div);
  }
}

function tmPlan() {  // the plan in force: forecasts, storage, import, the next 12 hours
  const p = TM.ems && TM.ems.plan;
  if (!p || typeof Plotly === "undefined" || p.t0 === TM.planAt) return;
  TM.planAt = p.t0;
  const n = Math.min(p.time.length, Math.round(12 * 3600 / TM.info.step_s));
  const x = p.time.slice(0, n).map((s) => s.slice(11));
  const line = (y, name, color, dash = "solid") => ({x, y: y.slice(0, n), name: t(name), mode: "lines",
                                                     line: {color, width: 2, dash}});
  const c = typeof COLORS !== "undefined" ? COLORS : {};
  Plotly.react("tm-plan", [
    line(p.pv_mw, "PV forecast", c.pv || "#e6a800", "dot"),
    line(p.wind_mw, "wind forecast", c.wind || "#1b9aaa", "dot"),
    line(p.load_mw, "load forecast", c.factory || "#56606b", "dot"),
    line(p.storage_mw, "storage planned", c.battery || "#7b4fc9"),
    line(p.import_mw, "import − export planned", "#c0392b")],
    {margin: {l: 40, r: 10, t: 10, b: 30}, height: 240, showlegend: true,
     legend: {orientation: "h"}, xaxis: {type: "category", nticks: 8}},
    {displayModeBar: false, responsive: true});
}

function tmChart() {
  if (typeof Plotly === "undefined") return;
  TM.chartAt = performance.now();
  const x = TM.frames.map((f) => f.time.slice(5));  // MM-DD HH:MM
  const traces = [];
  for (const p of TM.info.points) {
    if (p.attr !== "p_mw" || p.kind === "pcc") continue;  // the plants' electric power
    const color = (typeof COLORS !== "undefined" && COLORS[p.kind]) || "#555";
    traces.push({x, y: TM.frames.map((f) => f.measured[p.point]), name: t("{x} measured", {x: p.entity}),
                 mode: "lines", line: {color, width: 2}});
    if (TM.frames.some((f) => f.twin[p.point] !== undefined)) {
      traces.push({x, y: TM.frames.map((f) => f.twin[p.point] === undefined ? null : f.twin[p.point]),
                   name: t("{x} twin", {x: p.entity}), mode: "lines", line: {color, width: 2, dash: "dash"}});
    }
  }
  Plotly.react("tm-chart", traces, {margin: {l: 40, r: 10, t: 10, b: 30}, height: 260,
                                    legend: {orientation: "h"}, xaxis: {type: "category", nticks: 8}},
               {displayModeBar: false, responsive: true});
}
