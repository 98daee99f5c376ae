"""GET /api/openapi.json: a valid OpenAPI 3.1 document of every API route, its forms and its errors."""
import re

from openapi_spec_validator import validate

from forms import FORMS, INTAKE_FORM
from web import openapi


def document(client):
    reply = client.get("/api/openapi.json")
    assert reply.status_code == 200 and reply.mimetype == "application/json"
    return reply.get_json()


def operations(doc):
    return {(method.upper(), path): op for path, item in doc["paths"].items() for method, op in item.items()}


def test_the_document_is_valid_openapi_3_1_and_needs_no_token(client):
    doc = document(client)
    validate(doc)  # raises, naming the place, on anything the OpenAPI 3.1 schema forbids
    assert doc["openapi"] == "3.1.0"


def test_every_api_route_is_documented_once_under_its_view_name(app, client):
    doc = document(client)
    routes = {(method, re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)): rule.endpoint.split(".", 1)[1]
              for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {key: op["operationId"] for key, op in operations(doc).items()}
    assert documented == routes
    assert set(openapi.OPERATIONS) == set(routes.values())  # no description left for a route that is gone


def test_only_the_token_exchange_the_document_and_reporter_links_go_without_a_bearer_token(client):
    doc = document(client)
    assert doc["security"] == [{"bearer": []}]
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    public = {key for key, op in operations(doc).items() if op.get("security") == []}
    assert public == {("POST", "/api/tokens"), ("GET", "/api/openapi.json"), ("GET", "/api/reporter/{token}"),
                      ("POST", "/api/reporter/{token}")}
    for key, op in operations(doc).items():
        if key not in public:
            assert op["responses"]["401"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"}, key


def test_errors_are_documented_with_their_shapes(client):
    ops = operations(document(client))
    complete = ops[("POST", "/api/tasks/{task_id}")]["responses"]
    assert set(complete) == {"200", "401", "403", "404", "409", "410", "413", "422", "500", "503"}
    assert complete["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ValidationError"}
    assert complete["409"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert set(ops[("POST", "/api/tokens")]["responses"]) == {"201", "401", "413", "429"}
    schemas = document(client)["components"]["schemas"]
    assert schemas["ValidationError"]["properties"]["errors"]["additionalProperties"] == {
        "type": "array", "items": {"type": "string"}}


def test_each_task_is_documented_with_its_own_forms_fields(client):
    schemas = document(client)["components"]["schemas"]
    submission = schemas["TaskSubmission"]
    assert set(submission["x-task-forms"]) == set(FORMS)
    refs = [branch["$ref"] for branch in submission["properties"]["data"]["anyOf"]]
    assert sorted(refs) == sorted(set(submission["x-task-forms"].values()))
    for task, form in FORMS.items():
        component = schemas[submission["x-task-forms"][task].rsplit("/", 1)[1]]
        described = form.describe()
        assert set(component["properties"]) == {f["name"] for f in described}, task
        assert set(component.get("required", [])) == {f["name"] for f in described if f["required"]}, task
        assert component["additionalProperties"] is False, task
        for field in described:
            prop = component["properties"][field["name"]]
            assert prop["title"] == field["label"], (task, field["name"])
            if field["choices"]:
                assert prop["enum"] == field["choices"], (task, field["name"])


def test_form_fields_keep_their_json_types(client):
    schemas = document(client)["components"]["schemas"]
    safety = schemas["SupportVictimForm"]["properties"]["offered_private_place"]
    assert safety["type"] == "boolean" and safety["enum"] == [True]  # a checklist item must be ticked
    call = schemas["CallIncidentTeamForm"]["properties"]
    assert call["called_at"] == {"type": "string", "format": "date-time", "title": "When you called"}
    assert call["team_member_contacted"]["type"] == "string"


def test_the_intake_documents_that_the_opening_role_may_be_left_out(client):
    intake = document(client)["components"]["schemas"]["Intake"]
    assert set(intake["properties"]) == {f["name"] for f in INTAKE_FORM.describe()}
    assert "opened_by_role" not in intake["required"]
    assert {"event_name", "event_format", "region", "reporter_anonymous"} <= set(intake["required"])


def test_response_shapes_list_exactly_the_keys_the_api_sends(api):
    from tests.test_api import open_case
    schemas = document(api("olga").client)["components"]["schemas"]
    case = open_case(api)
    assert set(case) == set(schemas["Case"]["properties"]) == set(schemas["Case"]["required"])
    task = api("olga").get(f"/api/tasks/{case['tasks'][0]['id']}").get_json()
    assert set(task) == set(schemas["TaskDetail"]["properties"])
    assert set(api("olga").get("/api/tasks").get_json()[0]) == set(schemas["TaskSummary"]["properties"])
    event = api("olga").get(f"/api/cases/{case['id']}/history").get_json()[0]
    assert set(event) == set(schemas["HistoryEvent"]["properties"])
