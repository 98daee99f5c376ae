"""Auditors' pages: a case's timeline, the case on its diagram (bpmn-js) with a step control, and the viewer's files."""
from flask import Blueprint, Response, abort, g, jsonify, render_template, request, send_from_directory, url_for

from engine import audit, timeline
from engine.config import ROOT
from engine.errors import InvalidSubmission
from engine.uow import retrying

from .auth import login_required
from .context import system

bp = Blueprint("audit", __name__)

BPMN_JS = ROOT / "node_modules" / "bpmn-js" / "dist"
# the only files of bpmn-js served: the viewer and its stylesheets (installed by `npm ci`, never committed)
VENDOR_FILES = {"bpmn-viewer.js": "bpmn-viewer.production.min.js", "diagram-js.css": "assets/diagram-js.css",
                "bpmn-js.css": "assets/bpmn-js.css"}


@bp.route("/cases/<int:case_id>/timeline")
@login_required
def case_timeline(case_id):
    """Every event of the case with the data as a change from the step before; filters by type and role."""
    types, roles = request.args.getlist("type"), request.args.getlist("role")
    unknown = sorted(set(types) - set(timeline.TYPES))
    if unknown:
        raise InvalidSubmission({"type": [f"Unknown event type: {', '.join(unknown)}."]})
    story = retrying(system().writing, lambda uow: timeline.timeline(
        uow, system().processes, g.actor, case_id, types=types, roles=roles))
    return render_template("audit/timeline.html", story=story)


@bp.route("/cases/<int:case_id>/diagram")
@login_required
def case_diagram(case_id):
    """The page that draws the case on the process versions it ran on; the steps load from `diagram_steps`."""
    with system().reading() as uow:
        case = audit.audit_summary(uow, g.actor, case_id)
    return render_template("audit/diagram.html", case=case,
                           steps_url=url_for("audit.diagram_steps", case_id=case_id),
                           files_url=url_for("audit.diagram_file", case_id=case_id, name="_").rstrip("_"))


@bp.route("/cases/<int:case_id>/diagram/steps")
@login_required
def diagram_steps(case_id):
    """Every step of the replay: markers, ready tasks and the data after each event (a recorded view)."""
    return jsonify(retrying(system().writing, lambda uow: audit.diagram(uow, system().processes, g.actor, case_id)))


@bp.route("/cases/<int:case_id>/diagram/files/<name>")
@login_required
def diagram_file(case_id, name):
    """One BPMN file of the case's process version, or with ?version=HASH of another version it ran on."""
    with system().reading() as uow:
        text = audit.process_file(uow, system().processes, g.actor, case_id, name, request.args.get("version"))
    return Response(text, mimetype="application/xml")


@bp.route("/vendor/bpmn-js/<name>")
def vendor(name):
    """The bpmn-js viewer and its stylesheets, straight from node_modules."""
    if name not in VENDOR_FILES:
        abort(404)
    if not (BPMN_JS / VENDOR_FILES[name]).exists():
        abort(404, "bpmn-js is not installed here: run `npm ci` (or `make install`).")
    return send_from_directory(BPMN_JS, VENDOR_FILES[name], max_age=3600)
