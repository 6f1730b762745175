/**
 * The browser side both pages share, interpolated into their inline scripts: fetch a JSON document again
 * and again, and say in #error when the server cannot be reached (a port-forward that ended, a restart).
 */
export const POLL_JSON_SCRIPT = /* js */ String.raw`
// Fetches path, hands the value to onData, and fetches again after the delay onData returns.
function pollJson(path, onData) {
  var again = function (ms) { setTimeout(function () { pollJson(path, onData); }, ms); };
  fetch(path, { cache: "no-store" }).then(function (r) {
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  }).then(function (value) {
    document.getElementById("error").textContent = "";
    again(onData(value));
  }).catch(function (err) {
    document.getElementById("error").textContent = "not reachable (" + err.message + "), retrying";
    again(2000);
  });
}
`;
