// The trainers' page: the park twin live (server-sent events) or a recorded run (slider).
"use strict";

const $ = (id) => document.getElementById(id);
const SVGNS = "http://www.w3.org/2000/svg";
const COLORS = {wind: "#1b9aaa", pv: "#e6a800", battery: "#7b4fc9", factory: "#56606b",
                ev: "#2f6fd6", heat: "#e0622b", aoi: "#c2408d", grid: "#16202b",
                substation: "#3d5064", busbar: "#3d5064"};
const LABELS = {cloud_front: "Cloud front", wind_lull: "Wind lull", heat_wave: "Heat wave",
                cold_wave: "Cold wave", demand_response: "Demand response",
                grid_outage: "Grid outage", line_trip: "Line trip", ev_surge: "EV surge",
                defect_burst: "Defect burst", price_signal: "Price signal"};

// what the page holds; window.twin lets tests read it (updates: receive times, ms)
const twin = {info: null, frames: [], segment: null, status: null, totals: null, aoi: null,
              updates: [], chartsAt: 0, chartTimer: null, diagram: null, playing: null,
              lang: "en", chartSizes: {}, chartsOut: new Set(), chartsStale: new Set()};
window.twin = twin;

window.t = t;
function t(key, vars = {}) {  // the page's language (i18n.js); English is the key itself
  const table = (window.I18N && window.I18N[twin.lang]) || {};
  let text = table[key] !== undefined ? table[key] : key;
  for (const [k, v] of Object.entries(vars)) text = text.split(`{${k}}`).join(String(v));
  return text;
}

function fmt(x, digits = 1) {
  if (x === null || x === undefined || Number.isNaN(x)) return "—";
  const r = Number(Number(x).toFixed(digits));  // -0.0004 shows as 0.000, not -0.000
  return (r === 0 ? 0 : r).toLocaleString("en-US", {minimumFractionDigits: digits,
                                                     maximumFractionDigits: digits});
}

function say(text, info = false) {
  $("message").textContent = text || "";
  $("message").classList.toggle("info", info);
}

async function getJSON(url) {
  const r = await fetch(url, {credentials: "same-origin"});
  if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
  return r.json();
}

async function post(url, body) {
  const r = await fetch(url, {method: "POST", credentials: "same-origin",
                              headers: {"Content-Type": "application/json", "X-Twin": "1"},
                              body: JSON.stringify(body)});
  const text = await r.text();
  if (!r.ok) throw new Error(text);
  return JSON.parse(text);
}

function tick() {
  twin.updates.push(performance.now());
  if (twin.updates.length > 2000) twin.updates.splice(0, 1000);
  const p = $("pulse");
  p.classList.add("on");
  setTimeout(() => p.classList.remove("on"), 120);
}

// ------------------------------------------------------------------ frames
function reset(frames, timed = false) {  // timed: a replay's step, its figures kept
  twin.frames = frames.slice();
  twin.segment = frames.length ? frames[frames.length - 1].segment : null;
  render(true, false);
  clearTimeout(twin.chartTimer);  // the charts in the same frame (a few ms on a canvas)
  twin.chartTimer = null;
  const a = performance.now();
  drawCharts();
  if (timed) {
    twin.chartMs = performance.now() - a;
    const asked = twin.askedAt;  // from the slider's move to the page painted
    requestAnimationFrame(() => setTimeout(() => { twin.paintedMs = performance.now() - asked; }, 0));
  }
}

function addFrames(frames) {
  for (const f of frames) {
    if (twin.segment !== null && f.segment !== twin.segment) twin.frames = [];  // a jump
    twin.segment = f.segment;
    twin.frames.push(f);
  }
  if (twin.frames.length > 192) twin.frames.splice(0, twin.frames.length - 192);
  render(false);
}

function render(now, charts = true) {
  const f = twin.frames[twin.frames.length - 1];
  if (!f) return;
  $("clock").textContent = f.time;
  $("v-wind").textContent = fmt(f.wind);
  $("v-pv").textContent = fmt(f.pv);
  $("v-load").textContent = fmt(f.load);
  $("v-demand").textContent = f.demand !== null && Math.abs(f.demand - f.load) >= 0.05
    ? t("of {x} MW asked", {x: fmt(f.demand)}) : t("MW");
  $("v-losses").textContent = fmt(f.losses, 2);
  $("v-curtailed").textContent = fmt(f.curtailed);
  $("v-storage").textContent = fmt(f.storage);
  $("v-soc").textContent = `MW · ${t("SOC")} ${fmt(f.soc_park === null ? null : 100 * f.soc_park, 0)} %`;
  const imp = f.pcc === null ? null : f.pcc;
  $("v-pcc-label").textContent = t(f.islanded ? "PCC (islanded)" : imp >= 0 ? "Import" : "Export");
  $("v-pcc").textContent = fmt(imp === null ? null : Math.abs(imp));
  $("v-shed").textContent = fmt(f.shed);
  $("v-ghi").textContent = fmt(f.weather.ghi, 0);
  $("v-temp").textContent = fmt(f.weather.temp);
  $("v-windspeed").textContent = fmt(f.weather.wind);
  $("island-note").hidden = !f.islanded;
  if (f.islanded) {
    const st = f.storage || 0;
    $("island-note").textContent = st < -0.05
      ? t("islanded: storage discharging {x} MW to cover the load", {x: fmt(-st)})
      : f.shed > 0.05 && st > 0.05
        ? t("islanded: storage charging {x} MW while {y} MW of load is shed", {x: fmt(st), y: fmt(f.shed)})
        : t("islanded: no exchange with the public grid");
  }
  drawFlows(f);
  if (!$("map").hasAttribute("hidden")) drawMap(f);
  renderEv(f);
  renderAoiLine(f);
  if (charts) scheduleCharts(now);
}

// ------------------------------------------------------------------ diagram
function buildDiagram(d) {
  const svg = $("diagram");
  const presenter = document.body.classList.contains("presenter") || document.body.classList.contains("fit");
  let width = Math.max(svg.clientWidth || 820, 820);
  let rowH = Math.max(17, Math.min(48, 560 / Math.max(d.n_rows, 1)));
  if (presenter) {  // fill the card, text scaled up with the drawing (large type)
    svg.removeAttribute("height");
    const box = svg.getBoundingClientRect();
    const scale = Math.max(1, Math.min(2.2, Math.min(box.width / 700, box.height / (24 + d.n_rows * 19))));
    width = box.width / scale;
    rowH = (box.height / scale - 24) / Math.max(d.n_rows, 1);
  }
  const height = 24 + d.n_rows * rowH;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  if (!presenter) svg.setAttribute("height", height);
  svg.innerHTML = "";
  const labelW = 215;
  const colW = (width - 40 - labelW) / Math.max(d.n_cols - 1, 1);
  const pos = {};
  for (const n of d.nodes) pos[n.id] = {x: 30 + n.col * colW, y: 16 + n.row * rowH, n};
  const gEdges = document.createElementNS(SVGNS, "g");
  const gNodes = document.createElementNS(SVGNS, "g");
  svg.append(gEdges, gNodes);
  const edges = d.edges.map((e) => {
    const a = pos[e.a], b = pos[e.b];
    const xm = a.x + Math.min(24, colW * 0.3);
    const path = document.createElementNS(SVGNS, "path");
    path.setAttribute("d", `M${a.x},${a.y} H${xm} V${b.y} H${b.x}`);
    path.setAttribute("class", "edge idle");
    const title = document.createElementNS(SVGNS, "title");
    path.append(title);
    const arrow = document.createElementNS(SVGNS, "path");
    arrow.setAttribute("class", "arrow");
    const ax = (xm + b.x) / 2;
    arrow.setAttribute("d", "M-5,-4 L4,0 L-5,4 Z");
    arrow.setAttribute("transform", `translate(${ax},${b.y})`);
    const label = document.createElementNS(SVGNS, "text");
    label.setAttribute("class", "edge-label");
    label.setAttribute("x", ax);
    label.setAttribute("y", b.y - 4);
    label.setAttribute("text-anchor", "middle");
    gEdges.append(path, arrow);
    gEdges.append(label);
    return {e, path, arrow, label, title, ax, y: b.y};
  });
  const nodes = d.nodes.map((n) => {
    const p = pos[n.id];
    let shape;
    if (n.entity) {
      shape = document.createElementNS(SVGNS, "circle");
      shape.setAttribute("r", 6);
      shape.setAttribute("cx", p.x);
      shape.setAttribute("cy", p.y);
      shape.setAttribute("fill", COLORS[n.kind] || "#888");
    } else {
      shape = document.createElementNS(SVGNS, "rect");
      const s = n.kind === "grid" ? 16 : 12;
      shape.setAttribute("x", p.x - s / 2);
      shape.setAttribute("y", p.y - s / 2);
      shape.setAttribute("width", s);
      shape.setAttribute("height", s);
      shape.setAttribute("rx", 2);
      shape.setAttribute("fill", n.kind === "grid" ? COLORS.grid : "#fff");
      shape.setAttribute("stroke", COLORS.substation);
      shape.setAttribute("stroke-width", 2.5);
    }
    const title = document.createElementNS(SVGNS, "title");
    title.textContent = n.label;
    shape.append(title);
    const label = document.createElementNS(SVGNS, "text");
    label.setAttribute("class", n.entity ? "node-label" : "node-label sub");
    if (n.entity) {
      label.setAttribute("x", p.x + 10);
      label.setAttribute("y", p.y + 4);
    } else if (n.col <= 1) {  // the PCC below its node, the main substation above its own
      label.setAttribute("x", n.col ? p.x : p.x - 10);
      label.setAttribute("y", n.col ? p.y - 12 : p.y + 19);
      label.setAttribute("text-anchor", n.col ? "middle" : "start");
    } else {  // a substation: above its outgoing feeders
      label.setAttribute("x", p.x + 9);
      label.setAttribute("y", p.y - 6);
    }
    label.textContent = n.label;
    gNodes.append(shape, label);
    return {n, shape, label};
  });
  twin.diagram = {d, edges, nodes};
  widthLegend();
}

function widthLegend() {  // the widths lineWidth() gives, at 1, 10 and 100 MW
  const box = $("width-legend");
  box.innerHTML = "";
  for (const mw of [1, 10, 100]) {
    const svg = document.createElementNS(SVGNS, "svg");
    svg.setAttribute("width", 26);
    svg.setAttribute("height", 10);
    const l = document.createElementNS(SVGNS, "line");
    l.setAttribute("x1", 1); l.setAttribute("x2", 25); l.setAttribute("y1", 5); l.setAttribute("y2", 5);
    l.setAttribute("stroke", "var(--ok)");
    l.setAttribute("stroke-width", lineWidth(mw).toFixed(2));
    svg.append(l);
    const span = document.createElement("span");
    span.append(svg, document.createTextNode(` ${mw} MW`));
    span.dataset.mw = String(mw);
    box.append(span);
  }
}

// line width from the power itself (MW), the same scale in every state; see widthLegend()
function lineWidth(p) { return 1.2 + 2.2 * Math.log10(1 + Math.abs(p)); }

function drawFlows(f) {
  const g = twin.diagram;
  if (!g || !f.flows) return;
  const tripped = f.tripped || {};
  g.edges.forEach((x, i) => {
    const p = f.flows[i] || 0;
    const load = (f.loading && f.loading[i]) || 0;
    const k = tripped[i] || 0, n = x.e.names.length || 1;
    const off = k > 0 && k >= n, partial = k > 0 && k < n;
    const small = Math.abs(p) < 0.05;
    let cls = "edge";
    const color = load >= 90 ? "var(--hot)" : load >= 60 ? "var(--warn)" : "var(--ok)";
    if (off) cls += " tripped";
    else if (small) cls += " idle";
    else cls += p >= 0 ? " flow" : " flow rev";
    if (partial) cls += " partial";
    if (load >= 90 && !off) cls += " hot";
    x.path.setAttribute("class", cls);
    x.path.style.stroke = off || small ? "" : color;
    x.path.style.strokeWidth = lineWidth(off ? 0 : p).toFixed(2);
    x.path.style.animationDuration = `${(2.4 - 0.6 * Math.log10(1 + Math.abs(p))).toFixed(2)}s`;
    x.arrow.setAttribute("transform", `translate(${x.ax},${x.y}) rotate(${p >= 0 ? 0 : 180})`);
    x.arrow.style.fill = off || small ? "transparent" : color;
    const trip = off ? t("tripped") : partial ? t("{k} of {n} tripped", {k, n}) : "";
    const text = `${fmt(Math.abs(p))} MW${load ? ` · ${fmt(load, 0)} %` : ""}`;
    x.title.textContent = `${x.e.label}: ${trip ? `${trip} · ` : ""}${text}`;
    x.label.textContent = x.e.entity ? trip : off ? trip : `${fmt(Math.abs(p), 0)} MW${trip ? ` · ${trip}` : ""}`;
    x.label.setAttribute("class", trip ? "edge-label trip" : "edge-label");
    x.path.dataset.tripped = String(k);
    x.path.dataset.p = String(p);
  });
  g.nodes.forEach((x, i) => {
    if (x.n.entity) {
      const p = f.p[x.n.entity];
      const q = f.q ? f.q[x.n.entity] : p;
      let extra = "";
      if (x.n.kind === "battery" && f.soc[x.n.entity] !== undefined) {
        extra = ` · ${fmt(100 * f.soc[x.n.entity], 0)} %`;
      }
      const cut = p !== null && q !== null && Math.abs(p - q) >= 0.05;
      x.label.textContent = `${x.n.label}  ${fmt(q)} MW${extra}` +
        (cut ? ` (${t(x.n.kind === "wind" || x.n.kind === "pv" ? "of {x} available" : "of {x} asked", {x: fmt(p)})})` : "");
      x.label.setAttribute("class", cut ? "node-label cut" : "node-label");
      x.label.dataset.served = String(q);
    } else if (x.n.kind === "substation") {
      const load = (f.node_loading && f.node_loading[i]) || 0;
      x.shape.setAttribute("stroke", load >= 90 ? "#d9342b" : load >= 60 ? "#e0a100" : "#3d5064");
    } else if (x.n.kind === "grid") {
      x.shape.setAttribute("fill", f.islanded ? "#d9342b" : COLORS.grid);
    }
  });
}

// ------------------------------------------------------------------ charts
function scheduleCharts(now) {
  const due = twin.chartsAt + 1000 - performance.now();
  if (now || due <= 0) { drawCharts(); return; }
  if (!twin.chartTimer) {
    twin.chartTimer = setTimeout(() => { twin.chartTimer = null; drawCharts(); }, due);
  }
}

function chartSize(id) {  // read once per layout: reading it after a redraw forces a reflow
  let size = twin.chartSizes[id];
  if (!size) {
    const box = $(id);
    size = twin.chartSizes[id] = {width: box.clientWidth || undefined,
      height: document.body.classList.contains("presenter") ? Math.max(160, box.clientHeight)
        : document.body.classList.contains("fit") ? Math.max(100, box.clientHeight) : box.clientHeight || 270};
  }
  return size;
}

function chartOpts(id, extra = {}) {  // a chart's size, type and the events' windows (charts.js)
  const {width, height} = chartSize(id);
  return {width, height, font: document.body.classList.contains("presenter") ? 14 : 11, ...extra};
}

// a step's clock text "YYYY-MM-DD HH:MM" as the charts' x: the clock read as UTC, in ms
function clockMs(text) {
  return Date.UTC(+text.slice(0, 4), +text.slice(5, 7) - 1, +text.slice(8, 10),
                  +text.slice(11, 13), +text.slice(14, 16));
}

function series(key, scale = 1) {
  return twin.frames.map((f) => (f[key] === null ? null : f[key] * scale));
}

// the charts; one out of the window is drawn when it comes into view (chartsSeen)
const CHARTS = {"chart-power": drawPower, "chart-forecast": drawForecast, "chart-ev": drawEvChart};

function drawCharts(only = null) {
  twin.chartsAt = performance.now();
  const x = twin.frames.map((f) => (f.ms === undefined ? (f.ms = clockMs(f.time)) : f.ms));
  const marks = eventShapes();
  for (const [id, draw] of Object.entries(CHARTS)) {
    if (only ? !only.includes(id) : twin.chartsOut.has(id)) {
      if (!only) twin.chartsStale.add(id);
      continue;
    }
    twin.chartsStale.delete(id);
    draw(x, marks);
  }
}

function chartsSeen(entries) {
  const now = [];
  for (const e of entries) {
    if (e.isIntersecting) {
      twin.chartsOut.delete(e.target.id);
      if (twin.chartsStale.has(e.target.id)) now.push(e.target.id);
    } else twin.chartsOut.add(e.target.id);
  }
  if (now.length && twin.frames.length) drawCharts(now);
}

function chartsResized(entries) {  // a chart's box changed width (a scroll bar, the grid)
  const again = [];
  for (const e of entries) {
    const id = e.target.id, old = twin.chartSizes[id];
    if (old && Math.abs((old.width || 0) - e.target.clientWidth) > 2) {
      delete twin.chartSizes[id];
      if (e.target.data) again.push(id);
    }
  }
  if (again.length && twin.frames.length) drawCharts(again);
}

function drawPower(x, marks) {
  const power = [
    {x, y: series("wind"), name: t("wind"), line: {color: COLORS.wind, width: 1.8}},
    {x, y: series("pv"), name: t("PV"), line: {color: COLORS.pv, width: 1.8}},
    {x, y: series("load"), name: t("load served"), line: {color: COLORS.factory, width: 1.8}},
    {x, y: series("pcc"), name: t("PCC import"), line: {color: "#c0392b", width: 1.4}},
    {x, y: series("storage"), name: t("storage (charging +)"),
     line: {color: COLORS.battery, width: 1.2, dash: "dot"}},
    {x, y: twin.frames.map((f) => (f.soc_park === null ? null : 100 * f.soc_park)),
     name: t("SOC %"), yaxis: "y2", line: {color: COLORS.battery, width: 1}, opacity: 0.5},
  ];
  if (twin.frames.some((f) => f.ems && f.ems.cap !== null)) {  // an operator's request
    power.push({x, y: twin.frames.map((f) => (f.ems ? f.ems.cap : null)),
                name: t("import cap (request)"), line: {color: "#c0392b", width: 1.2, dash: "dash"}});
  }
  if (twin.frames.some((f) => f.request)) {  // a grid operator's request, step by step
    const r = (k) => twin.frames.map((f) => (f.request ? f.request[k] : null));
    power.push({x, y: r("asked"), name: t("cut asked"), line: {color: "#c0392b", width: 2, shape: "hv"}});
    power.push({x, y: r("delivered"), name: t("cut delivered"), line: {color: "#2e8b57", width: 2, shape: "hv"}});
    if (twin.frames.some((f) => f.request && f.request.offered !== null)) {
      power.push({x, y: r("offered"), name: t("cut offered (VPP)"), line: {color: "#7b4fc9", width: 1.4, dash: "dot", shape: "hv"}});
    }
  }
  if (twin.frames.some((f) => f.shed > 0)) {
    power.push({x, y: series("shed"), name: t("load shed"), line: {color: "#d9342b", width: 2}});
  }
  drawChart("chart-power", power, chartOpts("chart-power", {...marks, y2: {range: [0, 100], suffix: " %"}}));
}

function drawForecast(x, marks) {
  const narrow = chartSize("chart-forecast").width < 450;  // one screen: the colours say it
  drawChart("chart-forecast", forecastTraces(x), chartOpts("chart-forecast", {...marks, legend: !narrow}));
}

function forecastTraces(x) {
  const tr = window.t;  // the loop below names its variable t
  const out = [];
  const last = twin.frames[twin.frames.length - 1];
  const step = (twin.info && twin.info.step_s) || 900;
  const fc = (k) => twin.frames.map((f) => (f.forecast ? f.forecast[k] : null));
  for (const [t, name, color] of [["wind", "wind", COLORS.wind], ["pv", "PV", COLORS.pv],
                                  ["load", "load", COLORS.factory]]) {
    out.push({x, y: series(t), name: tr(name), line: {color, width: 1.8}, legendgroup: t});
    out.push({x, y: fc(`${t}_1h`), name: tr("{x} forecast 1 h before", {x: tr(name)}), legendgroup: t,
              line: {color, width: 1.2, dash: "dot"}, showlegend: t === "wind"});
    const next = last && last.forecast && last.forecast.next && last.forecast.next[t];
    if (next) {
      const t0 = x[x.length - 1];
      const xs = next.map((_, k) => t0 + (k + 1) * step * 1000);
      out.push({x: [t0, ...xs], y: [last[t], ...next], name: tr("{x} next 4 h", {x: tr(name)}),
                legendgroup: t, line: {color, width: 1.4, dash: "dash"}, showlegend: false});
    }
  }
  return out;
}

// ------------------------------------------------------------------ status, totals, AOI
function applyStatus(s) {
  twin.status = s;
  const speed = $("speed");
  if (document.activeElement !== speed && [...speed.options].some((o) => Number(o.value) === s.speed)) {
    speed.value = String(s.speed);
  }
  const badge = $("state");
  badge.textContent = s.state === "running" ? `${t("running")} ×${s.speed}` : t(s.state);
  badge.className = `badge ${s.state}`;
  if (s.error) say(`the twin stopped: ${s.error}`);
  $("file").textContent = s.file || "";
  renderEvents(s.events || []);
  jumpProgress(s);
  if (twin.updates.length > 3) {
    const u = twin.updates.slice(-20);
    const gaps = u.slice(1).map((t, i) => t - u[i]);
    $("rate").textContent = t("update every {x} s at most", {x: (Math.max(...gaps) / 1000).toFixed(1)});
  }
}

const EVENT_COLORS = {cloud_front: "#e6a800", wind_lull: "#1b9aaa", heat_wave: "#e0622b",
                      cold_wave: "#2f6fd6", demand_response: "#c0392b", grid_outage: "#d9342b",
                      line_trip: "#9aa3ad", ev_surge: "#2f6fd6", defect_burst: "#c2408d",
                      price_signal: "#7b4fc9"};

function resultText(w) {
  const r = w.result || {};
  if (w.state === "coming") return t("coming");
  const parts = [];
  if (w.kind === "demand_response") {
    if (twin.info.controller !== "ems") {
      parts.push(t("not answered (rule controller): missed {x} MWh of {y}", {x: fmt(r.missed, 2), y: fmt(r.asked, 2)}));
    } else {
      parts.push(t("asked {a} · offered {o} · delivered {d} · missed {m} MWh",
                   {a: fmt(r.asked, 2), o: fmt(r.offered, 2), d: fmt(r.delivered, 2), m: fmt(r.missed, 2)}));
    }
  }
  if (r.shed > 0.005) parts.push(t("load shed {x} MWh", {x: fmt(r.shed, 2)}));
  if (r.curtailed > 0.005) parts.push(t("curtailed {x} MWh", {x: fmt(r.curtailed, 2)}));
  if (!parts.length) parts.push(w.state === "active" ? t("in force") : t("over"));
  return parts.join(" · ");
}

function renderEvents(rows) {
  const list = $("event-list");
  list.innerHTML = "";
  for (const w of rows.slice().reverse()) {
    const li = document.createElement("li");
    li.className = w.state;
    li.dataset.kind = w.kind;
    const detail = Object.entries(w.detail || {}).map(([k, v]) => `${k} ${v}`).join(", ");
    const head = document.createElement("div");
    head.textContent = `${t(LABELS[w.kind] || w.kind)} ${w.start} → ${w.end.slice(11)}` +
                       (detail ? ` (${detail})` : "");
    const res = document.createElement("div");
    res.className = "result";
    res.textContent = resultText(w);
    li.append(head, res);
    list.append(li);
  }
  if (!list.children.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = t("no event yet: each button starts one from the step in progress");
    list.append(li);
  }
}

function eventShapes() {  // shaded windows of the events on the charts, named at their start
  const x0 = twin.frames.length ? twin.frames[0].time : null;
  const shapes = [], labels = [];
  for (const w of (twin.status && twin.status.events) || []) {
    if (x0 === null || w.end <= x0) continue;
    const color = EVENT_COLORS[w.kind] || "#888";
    shapes.push({x0: clockMs(w.start), x1: clockMs(w.end), color, opacity: 0.13});
    labels.push({x: clockMs(w.start), text: t(LABELS[w.kind] || w.kind), color});
  }
  return {shapes, labels};
}

const JUMP_EXPECT_S = 3.0;  // what a jump takes on the 2-core target (bench_demo.py)

function jumpProgress(s) {
  const box = $("jump-progress");
  const j = s.jump || {};
  if (s.state === "jumping" && j.elapsed_s !== null && j.elapsed_s !== undefined) {
    box.hidden = false;
    $("jump-fill").style.width = `${Math.min(95, 100 * j.elapsed_s / JUMP_EXPECT_S)}%`;
    $("jump-text").textContent = t("jumping to {x}: building the park", {x: twin.jumpTo || ""}) +
                                 ` ${j.elapsed_s.toFixed(1)} s`;
  } else if (!box.hidden) {
    box.hidden = true;
    if (j.took_s !== null && j.took_s !== undefined) {
      say(t("jumped to {x} in {s} s", {x: twin.jumpTo || "", s: j.took_s.toFixed(1)}), true);
      setTimeout(() => say(""), 4000);
    }
  }
}

function applyTotals(tot) {
  if (!tot || !tot.carbon || tot.segment !== twin.segment && twin.segment !== null) return;
  twin.totals = tot;
  const c = tot.carbon;
  $("v-co2").textContent = fmt(c.co2_t, 0);
  $("carbon-hours").textContent = c.hours ? t("over {x} days", {x: fmt(c.hours / 24, 1)}) : "";
  const clean = (c.criteria || []).find((k) => k.key === "clean_energy_share");
  if (clean) {
    $("v-clean").textContent = `${fmt(100 * clean.value, 1)} %`;
    $("v-clean-min").textContent = `${fmt(100 * clean.threshold, 0)} %`;
    $("clean-bar").style.width = `${Math.min(100, 100 * (clean.value || 0))}%`;
    $("clean-bar").style.background = clean.met ? "var(--ok)" : "var(--warn)";
    $("clean-mark").style.left = `${100 * clean.threshold}%`;
  }
  const ul = $("criteria");
  ul.innerHTML = "";
  for (const k of c.criteria || []) {
    const li = document.createElement("li");
    const digits = Math.abs(k.value) >= 100 ? 0 : 3;
    const value = k.unit === "1" ? `${fmt(100 * k.value, 1)} %` : `${fmt(k.value, digits)} ${k.unit}`;
    const limit = k.unit === "1" ? `${fmt(100 * k.threshold, 0)} %` : `${fmt(k.threshold, 2)}`;
    li.innerHTML = `<span></span><span><b></b> <span class="${k.met ? "met" : "unmet"}">` +
                   `${k.met ? "✓" : "✗"}</span></span>`;
    li.firstChild.textContent = twin.lang === "zh" ? k.zh : k.en;
    li.firstChild.title = twin.lang === "zh" ? k.en : k.zh;
    li.querySelector("b").textContent = `${value} (${k.comparison} ${limit})`;
    ul.append(li);
  }
  const table = $("kpis");
  table.innerHTML = "";
  for (const k of tot.kpis || []) {
    const tr = document.createElement("tr");
    const v = k.unit === "1" ? `${fmt(100 * k.value, 1)} %` : `${fmt(k.value, k.value > 100 ? 0 : 2)} ${k.unit}`;
    tr.innerHTML = "<td></td><td class=v></td>";
    tr.firstChild.textContent = (twin.lang === "zh" && window.I18N && window.I18N.zh[`kpi:${k.key}`]) || k.doc;
    tr.firstChild.title = k.key;
    tr.lastChild.textContent = v;
    table.append(tr);
  }
}

function renderAoiLine(f) {
  const a = f.aoi || {};
  const rows = [[t("boards out (step)"), fmt(a.boards_out, 0)], [t("rejected (step)"), fmt(a.boards_rejected, 0)],
                [t("throughput"), `${fmt(a.throughput_per_h, 0)} /h`],
                [t("first-pass yield"), a.fpy === null || a.fpy === undefined ? "—" : `${fmt(100 * a.fpy, 1)} %`],
                ["OEE", a.oee === null || a.oee === undefined ? "—" : `${fmt(100 * a.oee, 1)} %`]];
  const table = $("aoi-kpis");
  table.innerHTML = "";
  for (const [k, v] of rows) {
    const tr = document.createElement("tr");
    tr.innerHTML = "<td></td><td class=v></td>";
    tr.firstChild.textContent = k;
    tr.lastChild.textContent = v;
    table.append(tr);
  }
}

function applyAoi(a) {
  if (!a || !a.version) return;
  const old = twin.aoi;
  twin.aoi = a;
  if (!old || old.version !== a.version) {
    $("aoi-board").src = `/api/aoi/board.jpg?v=${a.version}`;
    const kinds = a.findings.map((x) => x.kind).join(", ");
    $("aoi-board-cap").textContent = `${t("board {x}", {x: a.index})}: ${a.flagged ? t("flagged ({x})", {x: kinds}) : t("passed")}` +
      ` · ${a.defective ? t("defective") : t("good")} · ${a.time}`;
  }
  if (a.robot_version && (!old || old.robot_version !== a.robot_version)) {
    $("aoi-robot").src = `/api/aoi/robot.jpg?v=${a.robot_version}`;
    $("aoi-robot-cap").textContent = t("reject robot: board {x} to the tray", {x: a.index});
  }
  $("aoi-note").textContent = t("defective share {x} %", {x: fmt(100 * a.p_defect, 0)});
  renderFindings(a);
}

// ------------------------------------------------------------------ live
function connect() {
  const es = new EventSource("/api/stream");
  es.addEventListener("snapshot", (e) => {
    tick();
    const d = JSON.parse(e.data);
    applyStatus(d.status);
    reset(d.frames);
    applyTotals(d.totals);
    applyAoi(d.aoi);
  });
  es.addEventListener("frames", (e) => { tick(); addFrames(JSON.parse(e.data)); });
  es.addEventListener("status", (e) => { tick(); applyStatus(JSON.parse(e.data)); });
  es.addEventListener("totals", (e) => { tick(); applyTotals(JSON.parse(e.data)); });
  es.addEventListener("aoi", (e) => { tick(); applyAoi(JSON.parse(e.data)); });
  es.onerror = () => { $("state").textContent = t("reconnecting"); };
}

async function control(action, value) {
  try {
    const r = await post("/api/control", {action, value});
    applyStatus(r.status);
    say("");
  } catch (err) { say(err.message); }
}

async function fireEvent(kind) {
  const body = {kind, hours: Number($("ev-hours").value) || 6};
  if (kind === "demand_response") body.cut_import_mw = Number($("ev-cut").value) || 30;
  if (kind === "line_trip") body.line = $("ev-line").value;
  try {
    const r = await post("/api/event", body);
    say(r.windows.length ? t("{kind} from {start} (simulated)", {kind: t(LABELS[kind] || kind), start: r.windows[0].start})
                         : t("the event falls outside the run"), r.windows.length > 0);
    if (kind === "demand_response" && twin.info.controller !== "ems") {
      say(t("the rule controller does not answer a grid operator's requests: the page shows the request missed; run the demo with --controller ems"));
    }
  } catch (err) { say(err.message); }
}

function setupLive() {
  $("live-controls").hidden = false;
  $("btn-pause").onclick = () => control("pause");
  $("btn-resume").onclick = () => control("resume");
  $("speed").onchange = () => control("speed", Number($("speed").value));
  $("btn-jump").onclick = () => { twin.jumpTo = $("jump-date").value; control("jump", twin.jumpTo); };
  for (const b of document.querySelectorAll("#event-buttons button")) {
    b.onclick = () => fireEvent(b.dataset.kind);
  }
  const sel = $("ev-line");
  for (const name of twin.info.lines || []) {
    const o = document.createElement("option");
    o.value = o.textContent = name;
    sel.append(o);
  }
  if (!(twin.info.lines || []).length) $("ev-line_trip").disabled = true;
  if (!(twin.info.ev || []).length) $("ev-ev_surge").disabled = true;
  if (!(twin.info.aoi || []).length) $("ev-defect_burst").disabled = true;
  connect();
}

function setupViewer() {  // a watch-only link: no controls, no event buttons
  document.body.classList.add("viewer");
  $("event-buttons").hidden = true;
  document.querySelector(".event-form").hidden = true;
  $("role").hidden = false;
  connect();
}

// ------------------------------------------------------------------ replay
let totalsTimer = null;
let asked = 0;  // the latest step asked for: older answers are dropped (never out of order)

async function showStep(i, query = null, movedAt = performance.now()) {
  const n = ++asked;
  const started = performance.now();
  twin.askedAt = movedAt;
  const d = await getJSON(`/api/snapshot?${query || `i=${i}`}`);
  if (n !== asked) return null;  // a newer move came first
  tick();
  applyStatus(d.status);
  reset(d.frames, true);
  $("slider").value = String(d.status.i);
  if (twin.shown) twin.shown.push(d.status.i);
  $("slider-time").textContent = d.status.time;
  twin.stepMs = performance.now() - started;
  if (!d.status.forecasts) {  // the forecasts are still being worked out: ask again
    setTimeout(() => { if (n === asked && !twin.playing) showStep(d.status.i).catch(() => {}); }, 1500);
  }
  clearTimeout(totalsTimer);
  totalsTimer = setTimeout(async () => {
    const tot = await getJSON(`/api/totals?i=${d.status.i}`);
    if (n === asked) applyTotals({...tot, segment: twin.segment});
  }, 150);
  return d;
}

function stopPlay() {
  twin.playing = null;
  $("btn-play").textContent = t("Play");
}

async function play() {  // one step at a time: the next is asked once the last is shown
  const token = {};
  twin.playing = token;
  $("btn-play").textContent = t("Stop");
  const slider = $("slider");
  while (twin.playing === token && Number(slider.value) < Number(slider.max)) {
    const wait = new Promise((r) => setTimeout(r, 400));
    try {
      await showStep(Number(slider.value) + 1);
    } catch (err) { say(err.message); break; }
    await wait;
  }
  if (twin.playing === token) stopPlay();
}

function setupReplay() {
  $("replay-controls").hidden = false;
  for (const b of document.querySelectorAll("#event-buttons button")) b.disabled = true;
  const slider = $("slider");
  slider.max = String(twin.info.n - 1);
  slider.value = String(Math.min(twin.info.n - 1, 191));
  const date = $("replay-date");
  date.min = twin.info.first.slice(0, 10);
  date.max = twin.info.last.slice(0, 10);
  let wanted = null, busy = false;  // one request at a time, for the latest step moved to
  const fetchWanted = () => {
    if (busy || wanted === null) return;
    const [i, movedAt] = wanted;
    wanted = null;
    busy = true;
    showStep(i, null, movedAt).catch((e) => say(e.message))
      .finally(() => { busy = false; fetchWanted(); });
  };
  slider.oninput = () => {  // the step moved to, kept now: an older answer still on its way
    stopPlay();             // (a forecast retry, the last move's) would set the slider back to
    asked++;                // its step, and is dropped from here on
    wanted = [Number(slider.value), performance.now()];
    fetchWanted();
  };
  date.onchange = () => {
    stopPlay();
    if (date.value) showStep(null, `date=${date.value}`).catch((e) => say(e.message));
  };
  $("btn-play").onclick = () => { if (twin.playing) stopPlay(); else play(); };
  showStep(Number(slider.value)).catch((e) => say(e.message));
}

// ------------------------------------------------------------------ language, presenter
function applyLang(lang) {
  twin.lang = lang === "zh" ? "zh" : "en";
  try { localStorage.setItem("twin-lang", twin.lang); } catch (err) { /* private mode */ }
  document.documentElement.lang = twin.lang === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("btn-lang").textContent = twin.lang === "zh" ? "English" : "中文";
  if (!twin.info) return;
  if (twin.info.mode === "telemetry") { tmRelabel(); return; }  // live_mode.js
  $("mode").textContent = twin.info.mode === "live"
    ? t("live · {x} controller", {x: t(twin.info.controller)}) : t("replay");
  if (twin.status) applyStatus(twin.status);
  if (twin.totals) applyTotals(twin.totals);
  if (twin.aoi) { const a = twin.aoi; twin.aoi = null; applyAoi(a); }
  if (twin.tour) showTourStep();
  if (twin.info) buildMap(twin.info.diagram);
  render(true);
}

function firstLang() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked) return asked;
  try {
    const kept = localStorage.getItem("twin-lang");
    if (kept) return kept;
  } catch (err) { /* private mode */ }
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
}

function setPresenter(on) {
  document.body.classList.toggle("presenter", on);
  $("btn-presenter").classList.toggle("on", on);
  if (on && document.fullscreenEnabled && !document.fullscreenElement) {
    document.documentElement.requestFullscreen().catch(() => {});
  } else if (!on && document.fullscreenElement) {
    document.exitFullscreen().catch(() => {});
  }
  relayout();
}

// a window this size or larger shows the whole page on one screen (style.css, body.fit)
const FIT = "(min-width: 1100px) and (min-height: 600px)";

function fitScreen() {
  document.body.classList.toggle("fit", !document.body.classList.contains("presenter") &&
                                        window.matchMedia(FIT).matches);
}

function relayout() {  // sizes changed: the diagram and the charts again
  fitScreen();
  twin.chartSizes = {};
  if (!twin.info) return;
  buildDiagram(twin.info.diagram);
  if (typeof buildMap === "function") buildMap(twin.info.diagram);
  render(true);
}

// ------------------------------------------------------------------ start
async function main() {
  try {
    twin.info = await getJSON("/api/info");
  } catch (err) { say(err.message); return; }
  const info = twin.info;
  if (info.mode === "telemetry") { liveMode(info); return; }  // live_mode.js
  applyLang(firstLang());
  $("btn-lang").onclick = () => applyLang(twin.lang === "zh" ? "en" : "zh");
  $("btn-presenter").onclick = () => setPresenter(!document.body.classList.contains("presenter"));
  if (new URLSearchParams(location.search).has("presenter")) setPresenter(true);
  $("park").textContent = info.park;
  document.title = `${info.park} — ${info.mode}`;
  $("mode").textContent = info.mode === "live" ? t("live · {x} controller", {x: t(info.controller)}) : t("replay");
  if (!info.aoi.length) {
    $("aoi-note").textContent = t("no AOI line in this scenario");
    document.querySelector(".aoi-images").hidden = true;
    $("aoi-kpis").hidden = true;
  } else if (!info.aoi_camera) {
    document.querySelector(".aoi-images").hidden = true;  // twin demo --no-camera
  }
  if (!(info.lines || []).length) $("ev-line").parentElement.hidden = true;
  fitScreen();
  buildDiagram(info.diagram);
  buildMap(info.diagram);
  if (typeof IntersectionObserver !== "undefined") {
    const seen = new IntersectionObserver(chartsSeen);
    for (const id of Object.keys(CHARTS)) seen.observe($(id));
  }
  if (typeof ResizeObserver !== "undefined") {
    const sized = new ResizeObserver(chartsResized);
    for (const id of Object.keys(CHARTS)) sized.observe($(id));
  }
  setupTour();
  if (!(info.ev || []).length) {
    $("ev-note").textContent = t("no EV hub in this scenario");
    $("chart-ev").hidden = true;
  }
  if (info.mode === "live" && info.role === "viewer") setupViewer();
  else if (info.mode === "live") setupLive(); else setupReplay();
  let size = [window.innerWidth, window.innerHeight];
  window.addEventListener("resize", () => {
    if (Math.abs(window.innerWidth - size[0]) > 20 || Math.abs(window.innerHeight - size[1]) > 20) {
      size = [window.innerWidth, window.innerHeight];
      relayout();
    } else { twin.chartSizes = {}; render(true); }
  });
}

main();
