"""The printable report of an exported case: one HTML file with a print stylesheet, no scripts, no links out."""
import hashlib
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from engine.wording import show

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

