import { POLL_JSON_SCRIPT } from './poll-script.js';

/**
 * The controller's index of releases: one self-contained HTML document, like the live page, that polls
 * api/releases (the rows of a ReleaseBoard) and links each release to its live page.
 */
export const INDEX_HTML = /* html */ String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sluice · releases</title>
<style>
  :root { --primary: #1971c2; --ok: #2b8a3e; --bad: #c92a2a; --muted: #868e96; --line: #dee2e6; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #212529; background: #f8f9fa; }
  header { display: flex; align-items: baseline; gap: 16px; padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; }
  header .replica { color: var(--muted); }
  main { padding: 16px 24px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { color: var(--muted); font-weight: 500; font-size: 12px; }
  td.release a { font-family: ui-monospace, monospace; color: var(--primary); text-decoration: none; }
  td.release a:hover { text-decoration: underline; }
  td.revision { font-family: ui-monospace, monospace; color: var(--muted); white-space: nowrap; }
  td.weight, td.failed-checks { white-space: nowrap; }
  .phase { display: inline-block; padding: 1px 9px; border-radius: 12px; font-weight: 600; background: #e7f5ff; color: var(--primary); }
  .phase.Succeeded { background: #ebfbee; color: var(--ok); }
  .phase.Failed { background: #fff5f5; color: var(--bad); }
  .phase.Initialized { background: #f1f3f5; color: var(--muted); }
  .phase.Promoting, .phase.Finalising, .phase.Paused { background: #fff9db; color: #e67700; }
  .passed { color: var(--ok); font-weight: 600; }
  .failed { color: var(--bad); font-weight: 600; }
  .inconclusive { color: var(--muted); font-weight: 600; }
  .muted { color: var(--muted); }
  p.help { color: var(--muted); margin: 12px 0 0; }
  code { font-family: ui-monospace, monospace; }
  #error { color: var(--bad); }
</style>
</head>
<body>
<header>
  <h1>sluice</h1>
  <span>releases</span>
  <span class="replica" id="replica"></span>
  <span id="error"></span>
</header>
<main>
  <section>
    <table>
      <thead><tr><th>release</th><th>phase</th><th>weight</th><th>failed checks</th><th>last check</th><th>revision</th></tr></thead>
      <tbody id="rows"><tr><td colspan="6" class="muted">loading…</td></tr></tbody>
    </table>
  </section>
  <p class="help">Read-only. To act on a release: <code>kubectl sluice pause|resume|promote|abort|retry DEPLOYMENT -n NAMESPACE</code>,
    or the annotation <code>sluice.dev/action</code> on the Deployment.</p>
</main>
<script>
"use strict";

function cell(row, text, className) {
  var td = document.createElement("td");
  if (className) td.className = className;
  if (text !== undefined) td.textContent = text;
  row.appendChild(td);
  return td;
}

function ago(iso) {
  var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 90) return s + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 129600) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

// The revision that matters in this phase: the one being released, the one rolled back, or the stable one.
function revisionOf(rel) {
  var running = ["Progressing", "Paused", "Promoting", "Finalising"].indexOf(rel.phase) >= 0;
  if (running && rel.candidateRevision) return "candidate " + rel.candidateRevision;
  if (rel.phase === "Failed" && rel.failedRevision) return "failed " + rel.failedRevision;
  return rel.stableRevision ? "stable " + rel.stableRevision : "–";
}

function render(board) {
  var r = board.replica;
  document.getElementById("replica").textContent = "served by " + r.identity + (r.leading ? " (leader)" : " (standby: shows what it watches)");
  var tbody = document.getElementById("rows");
  while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
  if (board.releases.length === 0) {
    var empty = document.createElement("tr");
    cell(empty, "no Canary yet: annotate a Deployment with sluice.dev/canary=enabled", "muted").colSpan = 6;
    tbody.appendChild(empty);
  }
  board.releases.forEach(function (rel) {
    var tr = document.createElement("tr");
    tr.dataset.release = rel.namespace + "/" + rel.deployment;
    tr.dataset.phase = rel.phase;
    tr.dataset.weight = String(rel.weight);
    var link = document.createElement("a");
    link.href = "releases/" + encodeURIComponent(rel.namespace) + "/" + encodeURIComponent(rel.deployment) + "/";
    link.textContent = rel.namespace + "/" + rel.deployment;
    cell(tr, undefined, "release").appendChild(link);
    var phase = document.createElement("span");
    phase.className = "phase " + rel.phase;
    phase.textContent = rel.phase + (rel.outcome && rel.phase === "Initialized" ? " · " + rel.outcome.reason : "");
    cell(tr, undefined, "phase-cell").appendChild(phase);
    cell(tr, rel.weight + "%", "weight");
    cell(tr, rel.failedChecks + (rel.threshold === null ? "" : " / " + rel.threshold), "failed-checks");
    var check = cell(tr, undefined, "last-check");
    if (rel.lastCheck) {
      var result = document.createElement("span");
      result.className = rel.lastCheck.result;
      result.textContent = rel.lastCheck.result;
      check.appendChild(result);
      check.appendChild(document.createTextNode(" at " + rel.lastCheck.weight + "%, " + ago(rel.lastCheck.at) + ": " + rel.lastCheck.summary));
    } else {
      check.textContent = "none yet";
      check.className += " muted";
    }
    cell(tr, revisionOf(rel), "revision");
    tbody.appendChild(tr);
  });
  document.body.dataset.releases = String(board.releases.length);
}

${POLL_JSON_SCRIPT}
pollJson("api/releases", function (board) {
  render(board);
  return 2000;
});
</script>
</body>
</html>
`;
