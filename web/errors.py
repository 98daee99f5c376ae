"""Maps the engine's error types to HTTP statuses, once, for pages and the API."""
from flask import jsonify, render_template, request

from engine.errors import (
    AuthenticationFailed, CaseClosed, CasePurged, DiagramCodeFailed, DiagramError, InvalidSubmission, MoveRefused,
    NotAllowed, NotFound, StaleCase, TaskNotReady, TooManyAttempts,
)

from .schemas import ErrorSchema, ValidationErrorSchema

STATUS = {
    NotFound: 404, NotAllowed: 403, CasePurged: 410, TaskNotReady: 409, StaleCase: 409, CaseClosed: 409,
    AuthenticationFailed: 401, InvalidSubmission: 422, TooManyAttempts: 429, DiagramError: 503,
    DiagramCodeFailed: 500, MoveRefused: 409,
}


def _is_api():
    return request.path.startswith("/api/")


def register(app):
    """Install the handlers that turn engine errors and HTTP errors into responses."""
    for error_type, status in STATUS.items():
        app.register_error_handler(error_type, _handler(status))
    for code in (400, 404, 405, 413, 500):
        app.register_error_handler(code, _http_handler(code))


def _handler(status):
    def handle(err):
        if _is_api():
            if isinstance(err, InvalidSubmission):
                return jsonify(ValidationErrorSchema().dump({"errors": err.errors})), status
            return jsonify(ErrorSchema().dump({"error": str(err)})), status
        message = str(err)
        if isinstance(err, InvalidSubmission):  # a page's form shows these next to its fields; anything else here
            message = " ".join(f"{field}: {' '.join(texts)}" for field, texts in sorted(err.errors.items()))
        return render_template("error.html", status=status, message=message), status
    return handle


def _http_handler(code):
    def handle(err):
        message = getattr(err, "description", None) or "Something went wrong."
        if code == 500:
            message = "Something went wrong on our side. Nothing was saved."
        if _is_api():
            return jsonify(ErrorSchema().dump({"error": message})), code
        return render_template("error.html", status=code, message=message), code
    return handle
