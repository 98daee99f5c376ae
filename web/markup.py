"""Turns the plain-text instructions of a step (a small Markdown subset) into safe HTML."""
import re

from markupsafe import Markup, escape

_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _inline(text):
    return _BOLD.sub(r"<strong>\1</strong>", str(escape(text)))


def instructions_html(text: str) -> Markup:
    """Paragraphs, '- ' lists, '> ' quotes and **bold**; everything else is escaped."""
    blocks = []
    for block in re.split(r"\n\s*\n", (text or "").strip()):
        lines = [line.rstrip() for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        if all(line.lstrip().startswith("- ") for line in lines):
            items = "".join(f"<li>{_inline(line.lstrip()[2:])}</li>" for line in lines)
            blocks.append(f"<ul>{items}</ul>")
        elif all(line.lstrip().startswith(">") for line in lines):
            body = "<br>".join(_inline(line.lstrip()[1:].strip()) for line in lines)
            blocks.append(f"<blockquote>{body}</blockquote>")
        else:
            blocks.append("<p>" + "<br>".join(_inline(line) for line in lines) + "</p>")
    return Markup("".join(blocks))
