// The case on its diagram: draws the case's own process version with bpmn-js and marks, for the event the
// step control points at, the completed and ready tasks, what is running or waiting, and the path taken.
// The replayed steps come from the server in one request (one recorded view); stepping needs no more.
(function () {
  "use strict";

  var KINDS = ["completed", "ready", "active", "path"];
  var root = document.getElementById("case-diagram");
  if (!root) { return; }
  var slider = document.getElementById("step");
  var label = document.getElementById("step-label");
  var verdict = document.getElementById("verdict");
  var filesNav = document.getElementById("files");
  var viewer = new window.BpmnJS({ container: "#canvas" });
  var xmlCache = {};
  var steps = [];
  var current = { file: null, index: 0, marked: [] };

  function text(tag, value, className) {
    var node = document.createElement(tag);
    node.textContent = value;
    if (className) { node.className = className; }
    return node;
  }

  function show(value) {
    if (value === null || value === undefined || value === "") { return "-"; }
    if (value === true) { return "yes"; }
    if (value === false) { return "no"; }
    if (Array.isArray(value)) { return value.length ? value.map(show).join(", ") : "-"; }
    if (typeof value === "object") {
      return Object.keys(value).map(function (k) { return k + ": " + show(value[k]); }).join("; ");
    }
    return String(value);
  }

  function loadXml(file) {
    if (xmlCache[file]) { return Promise.resolve(xmlCache[file]); }
    return fetch(root.dataset.files + encodeURIComponent(file), { credentials: "same-origin" })
      .then(function (reply) {
        if (!reply.ok) { throw new Error("the diagram " + file + " did not load (" + reply.status + ")"); }
        return reply.text();
      })
      .then(function (xml) { xmlCache[file] = xml; return xml; });
  }

  function showFile(file) {
    if (file === current.file) { return Promise.resolve(); }
    root.dataset.rendered = "";
    return loadXml(file).then(function (xml) {
      return viewer.importXML(xml);
    }).then(function () {
      current.file = file;
      current.marked = [];
      viewer.get("canvas").zoom("fit-viewport");
      Array.prototype.forEach.call(filesNav.children, function (button) {
        button.setAttribute("aria-pressed", String(button.dataset.file === file));
      });
    });
  }

  function mark() {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    current.marked.forEach(function (pair) { canvas.removeMarker(pair[0], pair[1]); });
    current.marked = [];
    var step = steps[current.index];
    KINDS.forEach(function (kind) {
      ((step.markers[kind] || {})[current.file] || []).forEach(function (id) {
        if (registry.get(id)) {
          canvas.addMarker(id, "m-" + kind);
          current.marked.push([id, "m-" + kind]);
        }
      });
    });
    root.dataset.step = String(step.seq);
    root.dataset.file = current.file;
    root.dataset.rendered = "yes";
  }

  function describe(step) {
    var what = step.type.replace(/_/g, " ") + (step.task ? ": " + step.task : "");
    return "Event " + step.seq + " of " + steps.length + " · " + what + " · " + step.actor + " (" +
      step.role.replace(/_/g, " ") + ") · " + step.at.slice(0, 19).replace("T", " ") + " UTC";
  }

  function fillPanels(step) {
    var ready = document.getElementById("ready");
    var data = document.getElementById("data");
    ready.replaceChildren();
    data.replaceChildren();
    (step.ready.length ? step.ready : ["nothing"]).forEach(function (task) { ready.appendChild(text("li", task)); });
    Object.keys(step.data).sort().forEach(function (key) {
      data.appendChild(text("dt", key));
      data.appendChild(text("dd", show(step.data[key])));
    });
  }

  // the diagram file of the case's latest task up to step `index`: where the case was working then
  function fileAt(index) {
    for (var i = index; i >= 0; i -= 1) {
      if (steps[i].file) { return steps[i].file; }
    }
    return null;
  }

  function go(index) {
    var before = fileAt(current.index);
    current.index = Math.max(0, Math.min(steps.length - 1, index));
    var step = steps[current.index];
    var follow = fileAt(current.index);
    slider.value = String(current.index + 1);
    label.textContent = describe(step);
    fillPanels(step);
    // follow the case into another file; otherwise stay on the file the reader chose
    return showFile(follow && (follow !== before || !current.file) ? follow : current.file).then(mark);
  }

  function fail(err) {
    verdict.textContent = "The diagram could not be shown: " + err.message;
    verdict.className = "verdict verdict-broken";
  }

  function start(replay) {
    steps = replay.steps;
    verdict.textContent = "Replay: " + replay.verdict.description;
    verdict.className = "verdict verdict-" + replay.verdict.outcome;
    replay.files.forEach(function (file) {
      var button = text("button", file.replace(/\.bpmn$/, ""));
      button.type = "button";
      button.dataset.file = file;
      button.addEventListener("click", function () { showFile(file).then(mark).catch(fail); });
      filesNav.appendChild(button);
    });
    if (!steps.length) {
      label.textContent = "No event could be replayed.";
      return showFile("incident_response.bpmn");
    }
    slider.max = String(steps.length);
    current.index = steps.length - 1;
    var first = fileAt(current.index) ||
      (replay.files.indexOf("incident_response.bpmn") >= 0 ? "incident_response.bpmn" : replay.files[0]);
    return showFile(first).then(function () { return go(steps.length - 1); });
  }

  slider.addEventListener("input", function () { go(Number(slider.value) - 1).catch(fail); });
  document.getElementById("step-prev").addEventListener("click", function () { go(current.index - 1).catch(fail); });
  document.getElementById("step-next").addEventListener("click", function () { go(current.index + 1).catch(fail); });

  fetch(root.dataset.steps, { credentials: "same-origin" })
    .then(function (reply) {
      if (!reply.ok) { throw new Error("the replay did not load (" + reply.status + ")"); }
      return reply.json();
    })
    .then(start)
    .catch(fail);
}());
