// The verifier's drag and drop (optional: without JavaScript the form posts as it is).
// A dropped file goes into the form's file input; a dropped JSON file also fills the text box.
(function () {
  "use strict";
  var zone = document.getElementById("dropzone");
  var input = document.getElementById("file");
  var text = document.getElementById("credential");
  if (!zone || !input || !window.DataTransfer) { return; }
  var hint = zone.querySelector(".drop-hint");
  if (hint) { hint.hidden = false; }
  function stop(event) { event.preventDefault(); event.stopPropagation(); }
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) { stop(event); zone.classList.add("dragging"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function (event) { stop(event); zone.classList.remove("dragging"); });
  });
  zone.addEventListener("drop", function (event) {
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) { return; }
    var moved = new DataTransfer();
    moved.items.add(files[0]);
    input.files = moved.files;
    var file = files[0];
    if (/\.json(ld)?$/i.test(file.name) || /json/.test(file.type)) {
      file.text().then(function (body) { text.value = body; });
    }
    if (hint) { hint.textContent = "Ready: " + file.name + ". Press Verify."; }
  });
}());
