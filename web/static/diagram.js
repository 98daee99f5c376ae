// Draws each .diagram element's BPMN file with bpmn-js and marks the elements listed in data-marks.
(function () {
  'use strict';
  async function draw(box) {
    const marks = JSON.parse(box.dataset.marks || '[]');
    const response = await fetch(box.dataset.xmlUrl, { credentials: 'same-origin' });
    const viewer = new BpmnJS({ container: box });
    await viewer.importXML(await response.text());
    const canvas = viewer.get('canvas');
    const registry = viewer.get('elementRegistry');
    const overlays = viewer.get('overlays');
    canvas.zoom('fit-viewport');
    const missing = [];
    for (const mark of marks) {
      if (!registry.get(mark.id)) { missing.push(mark.id); continue; }
      canvas.addMarker(mark.id, mark.mark);
      const note = document.createElement('div');
      note.className = 'mark-note ' + mark.mark;
      note.textContent = mark.title;
      overlays.add(mark.id, { position: { bottom: -4, left: 0 }, html: note });
    }
    box.dataset.drawn = String(marks.length - missing.length);
    if (missing.length) { box.dataset.missing = missing.join(' '); }
  }
  document.querySelectorAll('.diagram').forEach(function (box) {
    draw(box).catch(function (err) { box.dataset.error = String(err); box.textContent = 'The diagram could not be drawn: ' + err; });
  });
})();
