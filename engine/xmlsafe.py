"""Parses diagram XML with entities, DTDs and network access off, and a size cap."""
from lxml import etree

from .errors import DiagramError

MAX_BYTES = 2 * 1024 * 1024

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
    huge_tree=False, remove_comments=False,
)


def parse_safely(data: bytes, file_name: str):
    """Return the parsed tree, or raise DiagramError for oversize, DOCTYPE or malformed XML."""
    if len(data) > MAX_BYTES:
        raise DiagramError(f"file is larger than {MAX_BYTES} bytes", file_name)
    head = data[:4096].lower()
    if b"<!doctype" in data.lower() or b"<!entity" in head:
        line = data[: data.lower().find(b"<!doctype")].count(b"\n") + 1 if b"<!doctype" in data.lower() else None
        raise DiagramError("DOCTYPE and entity declarations are not allowed", file_name, line=line)
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as err:
        raise DiagramError(f"malformed XML: {err.msg}", file_name, line=err.lineno) from None
