"""Each diagram opens in bpmn-js (the viewer from npm) without warnings and draws every element."""

import pytest
from playwright.sync_api import sync_playwright
from lxml import etree

from engine.config import ROOT
from tests.test_browser import launch_chromium

VIEWER = ROOT / "node_modules" / "bpmn-js" / "dist" / "bpmn-viewer.production.min.js"
ARTIFACTS = ROOT / "test-artifacts"
DIAGRAMS = sorted((ROOT / "bpmn").glob("*.bpmn"))
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def viewer_page():
    if not VIEWER.exists():
        pytest.fail("bpmn-js is missing: run `make test`, which installs it")
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1800, "height": 1000})
        page.set_content('<html><body style="margin:0"><div id="canvas" style="width:1800px;height:1000px">'
                         '</div></body></html>')
        page.add_script_tag(path=str(VIEWER))
        yield page
        browser.close()


@pytest.mark.parametrize("path", DIAGRAMS, ids=[p.name for p in DIAGRAMS])
def test_the_diagram_renders_in_bpmn_js_without_warnings(viewer_page, path):
    xml = path.read_text()
    result = viewer_page.evaluate("""async (xml) => {
        document.getElementById('canvas').innerHTML = '';
        const viewer = new BpmnJS({ container: '#canvas' });
        const { warnings } = await viewer.importXML(xml);
        viewer.get('canvas').zoom('fit-viewport');
        const ids = viewer.get('elementRegistry').getAll().map(e => e.id);
        return { warnings: warnings.map(w => w.message), ids };
    }""", xml)
    assert result["warnings"] == []
    tree = etree.fromstring(xml.encode())
    drawn = {e.get("bpmnElement") for e in tree.iter() if isinstance(e.tag, str) and e.get("bpmnElement")}
    assert drawn <= set(result["ids"]), sorted(drawn - set(result["ids"]))
    ARTIFACTS.mkdir(exist_ok=True)
    viewer_page.screenshot(path=str(ARTIFACTS / f"diagram-{path.stem}.png"))
