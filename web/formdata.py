"""Turns a posted HTML form into the values a task form validates, using the form's field descriptions."""


def from_html(fields, form) -> dict:
    """Pick the described fields out of `form`: checkboxes become booleans, lists split by line."""
    data = {}
    for field in fields:
        name, kind = field["name"], field["type"]
        if field.get("widget") == "checkbox":
            data[name] = form.get(name) == "true"
            continue
        raw = form.get(name, "")
        if kind == "list":
            items = [line.strip() for line in raw.splitlines() if line.strip()]
            if items or field["required"]:
                data[name] = items
            continue
        if raw.strip() == "":
            continue
        data[name] = raw.strip() if kind != "text" else raw
    return data
