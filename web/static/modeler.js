// The bpmn-js modeler on one diagram; saving puts the edited XML into the draft form and submits it.
(function () {
  'use strict';
  const box = document.getElementById('modeler');
  const form = document.getElementById('save-draft');
  const modeler = new BpmnJS({ container: box });
  window.incidentsModeler = modeler;  // for tests and the browser console
  fetch(box.dataset.xmlUrl, { credentials: 'same-origin' })
    .then(function (r) { return r.text(); })
    .then(function (xml) { return modeler.importXML(xml); })
    .then(function () { modeler.get('canvas').zoom('fit-viewport'); box.dataset.ready = 'true'; })
    .catch(function (err) { box.dataset.error = String(err); });
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    modeler.saveXML({ format: true }).then(function (result) {
      form.querySelector('textarea[name=xml]').value = result.xml;
      form.submit();
    });
  });
})();
