import { POLL_JSON_SCRIPT } from './poll-script.js';

/**
 * The live page: one self-contained HTML document (inline CSS, inline script, SVG drawn by hand), so that
 * it needs no build step and loads nothing from the network. It polls api/release (a ReleaseView), relative
 * to itself: the demo serves it at /, the controller's dashboard at /releases/{namespace}/{deployment}/,
 * whose index is three levels up (in the demo, / itself).
 */
export const PAGE_HTML = /* html */ String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sluice · live release</title>
<style>
  :root { --canary: #d9480f; --primary: #1971c2; --ok: #2b8a3e; --bad: #c92a2a; --muted: #868e96; --line: #dee2e6; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #212529; background: #f8f9fa; }
  header { display: flex; align-items: baseline; gap: 16px; padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; }
  header h1 a { color: inherit; text-decoration: none; }
  header .target { color: var(--muted); font-family: ui-monospace, monospace; }
  main { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 16px; padding: 16px 24px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; }
  section h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 8px; }
  .wide { grid-column: 1 / -1; }
  .stats { display: flex; gap: 28px; flex-wrap: wrap; }
  .stat .v { font-size: 26px; font-weight: 600; }
  .stat .k { color: var(--muted); font-size: 12px; }
  .phase { display: inline-block; padding: 2px 10px; border-radius: 12px; font-weight: 600; background: #e7f5ff; color: var(--primary); }
  .phase.Succeeded { background: #ebfbee; color: var(--ok); }
  .phase.Failed { background: #fff5f5; color: var(--bad); }
  .phase.Promoting, .phase.Finalising { background: #fff9db; color: #e67700; }
  svg { width: 100%; height: auto; display: block; }
  svg text { font-size: 11px; fill: var(--muted); }
  .legend { display: flex; gap: 16px; font-size: 12px; margin-top: 4px; }
  .legend i { display: inline-block; width: 12px; height: 3px; vertical-align: middle; margin-right: 4px; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); }
  th { color: var(--muted); font-weight: 500; font-size: 12px; }
  .passed { color: var(--ok); font-weight: 600; }
  .failed { color: var(--bad); font-weight: 600; }
  .inconclusive { color: var(--muted); font-weight: 600; }
  .events { max-height: 220px; overflow: auto; font-family: ui-monospace, monospace; font-size: 12px; }
  .events div { padding: 2px 0; }
  .events .Warning { color: var(--bad); }
  #error { color: var(--bad); }
</style>
</head>
<body>
<header>
  <h1><a href="../../../" title="every release">sluice</a></h1>
  <span class="target" id="target">…</span>
  <span class="phase" id="phase">…</span>
  <span id="error"></span>
</header>
<main>
  <section class="wide">
    <div class="stats">
      <div class="stat"><div class="v" id="weight">0%</div><div class="k">canary weight (max <span id="max">?</span>%)</div></div>
      <div class="stat"><div class="v" id="failed">0</div><div class="k">failed checks (threshold <span id="threshold">?</span>)</div></div>
      <div class="stat"><div class="v" id="checks">0</div><div class="k">checks</div></div>
      <div class="stat"><div class="v" id="elapsed">0 s</div><div class="k">elapsed</div></div>
      <div class="stat"><div class="v" id="requests">–</div><div class="k">requests (to canary / canary failed)</div></div>
    </div>
  </section>
  <section class="wide">
    <h2>Canary weight over time</h2>
    <svg id="weight-chart" viewBox="0 0 960 220" role="img" aria-label="canary weight over time"></svg>
    <div class="legend"><span><i style="background:var(--canary)"></i>weight</span>
      <span><i style="background:var(--ok);height:8px;width:8px;border-radius:4px"></i>check passed</span>
      <span><i style="background:var(--bad);height:8px;width:8px;border-radius:4px"></i>check failed</span>
      <span><i style="background:var(--muted);height:8px;width:8px;border-radius:4px"></i>inconclusive</span></div>
  </section>
  <section>
    <h2>Success rate per check</h2>
    <svg id="success-chart" viewBox="0 0 460 200" role="img" aria-label="success rate"></svg>
    <div class="legend"><span><i style="background:var(--canary)"></i>canary</span><span><i style="background:var(--primary)"></i>primary</span></div>
  </section>
  <section>
    <h2>p99 latency per check</h2>
    <svg id="latency-chart" viewBox="0 0 460 200" role="img" aria-label="p99 latency"></svg>
    <div class="legend"><span><i style="background:var(--canary)"></i>canary</span><span><i style="background:var(--primary)"></i>primary</span></div>
  </section>
  <section>
    <h2>Last check</h2>
    <div id="last-check">no check yet</div>
  </section>
  <section>
    <h2>Events</h2>
    <div class="events" id="events"></div>
  </section>
</main>
<script>
"use strict";
var NS = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  var node = document.createElementNS(NS, name);
  for (var k in attrs) node.setAttribute(k, attrs[k]);
  if (text !== undefined) node.textContent = text;
  return node;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function fmt(n, digits) { return n === null || n === undefined ? "–" : Number(n).toFixed(digits); }

// A line chart: series of [x, y] (null y breaks the line), axes with a few ticks.
function chart(svg, opts) {
  clear(svg);
  var box = svg.viewBox.baseVal, left = 58, right = 12, top = 10, bottom = 26;
  var w = box.width - left - right, h = box.height - top - bottom;
  var xMax = Math.max(opts.xMax, 1), yMax = Math.max(opts.yMax, 1e-9), yMin = opts.yMin || 0;
  var X = function (x) { return left + (x / xMax) * w; };
  var Y = function (y) { return top + h - ((Math.min(Math.max(y, yMin), yMax) - yMin) / (yMax - yMin)) * h; };
  for (var i = 0; i <= 4; i++) {
    var yv = yMin + ((yMax - yMin) * i) / 4, yy = Y(yv);
    svg.appendChild(el("line", { x1: left, x2: left + w, y1: yy, y2: yy, stroke: "#eee" }));
    svg.appendChild(el("text", { x: left - 6, y: yy + 4, "text-anchor": "end" }, opts.yLabel(yv)));
  }
  for (var j = 0; j <= 5; j++) {
    var xv = (xMax * j) / 5;
    svg.appendChild(el("text", { x: X(xv), y: top + h + 16, "text-anchor": "middle" }, opts.xLabel(xv)));
  }
  svg.appendChild(el("line", { x1: left, x2: left, y1: top, y2: top + h, stroke: "#adb5bd" }));
  svg.appendChild(el("line", { x1: left, x2: left + w, y1: top + h, y2: top + h, stroke: "#adb5bd" }));
  if (opts.limit !== undefined && opts.limit !== null) {
    svg.appendChild(el("line", { x1: left, x2: left + w, y1: Y(opts.limit), y2: Y(opts.limit), stroke: "#adb5bd", "stroke-dasharray": "4 4" }));
    svg.appendChild(el("text", { x: left + w - 4, y: Y(opts.limit) - 4, "text-anchor": "end" }, opts.limitLabel || "objective"));
  }
  opts.series.forEach(function (s) {
    var d = "", pen = false;
    s.points.forEach(function (p) {
      if (p[1] === null) { pen = false; return; }
      d += (pen ? "L" : "M") + X(p[0]).toFixed(1) + " " + Y(p[1]).toFixed(1) + " ";
      pen = true;
    });
    if (d) svg.appendChild(el("path", { d: d, fill: "none", stroke: s.color, "stroke-width": 2.5, "class": s.className || "" }));
    if (s.dots) s.points.forEach(function (p) {
      if (p[1] !== null) svg.appendChild(el("circle", { cx: X(p[0]), cy: Y(p[1]), r: 3, fill: s.color }));
    });
  });
  (opts.marks || []).forEach(function (m) {
    svg.appendChild(el("circle", { cx: X(m.x), cy: Y(m.y), r: 5, fill: m.color, stroke: "#fff", "stroke-width": 1.5, "class": "check-mark" }));
  });
}

var COLORS = { passed: "var(--ok)", failed: "var(--bad)", inconclusive: "var(--muted)" };

function render(v) {
  document.getElementById("target").textContent = v.namespace + "/" + v.deployment;
  var phase = document.getElementById("phase");
  phase.textContent = v.phase + (v.result ? " · " + v.result : "");
  phase.className = "phase " + v.phase;
  document.getElementById("weight").textContent = v.weight + "%";
  document.getElementById("max").textContent = v.maxWeight;
  document.getElementById("failed").textContent = v.failedChecks;
  document.getElementById("threshold").textContent = v.threshold;
  document.getElementById("checks").textContent = v.checks.length;
  document.getElementById("elapsed").textContent = Math.round(v.elapsed) + " s";
  document.getElementById("requests").textContent = v.traffic
    ? v.traffic.requests + " (" + v.traffic.canaryRequests + " / " + v.traffic.canaryFailures + ")" +
      (v.traffic.mirrored ? ", " + v.traffic.mirrored + " mirrored" : "") : "–";

  // Weight as a step line up to now; the check marks sit on it.
  var steps = [], last = null;
  v.points.forEach(function (p) {
    if (last !== null) steps.push([p.t, last]);
    steps.push([p.t, p.weight]);
    last = p.weight;
  });
  if (last !== null) steps.push([v.elapsed, last]);
  var span = Math.max(10, Math.ceil(v.elapsed / 10) * 10);
  chart(document.getElementById("weight-chart"), {
    xMax: span, yMax: 100, xLabel: function (x) { return Math.round(x) + " s"; }, yLabel: function (y) { return Math.round(y) + "%"; },
    limit: v.maxWeight, limitLabel: "max weight",
    series: [{ color: "var(--canary)", points: steps, className: "weight-line" }],
    marks: v.checks.map(function (c) { return { x: c.t, y: c.weight, color: COLORS[c.result] }; }),
  });

  // Checks are placed by time, on the same scale as the weight chart.
  var byTime = function (side, key) {
    return v.checks.map(function (c) { return [c.t, c[side] ? c[side][key] : null]; });
  };
  var seconds = function (x) { return Math.round(x) + " s"; };
  var rates = byTime("canary", "successRate").concat(byTime("primary", "successRate"))
    .map(function (p) { return p[1]; }).filter(function (x) { return x !== null; });
  var low = rates.length ? Math.min.apply(null, rates) : 100;
  var floor = [96, 92, 80, 60, 40, 20, 0].filter(function (m) { return m <= low - 1; })[0];
  chart(document.getElementById("success-chart"), {
    xMax: span, yMin: floor === undefined ? 0 : floor, yMax: 100,
    xLabel: seconds, yLabel: function (y) { return fmt(y, 0) + "%"; },
    limit: objectiveValue(v, "success-rate"),
    series: [
      { color: "var(--primary)", points: byTime("primary", "successRate"), dots: true },
      { color: "var(--canary)", points: byTime("canary", "successRate"), dots: true },
    ],
  });
  var lats = byTime("canary", "p99LatencyMs").concat(byTime("primary", "p99LatencyMs"))
    .map(function (p) { return p[1]; }).filter(function (x) { return x !== null; });
  var limit = objectiveValue(v, "p99-latency");
  chart(document.getElementById("latency-chart"), {
    xMax: span, yMax: niceMax(Math.max(10, (limit || 0) * 1.2, lats.length ? Math.max.apply(null, lats) * 1.05 : 0)),
    xLabel: seconds, yLabel: function (y) { return fmt(y, 0) + " ms"; },
    limit: limit,
    series: [
      { color: "var(--primary)", points: byTime("primary", "p99LatencyMs"), dots: true },
      { color: "var(--canary)", points: byTime("canary", "p99LatencyMs"), dots: true },
    ],
  });

  var c = v.checks[v.checks.length - 1], box = document.getElementById("last-check");
  if (c) {
    var row = function (name, key, digits, unit) {
      return "<tr><td>" + name + "</td><td>" + fmt(c.canary && c.canary[key], digits) + unit + "</td><td>"
        + fmt(c.primary && c.primary[key], digits) + unit + "</td></tr>";
    };
    box.innerHTML = "<p>#" + v.checks.length + " at " + c.t.toFixed(1) + " s, weight " + c.weight + "%: <span class=\"" + c.result + "\">" + c.result
      + "</span> · " + escapeHtml(c.message) + "</p><table><tr><th></th><th>canary</th><th>primary</th></tr>"
      + row("requests", "requests", 0, "") + row("success rate", "successRate", 2, "%")
      + row("mean latency", "meanLatencyMs", 1, " ms") + row("p99 latency", "p99LatencyMs", 1, " ms")
      + "</table><p style=\"color:var(--muted)\">objectives: " + escapeHtml(v.objectives.join(", ")) + "</p>";
  }
  var events = document.getElementById("events");
  events.innerHTML = v.events.slice().reverse().map(function (e) {
    return "<div class=\"" + e.type + "\">" + e.t.toFixed(1).padStart(6) + " s  " + escapeHtml(e.reason) + ": " + escapeHtml(e.message) + "</div>";
  }).join("");
  document.body.dataset.phase = v.phase;
  document.body.dataset.checks = String(v.checks.length);
  document.body.dataset.weight = String(v.weight);
}

// The smallest round number at or above max that splits into the chart's four grid steps.
function niceMax(max) {
  var magnitude = Math.pow(10, Math.floor(Math.log10(max / 4)));
  var steps = [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10];
  for (var i = 0; i < steps.length; i++) if (steps[i] * magnitude * 4 >= max) return steps[i] * magnitude * 4;
  return max;
}

function objectiveValue(v, name) {
  for (var i = 0; i < v.objectives.length; i++) {
    var m = /^([a-z0-9.-]+)\s*[<>]=?\s*([0-9.]+)/.exec(v.objectives[i]);
    if (m && m[1] === name) return Number(m[2]);
  }
  return null;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"]/g, function (ch) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;" }[ch]; });
}

${POLL_JSON_SCRIPT}
pollJson("api/release", function (v) {
  render(v);
  // A finished release may be followed by the next one (the controller's pages): keep looking, slowly.
  return v.result ? 5000 : 500;
});
</script>
</body>
</html>
`;
