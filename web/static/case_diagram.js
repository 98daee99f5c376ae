// The case on its diagram: draws, with bpmn-js, the process version in force at the event the step control
// points at (a case moved to another version changes diagrams at the move) and marks the completed and ready
// tasks, what is running or waiting, and the path taken.
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
  var versionNote = document.getElementById("version");
  var viewer = new window.BpmnJS({ container: "#canvas" });
  var xmlCache = {};
  var steps = [];
  var versions = {};  // process version -> its BPMN files
  var latest = null;  // the version the case runs on now
  var current = { version: null, file: null, index: 0, marked: [] };

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

  function short(version) { return version.slice(0, 12); }

  function loadXml(version, file) {
    var key = version + "/" + file;
    if (xmlCache[key]) { return Promise.resolve(xmlCache[key]); }
    var url = root.dataset.files + encodeURIComponent(file) + "?version=" + encodeURIComponent(version);
    return fetch(url, { credentials: "same-origin" })
      .then(function (reply) {
        if (!reply.ok) { throw new Error("the diagram " + file + " did not load (" + reply.status + ")"); }
        return reply.text();
      })
      .then(function (xml) { xmlCache[key] = xml; return xml; });
  }

  // one button per diagram file of the version drawn (another version may have other files)
  function fillFiles(version) {
    filesNav.replaceChildren();
    versions[version].forEach(function (file) {
      var button = text("button", file.replace(/\.bpmn$/, ""));
      button.type = "button";
      button.dataset.file = file;
      button.addEventListener("click", function () { showFile(current.version, file).then(mark).catch(fail); });
      filesNav.appendChild(button);
    });
  }

  function showFile(version, file) {
    if (version === current.version && file === current.file) { return Promise.resolve(); }
    root.dataset.rendered = "";
    return loadXml(version, file).then(function (xml) {
      return viewer.importXML(xml);
    }).then(function () {
      if (version !== current.version) { fillFiles(version); }
      current.version = version;
      current.file = file;
      current.marked = [];
      viewer.get("canvas").zoom("fit-viewport");
      Array.prototype.forEach.call(filesNav.children, function (button) {
        button.setAttribute("aria-pressed", String(button.dataset.file === file));
      });
    });
  }

  // the moves in the history: [{seq, from, to}], where the version changes from one step to the next
  function moves() {
    var found = [];
    for (var i = 1; i < steps.length; i += 1) {
      if (steps[i].process_version !== steps[i - 1].process_version) {
        found.push({ seq: steps[i].seq, from: steps[i - 1].process_version, to: steps[i].process_version });
      }
    }
    return found;
  }

  function describeVersion(step) {
    var version = current.version;
    var said = "Drawn on process version " + short(version) +
      (step ? ", the version in force at event " + step.seq : "") + ".";
    moves().forEach(function (move) {
      said += " The case moved from version " + short(move.from) + " to " + short(move.to) + " at event " +
        move.seq + ".";
    });
    if (version !== latest) { said += " It runs on version " + short(latest) + " now."; }
    return said;
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
    root.dataset.version = current.version;
    versionNote.textContent = describeVersion(step);
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

  function firstFile(version) {
    var files = versions[version];
    return files.indexOf("incident_response.bpmn") >= 0 ? "incident_response.bpmn" : files[0];
  }

  function go(index) {
    var before = fileAt(current.index);
    current.index = Math.max(0, Math.min(steps.length - 1, index));
    var step = steps[current.index];
    var version = step.process_version;  // the version in force at this event: a move switches diagrams
    var follow = fileAt(current.index);
    slider.value = String(current.index + 1);
    label.textContent = describe(step);
    fillPanels(step);
    // follow the case into another file; otherwise stay on the file the reader chose, if this version has it
    var file = follow && (follow !== before || !current.file) ? follow : current.file;
    if (versions[version].indexOf(file) < 0) { file = firstFile(version); }
    return showFile(version, file).then(mark);
  }

  function fail(err) {
    verdict.textContent = "The diagram could not be shown: " + err.message;
    verdict.className = "verdict verdict-broken";
  }

  function start(replay) {
    steps = replay.steps;
    versions = replay.versions;
    latest = replay.process_version;
    verdict.textContent = "Replay: " + replay.verdict.description;
    verdict.className = "verdict verdict-" + replay.verdict.outcome;
    if (!steps.length) {
      label.textContent = "No event could be replayed.";
      return showFile(latest, firstFile(latest)).then(function () {
        root.dataset.version = latest;
        versionNote.textContent = describeVersion(null);
      });
    }
    slider.max = String(steps.length);
    current.index = steps.length - 1;
    var last = steps[current.index].process_version;
    var first = fileAt(current.index);
    return showFile(last, first && versions[last].indexOf(first) >= 0 ? first : firstFile(last))
      .then(function () { return go(steps.length - 1); });
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
