// The version page while its check runs: asks for the status every few seconds and loads the page
// again (with the check table) once the check has ended.
(function () {
  "use strict";
  var root = document.getElementById("check");
  if (!root || root.dataset.status !== "checking") { return; }
  var delay = 2000;
  function poll() {
    fetch(root.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (answer) { return answer.ok ? answer.json() : { status: "checking" }; })
      .then(function (body) {
        if (body.status !== "checking") { window.location.reload(); return; }
        delay = Math.min(delay * 1.3, 10000);
        window.setTimeout(poll, delay);
      })
      .catch(function () { window.setTimeout(poll, 10000); });
  }
  window.setTimeout(poll, delay);
})();
