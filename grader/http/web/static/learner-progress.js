// The grading progress page: follows the page-side event stream (Server-Sent Events) and updates the
// progress bar, the stage list and the result without reloading. Without JavaScript the page still
// shows the state it was rendered with.
(function () {
  "use strict";
  var root = document.getElementById("grading");
  if (!root || root.dataset.finished === "true" || typeof window.EventSource === "undefined") {
    return;
  }
  var run = Number(root.dataset.run);
  var bar = document.getElementById("progress");
  var now = document.getElementById("stage-now");
  var history = document.getElementById("history");
  var items = Array.prototype.slice.call(root.querySelectorAll("[data-stage]"));
  var stages = items.map(function (li) { return li.dataset.stage; });
  var labels = items.map(function (li) { return li.textContent; });
  var step = Number(bar.value);

  function show(state, detail) {
    var index = stages.indexOf(state);
    if (index >= 0 && index >= step) {
      step = index;
      bar.value = index;
      bar.textContent = index + " of " + (stages.length - 1);
      items.forEach(function (li, i) {
        li.className = i < index || state === "graded" ? "done" : (i === index ? "now" : "todo");
      });
    }
    var text = index >= 0 ? labels[index] : state.charAt(0).toUpperCase() + state.slice(1);
    if (state === "retrying") { text = "A fault on our side; trying again"; }
    now.textContent = text + (detail && index < 0 ? ": " + detail : "");
  }

  function showResult(status) {
    var summary = document.getElementById("result-summary");
    summary.textContent = "";
    var verdict = document.createElement("span");
    if (status.score !== null) {
      verdict.className = status.passed ? "ok" : "bad";
      verdict.textContent = status.passed ? "Passed" : "Not passed";
      summary.appendChild(verdict);
      summary.appendChild(document.createTextNode(": " + status.score + " / " + status.max_score +
        " (" + status.percent + "%)"));
    } else {
      verdict.className = "bad";
      verdict.textContent = status.state === "error"
        ? "Not graded: the grader failed on its side. This attempt does not count; submit again later."
        : "Not graded: the submission was refused.";
      summary.appendChild(verdict);
    }
    var error = document.getElementById("result-error");
    error.textContent = status.error || "";
    error.hidden = !status.error;
    [["feedback-link", status.feedback_url], ["credential-link", status.credential_url]].forEach(function (pair) {
      var li = document.getElementById(pair[0]);
      if (pair[1]) { li.querySelector("a").href = pair[1]; }
      li.hidden = !pair[1];
    });
    document.getElementById("result").hidden = false;
    now.textContent = (status.state === "graded" ? "Graded" : status.state.charAt(0).toUpperCase() +
      status.state.slice(1)) + ": finished";
    root.dataset.finished = "true";
  }

  var source = new EventSource(root.dataset.eventsUrl);
  source.addEventListener("state", function (event) {
    var data = JSON.parse(event.data);
    if (data.run !== run) { return; }
    show(data.state, data.detail);
    if (history) {
      var li = document.createElement("li");
      li.textContent = data.at.slice(11, 19) + " " + data.state + (data.detail ? ": " + data.detail : "");
      history.appendChild(li);
    }
  });
  source.addEventListener("end", function () {
    source.close();
    fetch(root.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (answer) { return answer.json(); })
      .then(showResult);
  });
})();
