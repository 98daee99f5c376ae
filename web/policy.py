"""Policy staff's pages: versions and what each changed, drafts and their errors, publishing, the modeler."""
from pathlib import Path

from flask import Blueprint, Response, abort, g, redirect, render_template, request, send_file, url_for

from engine import publishing
from engine.config import ROOT
from engine.errors import InvalidSubmission

from .auth import login_required
from .context import system

bp = Blueprint("policy", __name__, url_prefix="/policy")
VENDOR = ROOT / "node_modules" / "bpmn-js" / "dist"
# the bpmn-js files the pages load (installed from npm by `make run` / `make test`, never committed)
VENDOR_FILES = {"bpmn-viewer.js": "bpmn-navigated-viewer.production.min.js",
                "bpmn-modeler.js": "bpmn-modeler.production.min.js",
                "diagram-js.css": "assets/diagram-js.css", "bpmn-js.css": "assets/bpmn-js.css",
                "css/bpmn.css": "assets/bpmn-font/css/bpmn.css"}


@bp.route("/vendor/<path:name>")
def vendor(name):
    """bpmn-js from node_modules (the font files its stylesheet refers to are served too)."""
    if name in VENDOR_FILES:
        path = VENDOR / VENDOR_FILES[name]
    elif name.startswith("font/") and "/" not in name[5:] and ".." not in name:
        path = VENDOR / "assets" / "bpmn-font" / "font" / name[5:]
    else:
        abort(404)
    if not Path(path).is_file():
        abort(404)
    return send_file(path, max_age=3600)


@bp.route("/")
@login_required
def versions():
    """Published versions newest first, with what each changed; a form to upload changed files as a draft."""
    with system().reading() as uow:
        listed = publishing.list_versions(uow, g.actor)
    return render_template("policy/versions.html", versions=listed, may_publish="policy" in g.actor.roles)


@bp.route("/drafts", methods=("POST",))
@login_required
def create_draft():
    """Uploaded files (or the modeler's saved diagram) become a draft, validated at once."""
    files = {}
    for upload in request.files.getlist("files"):
        if upload.filename:
            try:
                files[Path(upload.filename).name] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidSubmission({"files": [f"{upload.filename}: not UTF-8 text"]}) from None
    tests = {}
    for upload in request.files.getlist("tests"):
        if upload.filename:
            try:
                tests[Path(upload.filename).name] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidSubmission({"tests": [f"{upload.filename}: not UTF-8 text"]}) from None
    if request.form.get("xml") and request.form.get("file_name"):
        files[request.form["file_name"]] = request.form["xml"]
    remove = [name.strip() for name in request.form.get("remove", "").split(",") if name.strip()]
    if not files and not remove and not tests:
        raise InvalidSubmission({"files": ["Choose at least one file."]})
    with system().writing() as uow:
        draft = publishing.create_draft(uow, system().processes, g.actor, files, remove, tests=tests or None)
    return redirect(url_for("policy.draft", draft_id=draft["id"]))


@bp.route("/drafts/<int:draft_id>")
@login_required
def draft(draft_id):
    """A draft: its errors (marked on the diagram), what it changes, and the publish button."""
    with system().reading() as uow:
        view = publishing.get_draft(uow, system().processes, g.actor, draft_id)
    return render_template("policy/draft.html", draft=view, diagrams=_diagrams(view))


@bp.route("/drafts/<int:draft_id>/xml/<name>")
@login_required
def draft_file(draft_id, name):
    """One file of a draft, for drawing it."""
    with system().reading() as uow:
        view = publishing.get_draft(uow, system().processes, g.actor, draft_id)
        text = publishing.draft_file(uow, g.actor, view["id"], name)
    return Response(text, mimetype="application/xml")


@bp.route("/drafts/<int:draft_id>/publish", methods=("POST",))
@login_required
def publish(draft_id):
    """Publish a valid draft with a note saying what changes and why."""
    try:
        with system().writing() as uow:
            publishing.publish_draft(uow, system().processes, g.actor, draft_id, request.form.get("note", ""))
    except InvalidSubmission as err:
        with system().reading() as uow:
            view = publishing.get_draft(uow, system().processes, g.actor, draft_id)
        return render_template("policy/draft.html", draft=view, diagrams=_diagrams(view),
                               publish_errors=err.errors, note=request.form.get("note", "")), 422
    return redirect(url_for("policy.versions"))


@bp.route("/versions/<version>/xml/<name>")
@login_required
def version_file(version, name):
    """One file of a published version, for drawing it."""
    with system().reading() as uow:
        return Response(publishing.version_file(uow, g.actor, version, name), mimetype="application/xml")


@bp.route("/diff/<old>/<new>")
@login_required
def diff(old, new):
    """What changed from one version to another, listed and marked on both diagrams."""
    with system().reading() as uow:
        found = publishing.compare(uow, g.actor, old, new)
    touched = sorted({c["file"] for c in found["changes"] if c["file"] and c["file"].endswith(".bpmn")})
    return render_template("policy/diff.html", found=found, files=touched)


@bp.route("/edit")
@login_required
def edit():
    """The bpmn-js modeler on a diagram of the latest version; saving makes a draft."""
    with system().reading() as uow:
        latest = system().processes.latest_hash(uow.session, record=False)
        listed = sorted(name for name in publishing.list_versions(uow, g.actor)[0]["files"] if name.endswith(".bpmn"))
    if "policy" not in g.actor.roles:
        abort(403)
    name = request.args.get("file") or "incident_response.bpmn"
    if name not in listed:
        abort(404)
    return render_template("policy/edit.html", version=latest, name=name, files=listed)


@bp.app_context_processor
def _marks():
    return {"marks_for": marks_for}


def marks_for(name, changes, errors, removed=False) -> list:
    """What to mark on diagram `name`: [{id, mark, title}] for the changes (or removed elements) and errors."""
    marks = []
    for change in changes:
        if change["file"] != name or (change["change"] == "removed") != removed:
            continue
        title = f"{change['change']}: {change['kind']} {', '.join(change['fields'])}".strip()
        marks.append({"id": change["id"], "mark": f"mark-{change['change']}", "title": title})
    for error in errors:
        if error.get("file") == name and error.get("element"):
            marks.append({"id": error["element"], "mark": "mark-error", "title": error["message"]})
    return marks


def _diagrams(draft):
    """The draft's diagrams that have something to mark: an error or a change."""
    touched = {item.get("file") for item in draft["errors"] + draft["changes"]}
    return sorted(name for name in draft["files"] if name.endswith(".bpmn") and name in touched)
