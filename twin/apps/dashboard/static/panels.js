// The trainers' page, its panels beyond the core (app.js calls them): the EV panel, the AOI
// findings, the schematic park map and the guided tour. Loaded before app.js; the helpers they
// use ($, t, fmt, post, say, lineWidth, COLORS, twin) are app.js's, looked up when called.
"use strict";

// ------------------------------------------------------------------ EV panel, AOI findings
function renderEv(f) {
  const e = f.ev || {};
  $("v-ev-p").textContent = fmt(e.p);
  $("v-ev-n").textContent = fmt(e.connected, 0);
  $("v-ev-q").textContent = fmt(e.queued, 0);
  $("v-ev-a").textContent = fmt(e.arrivals, 0);
  const surge = ((twin.status && twin.status.events) || []).find((w) => w.active && w.kind === "ev_surge");
  $("ev-note").textContent = surge ? t("arrivals ×{x} (EV surge)", {x: surge.detail.arrival_factor}) : "";
  $("ev-note").classList.toggle("alert", Boolean(surge));
}

function drawEvChart(x, marks) {
  if (!(twin.info.ev || []).length) return;
  const trace = {x, y: twin.frames.map((f) => (f.ev ? f.ev.p : null)), name: t("EV power"),
                 line: {color: COLORS.ev, width: 1.8}, fill: "tozeroy",
                 fillcolor: "rgba(47,111,214,0.12)"};
  drawChart("chart-ev", [trace], chartOpts("chart-ev", {...marks, labels: [], legend: false}));
}

function renderFindings(a) {
  const ul = $("aoi-findings");
  ul.innerHTML = "";
  for (const x of a.findings || []) {
    const li = document.createElement("li");
    li.textContent = `${x.kind} ${fmt(100 * x.score, 0)} %`;
    ul.append(li);
  }
}

// ------------------------------------------------------------------ park map (schematic)
function buildMap(d) {
  const svg = $("map");
  const W = 900, H = 560;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.innerHTML = "";
  const byId = Object.fromEntries(d.nodes.map((n) => [n.id, n]));
  const kids = {};
  d.edges.forEach((e, i) => { (kids[e.a] = kids[e.a] || []).push({e, i}); });
  const grid = d.nodes.find((n) => n.kind === "grid" && n.col === 0) || d.nodes[0];
  const first = (kids[grid.id] || [])[0];
  const hub = first ? byId[first.e.b] : grid;  // the main substation (or the PCC busbar)
  const sites = (kids[hub.id] || []).map(({e, i}) => ({node: byId[e.b], edge: e, index: i}));
  const cx = W / 2 + 40, cy = H / 2, rx = W / 2 - 150, ry = H / 2 - 70;
  const g = (cls) => { const x = document.createElementNS(SVGNS, "g"); x.setAttribute("class", cls); svg.append(x); return x; };
  const gLines = g("map-lines"), gSites = g("map-sites");
  const el = (name, attrs, parent) => {
    const x = document.createElementNS(SVGNS, name);
    for (const [k, v] of Object.entries(attrs)) x.setAttribute(k, v);
    parent.append(x);
    return x;
  };
  const mapped = {edges: [], sites: []};
  const pcc = el("line", {x1: 40, y1: cy, x2: cx, y2: cy, class: "map-line"}, gLines);
  mapped.edges.push({index: first ? first.i : -1, line: pcc});
  el("rect", {x: 14, y: cy - 26, width: 52, height: 52, rx: 6, class: "map-grid"}, gSites);
  el("text", {x: 40, y: cy + 44, "text-anchor": "middle", class: "map-label"}, gSites).textContent = t("public grid");
  el("circle", {cx, cy, r: 24, class: "map-hub"}, gSites);
  el("text", {x: cx, y: cy + 42, "text-anchor": "middle", class: "map-label"}, gSites).textContent = t("main substation");
  sites.forEach((s, k) => {
    const a = -Math.PI / 2 + (2 * Math.PI * (k + 0.5)) / Math.max(sites.length, 1);
    const x = cx + rx * Math.cos(a), y = cy + ry * Math.sin(a);
    const line = el("line", {x1: cx, y1: cy, x2: x, y2: y, class: "map-line"}, gLines);
    mapped.edges.push({index: s.index, line});
    const members = s.node.entity ? [{n: s.node, i: s.index}]
      : (kids[s.node.id] || []).map(({e, i}) => ({n: byId[e.b], i})).filter((m) => m.n.entity);
    const w = Math.max(96, 26 * members.length + 16), h = 58;
    const box = el("rect", {x: x - w / 2, y: y - h / 2, width: w, height: h, rx: 10, class: "map-site"}, gSites);
    const name = (s.node.entity || s.node.label.split(" ")[0]);
    el("text", {x, y: y - h / 2 - 6, "text-anchor": "middle", class: "map-label"}, gSites).textContent = name;
    const mw = el("text", {x, y: y + h / 2 - 7, "text-anchor": "middle", class: "map-mw"}, gSites);
    members.forEach((m, j) => {
      const ex = x - w / 2 + 20 + j * 26, ey = y - 8;
      const c = el("circle", {cx: ex, cy: ey, r: 9, fill: COLORS[m.n.kind] || "#888", class: "map-entity"}, gSites);
      const tt = document.createElementNS(SVGNS, "title");
      tt.textContent = m.n.entity;
      c.append(tt);
      el("text", {x: ex, y: ey + 4, "text-anchor": "middle", class: "map-icon"}, gSites).textContent =
        {wind: "W", pv: "S", battery: "B", factory: "F", ev: "E", heat: "H", aoi: "A"}[m.n.kind] || "·";
    });
    mapped.sites.push({box, mw, members: members.map((m) => m.n.entity), index: s.index,
                       feeders: members.map((m) => m.i)});
  });
  twin.map = mapped;
}

function drawMap(f) {
  const m = twin.map;
  if (!m || !f.flows) return;
  const tripped = f.tripped || {};
  for (const x of m.edges) {
    const p = x.index >= 0 ? f.flows[x.index] || 0 : f.pcc || 0;
    x.line.style.strokeWidth = lineWidth(p).toFixed(2);
    x.line.classList.toggle("tripped", Boolean(tripped[x.index]));
    x.line.classList.toggle("idle", Math.abs(p) < 0.05);
  }
  for (const s of m.sites) {
    const p = f.flows[s.index] || 0;  // > 0: the site draws from the park's grid
    s.mw.textContent = `${p >= 0 ? "↓" : "↑"} ${fmt(Math.abs(p))} MW`;
    s.box.classList.toggle("gives", p < -0.05);
    s.box.classList.toggle("cut", Boolean(tripped[s.index]) || s.feeders.some((i) => tripped[i]));
  }
}

function showView(which) {
  $("diagram").toggleAttribute("hidden", which !== "sld");  // SVG: the attribute itself
  $("map").toggleAttribute("hidden", which !== "map");
  $("view-sld").classList.toggle("on", which === "sld");
  $("view-map").classList.toggle("on", which === "map");
  const f = twin.frames[twin.frames.length - 1];
  if (f) drawMap(f);
}

// ------------------------------------------------------------------ guided tour
// A storyline a trainer steps through (Next) or lets run: each scene acts on the live twin
// (with the operator's link) and points at what to look at.
function tourScenes() {
  const line = (twin.info.lines || []).find((n) => !n.startsWith("public-grid")) || null;
  const req = twin.info.request;  // a request the scenario schedules: one the park can answer
  return [
    {title: "A spring day", spot: ".now", jump: twin.info.opening,
     text: "Morning in the park: the sun comes up over the roofs, the wind farms feed their direct lines, the factories start the day shift. Each tile is what the co-simulation computes now."},
    {title: "A cloud front", spot: ".chart.power", event: {kind: "cloud_front", hours: 2},
     text: "Clouds cover the park for two hours: PV falls within a step, and the import or the storage takes over. The shaded window on the chart is the event."},
    req ? {title: "The grid operator asks for less", spot: ".events", jump: req.at,  // the scenario's own
           vars: {x: fmt(req.cut_mw, 0), at: req.at.replace("T", " ")},          // request, from its start
           text: "To a request the grid operator sends this park: import {x} MW less from {at}. The event list shows what was asked, offered by the virtual power plant and delivered, step by step; the rule controller does not answer, and the page says so."}
        : {title: "The grid operator asks for less", spot: ".events", event: {kind: "demand_response", hours: 2, cut_import_mw: 30},
           text: "The grid operator asks the park to import 30 MW less for two hours. The event list shows what was asked, offered by the virtual power plant and delivered, step by step; the rule controller does not answer, and the page says so."},
    {title: "The evening peak", spot: ".chart.power", speed: 3600,
     text: "Evening: the sun sets, the factories still run and the EV hubs fill up. The storage discharges into the peak; time runs faster now."},
    {title: "A line trip", spot: ".sld", event: line ? {kind: "line_trip", hours: 1, line} : null, speed: 600,
     text: "A cable trips: the diagram draws that line alone as tripped, and what it fed shows the power it gets, not what it asks. Load shed and network losses are counted apart."},
    {title: "The carbon counter", spot: ".carbon",
     text: "Every step adds to the carbon counter, computed as for a finished run, and to the national criteria of a zero-carbon park, each against its threshold."},
  ];
}

async function showTourStep() {
  const tour = twin.tour;
  const scene = tour.scenes[tour.i];
  for (const x of document.querySelectorAll(".spot")) x.classList.remove("spot");
  if (scene.spot) document.querySelector(scene.spot).classList.add("spot");
  $("tour-title").textContent = t(scene.title);
  $("tour-count").textContent = `${tour.i + 1} / ${tour.scenes.length}`;
  $("tour-caption").textContent = t(scene.text, scene.vars || {});
  $("tour-prev").disabled = tour.i === 0;
  $("tour-next").disabled = tour.i === tour.scenes.length - 1;
}

async function actTourStep() {  // what the scene does to the twin, once
  const tour = twin.tour;
  const scene = tour.scenes[tour.i];
  if (tour.done.has(tour.i) || twin.info.mode !== "live" || twin.info.role === "viewer") return;
  tour.done.add(tour.i);
  try {
    if (scene.jump) { twin.jumpTo = scene.jump; await post("/api/control", {action: "jump", value: scene.jump}); }
    if (scene.speed) await post("/api/control", {action: "speed", value: scene.speed});
    if (scene.event) await post("/api/event", scene.event);
  } catch (err) { say(err.message); }
}

function tourGo(i) {
  const tour = twin.tour;
  tour.i = Math.max(0, Math.min(tour.scenes.length - 1, i));
  showTourStep();
  actTourStep();
}

function startTour() {
  twin.tour = {scenes: tourScenes(), i: 0, done: new Set(), timer: null};
  $("tour").hidden = false;
  $("btn-tour").classList.add("on");
  tourGo(0);
}

function endTour() {
  if (twin.tour && twin.tour.timer) clearInterval(twin.tour.timer);
  twin.tour = null;
  $("tour").hidden = true;
  $("btn-tour").classList.remove("on");
  for (const x of document.querySelectorAll(".spot")) x.classList.remove("spot");
}

function setupTour() {
  $("btn-tour").onclick = () => (twin.tour ? endTour() : startTour());
  $("tour-next").onclick = () => tourGo(twin.tour.i + 1);
  $("tour-prev").onclick = () => tourGo(twin.tour.i - 1);
  $("tour-end").onclick = endTour;
  $("tour-auto").onclick = () => {
    const tour = twin.tour;
    if (tour.timer) { clearInterval(tour.timer); tour.timer = null; $("tour-auto").classList.remove("on"); return; }
    $("tour-auto").classList.add("on");
    tour.timer = setInterval(() => {
      if (tour.i >= tour.scenes.length - 1) { clearInterval(tour.timer); tour.timer = null; $("tour-auto").classList.remove("on"); return; }
      tourGo(tour.i + 1);
    }, 12000);
  };
  $("view-sld").onclick = () => showView("sld");
  $("view-map").onclick = () => showView("map");
}
