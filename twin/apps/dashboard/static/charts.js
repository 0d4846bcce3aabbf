// The trainers' page's time-series charts, drawn on a canvas: a redraw after a slider move
// (two days of steps, a dozen series) takes a few milliseconds, where plotly's whole pipeline
// (defaults, axes, legend, SVG) took about a hundred. Loaded before app.js.
//
// drawChart(id, traces, opts): traces as plotly's ({x, y, name, line: {color, width, dash,
// shape: "hv"}, yaxis: "y2", opacity, fill: "tozeroy", fillcolor, showlegend}); opts:
// {width, height, font, legend, y2: {range, suffix}, shapes: [{x0, x1, color}],
// labels: [{x, text, color}]}. The element keeps .data and .layout ({shapes}) for readers.
"use strict";

const CHART_DAY = 86400000;
const CHART_STEPS = [900e3, 1800e3, 3600e3, 2 * 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3,
                     CHART_DAY, 2 * CHART_DAY, 7 * CHART_DAY, 14 * CHART_DAY, 28 * CHART_DAY];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function niceTicks(lo, hi, n, outward = true) {  // round steps (1, 2, 2.5, 5 x 10^k) over [lo, hi]
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / Math.max(n, 1);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const out = [];
  const first = (outward ? Math.floor(lo / step) : Math.ceil(lo / step)) * step;
  const last = (outward ? Math.ceil(hi / step) : Math.floor(hi / step)) * step;
  for (let v = first; v <= last + 1e-9 * step; v += step) out.push(Math.abs(v) < 1e-9 * step ? 0 : v);
  return {ticks: out, step};
}

function timeTicks(x0, x1, n) {  // x: a clock read as UTC (ms)
  const step = CHART_STEPS.find((s) => (x1 - x0) / s <= n) || CHART_STEPS[CHART_STEPS.length - 1];
  const out = [];
  for (let v = Math.ceil(x0 / step) * step; v <= x1; v += step) {
    const d = new Date(v);
    const midnight = d.getUTCHours() === 0 && d.getUTCMinutes() === 0;
    const zh = document.documentElement.lang.startsWith("zh");
    out.push({v, text: midnight || step >= CHART_DAY
      ? (zh ? `${d.getUTCMonth() + 1}月${d.getUTCDate()}日` : `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}`)
      : `${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`, bold: midnight});
  }
  return out;
}

function chartParts(el) {  // the legend (HTML), the canvas and the hover note, made once
  if (el._chart) return el._chart;
  el.innerHTML = "";
  const legend = document.createElement("div");
  legend.className = "clegend";
  const canvas = document.createElement("canvas");
  const tip = document.createElement("div");
  tip.className = "ctip";
  tip.hidden = true;
  el.append(legend, canvas, tip);
  el.style.position = "relative";
  const parts = el._chart = {legend, canvas, tip, legendKey: null, hidden: new Set(), last: null};
  canvas.addEventListener("mousemove", (e) => chartHover(el, e.offsetX));
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; if (parts.last) paint(el, null); });
  return parts;
}

function drawChart(id, traces, opts = {}) {
  const el = document.getElementById(id);
  const parts = chartParts(el);
  el.data = traces;
  el.layout = {shapes: opts.shapes || []};
  const key = opts.legend === false ? "" : traces.filter((tr) => tr.showlegend !== false)
    .map((tr) => `${tr.name}|${tr.line.color}|${tr.line.dash || ""}`).join(";");
  if (key !== parts.legendKey) {  // rebuilt only when the series change (a language, a request)
    parts.legendKey = key;
    parts.legend.innerHTML = "";
    parts.legend.hidden = !key;
    for (const tr of traces) {
      if (opts.legend === false || tr.showlegend === false) continue;
      const item = document.createElement("span");
      item.className = "citem";
      const sw = document.createElement("i");
      sw.style.borderTop = `${Math.max(2, tr.line.width || 1.5)}px ${tr.line.dash ? "dotted" : "solid"} ${tr.line.color}`;
      item.append(sw, document.createTextNode(tr.name));
      item.dataset.name = tr.name;
      item.onclick = () => {  // hide or show the series (and its group)
        const group = tr.legendgroup || tr.name;
        if (parts.hidden.has(group)) parts.hidden.delete(group); else parts.hidden.add(group);
        item.classList.toggle("off", parts.hidden.has(group));
        if (parts.last) paint(el, null);
      };
      item.classList.toggle("off", parts.hidden.has(tr.legendgroup || tr.name));
      parts.legend.append(item);
    }
  }
  const legendH = parts.legend.hidden ? 0 : parts.legend.offsetHeight;
  const width = Math.max(100, opts.width || el.clientWidth || 400);
  const height = Math.max(60, (opts.height || el.clientHeight || 270) - legendH);
  const dpr = window.devicePixelRatio || 1;
  if (parts.canvas.width !== Math.round(width * dpr) || parts.canvas.height !== Math.round(height * dpr)) {
    parts.canvas.width = Math.round(width * dpr);
    parts.canvas.height = Math.round(height * dpr);
    parts.canvas.style.width = `${width}px`;
    parts.canvas.style.height = `${height}px`;
  }
  parts.last = {traces, opts, width, height, dpr};
  paint(el, null);
}

function paint(el, hoverX) {
  const {canvas, hidden, last} = el._chart;
  const {traces, opts, width, height, dpr} = last;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const font = opts.font || 11;
  const y2 = opts.y2 && traces.some((tr) => tr.yaxis === "y2");
  const m = {l: 44, r: y2 ? Math.round(font * 3.6) : 10, t: 6, b: font + 10};
  const W = width - m.l - m.r, H = height - m.t - m.b;
  const shown = traces.filter((tr) => !hidden.has(tr.legendgroup || tr.name));
  let x0 = Infinity, x1 = -Infinity, lo = Infinity, hi = -Infinity;
  for (const tr of traces) {
    for (let i = 0; i < tr.x.length; i++) {
      const v = tr.x[i];
      if (v < x0) x0 = v;
      if (v > x1) x1 = v;
      const y = tr.y[i];
      if (tr.yaxis !== "y2" && y !== null && y !== undefined && !Number.isNaN(y)
          && !hidden.has(tr.legendgroup || tr.name)) {
        if (y < lo) lo = y;
        if (y > hi) hi = y;
      }
    }
  }
  if (!Number.isFinite(x0)) return;
  if (x1 === x0) x1 = x0 + 3600e3;
  if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
  if (opts.zero !== false) { lo = Math.min(lo, 0); hi = Math.max(hi, 0); }
  const {ticks} = niceTicks(lo, hi, Math.max(2, Math.floor(H / 45)));
  const ylo = ticks[0], yhi = Math.max(ticks[ticks.length - 1], ylo + 1e-9);
  const X = (v) => m.l + (v - x0) / (x1 - x0) * W;
  const Y = (v) => m.t + (1 - (v - ylo) / (yhi - ylo)) * H;
  const r2 = (opts.y2 && opts.y2.range) || [0, 100];
  const Y2 = (v) => m.t + (1 - (v - r2[0]) / (r2[1] - r2[0])) * H;
  ctx.font = `${font}px system-ui, "WenQuanYi Zen Hei", sans-serif`;
  for (const s of opts.shapes || []) {  // the events' windows, shaded
    const a = Math.max(X(s.x0), m.l), b = Math.min(X(s.x1), m.l + W);
    if (b <= a) continue;
    ctx.globalAlpha = s.opacity || 0.13;
    ctx.fillStyle = s.color;
    ctx.fillRect(a, m.t, b - a, H);
  }
  ctx.globalAlpha = 1;
  ctx.strokeStyle = "#eef1f4";
  ctx.lineWidth = 1;
  ctx.fillStyle = "#56606b";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const v of ticks) {
    const y = Math.round(Y(v)) + 0.5;
    ctx.strokeStyle = v === 0 ? "#c4ccd4" : "#eef1f4";
    ctx.beginPath(); ctx.moveTo(m.l, y); ctx.lineTo(m.l + W, y); ctx.stroke();
    ctx.fillText(fmtTick(v), m.l - 5, y);
  }
  if (y2) {
    ctx.textAlign = "left";
    for (const v of niceTicks(r2[0], r2[1], 4, false).ticks) ctx.fillText(`${fmtTick(v)}${opts.y2.suffix || ""}`, m.l + W + 5, Y2(v));
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const tk of timeTicks(x0, x1, Math.max(2, Math.floor(W / 75)))) {
    const x = Math.round(X(tk.v)) + 0.5;
    ctx.strokeStyle = "#eef1f4";
    ctx.beginPath(); ctx.moveTo(x, m.t); ctx.lineTo(x, m.t + H); ctx.stroke();
    ctx.font = `${tk.bold ? "600 " : ""}${font}px system-ui, "WenQuanYi Zen Hei", sans-serif`;
    ctx.fillText(tk.text, x, m.t + H + 4);
  }
  ctx.font = `${font - 1}px system-ui, "WenQuanYi Zen Hei", sans-serif`;
  ctx.textAlign = "left";
  (opts.labels || []).forEach((lb, k) => {  // the events' names at their windows' start
    const x = X(lb.x);
    if (x < m.l - 1 || x > m.l + W) return;
    ctx.fillStyle = lb.color;
    ctx.fillText(lb.text, x + 3, m.t + 2 + (k % 4) * (font + 2));
  });
  ctx.save();
  ctx.beginPath(); ctx.rect(m.l, m.t, W, H); ctx.clip();
  for (const tr of shown) {
    const yf = tr.yaxis === "y2" ? Y2 : Y;
    const hv = tr.line.shape === "hv";
    ctx.globalAlpha = tr.opacity === undefined ? 1 : tr.opacity;
    ctx.strokeStyle = tr.line.color;
    ctx.lineWidth = tr.line.width || 1.5;
    ctx.setLineDash(tr.line.dash === "dot" ? [2, 3] : tr.line.dash === "dash" ? [6, 4] : []);
    ctx.lineJoin = "round";
    const runs = [];  // unbroken stretches (a null breaks the line)
    let run = null;
    for (let i = 0; i < tr.x.length; i++) {
      const y = tr.y[i];
      if (y === null || y === undefined || Number.isNaN(y)) { run = null; continue; }
      if (!run) runs.push(run = []);
      run.push([X(tr.x[i]), yf(y)]);
    }
    for (const pts of runs) {
      ctx.beginPath();
      pts.forEach(([x, y], i) => {
        if (i === 0) ctx.moveTo(x, y);
        else if (hv) { ctx.lineTo(x, pts[i - 1][1]); ctx.lineTo(x, y); } else ctx.lineTo(x, y);
      });
      ctx.stroke();
      if (tr.fill === "tozeroy" && pts.length > 1) {
        ctx.lineTo(pts[pts.length - 1][0], yf(0));
        ctx.lineTo(pts[0][0], yf(0));
        ctx.closePath();
        ctx.fillStyle = tr.fillcolor || tr.line.color;
        ctx.fill();
      }
    }
  }
  ctx.restore();
  ctx.globalAlpha = 1;
  ctx.setLineDash([]);
  if (hoverX !== null) {
    ctx.strokeStyle = "#8a95a0";
    ctx.beginPath(); ctx.moveTo(hoverX + 0.5, m.t); ctx.lineTo(hoverX + 0.5, m.t + H); ctx.stroke();
  }
  el._chart.frame = {m, W, x0, x1};
}

function fmtTick(v) {
  const a = Math.abs(v);
  return a >= 1000 ? `${Math.round(v / 100) / 10}k` : String(Number(v.toFixed(a >= 10 ? 0 : a >= 1 ? 1 : 2)));
}

function chartHover(el, px) {  // the values of the nearest step under the mouse
  const c = el._chart;
  if (!c.last || !c.frame) return;
  const {m, W, x0, x1} = c.frame;
  if (px < m.l || px > m.l + W) { c.tip.hidden = true; paint(el, null); return; }
  const xv = x0 + (px - m.l) / W * (x1 - x0);
  const rows = [];
  let at = null;
  for (const tr of c.last.traces) {
    if (c.hidden.has(tr.legendgroup || tr.name) || !tr.x.length) continue;
    let best = 0;
    for (let i = 1; i < tr.x.length; i++) if (Math.abs(tr.x[i] - xv) < Math.abs(tr.x[best] - xv)) best = i;
    const y = tr.y[best];
    if (y === null || y === undefined || Math.abs(tr.x[best] - xv) > (x1 - x0) / 40) continue;
    at = tr.x[best];
    rows.push(`<span style="color:${tr.line.color}">■</span> ${escapeHtml(tr.name)}: ${Number(y).toFixed(1)}`);
  }
  if (!rows.length) { c.tip.hidden = true; paint(el, null); return; }
  const d = new Date(at);
  const head = `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, "0")}-${String(d.getUTCDate()).padStart(2, "0")} ` +
               `${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`;
  c.tip.innerHTML = `<b>${head}</b><br>${rows.join("<br>")}`;
  c.tip.hidden = false;
  const left = px + 12 + 180 > m.l + W + m.r ? px - 190 : px + 12;
  c.tip.style.left = `${Math.max(0, left)}px`;
  c.tip.style.top = `${c.legend.offsetHeight + 8}px`;
  paint(el, px);
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"]/g, (ch) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})[ch]);
}
