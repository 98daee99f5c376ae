"""Every API answer the tests' `api` client receives is checked against GET /api/openapi.json.

The fuzzing runs (test_api_fuzzing.py) reach few deep states; the scenario tests walk cases to their
end, so their answers are checked too: a documented status and a body of the documented shape.
"""
import schemathesis
from werkzeug.exceptions import HTTPException

_document = {}  # the document is the same for every app the tests build: loaded once per run


def check_answer(app, method: str, url: str, response) -> None:
    """Fail unless the answer's status is documented for the route and its body has the documented shape."""
    try:
        endpoint, _ = app.url_map.bind("localhost").match(url.split("?", 1)[0], method)
    except HTTPException:
        return  # no route takes this URL: the router's 404, not an operation's answer
    operation = _schema(app).find_operation_by_id(endpoint.split(".", 1)[1])
    documented = operation.definition.raw["responses"]
    assert str(response.status_code) in documented, (
        f"{method} {url} answered {response.status_code}, which the document does not list: {sorted(documented)}")
    operation.validate_response(response)


def _schema(app):
    if "schema" not in _document:
        reply = app.test_client().get("/api/openapi.json")
        assert reply.status_code == 200
        _document["schema"] = schemathesis.openapi.from_dict(reply.get_json())
    return _document["schema"]
