"""The printable report of an exported case: one HTML file with a print stylesheet, no scripts, no links out."""
import hashlib
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"


def render_report(records: list, story: dict, export_name: str) -> str:
    """The report of an export (`records`: header and events) and its timeline (`story`), as HTML."""
    header = records[0]
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))
    env.filters["show"] = show
    files = [{"version": version, "name": name, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}
             for version, content in sorted(header["process_versions"].items())
             for name, text in sorted(content["files"].items())]
    return env.get_template("report.html").render(header=header, story=story, files=files,
                                                  export_name=export_name)


def show(value) -> str:
    """A data value for people: lists joined, booleans as yes/no, nothing as a dash."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(show(v) for v in value) or "-"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {show(v)}" for k, v in value.items())
    return str(value)
