"""Parses diagram XML with entities, DTDs and network access off, a size cap, UTF-8 only, lxml 6.1 or newer."""
from lxml import etree

from .errors import DiagramError

MAX_BYTES = 2 * 1024 * 1024
MIN_LXML = (6, 1)  # older lxml reads local files through entities in a crafted file (CVE-2026-41066)

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
    huge_tree=False, remove_comments=False,
)


def check_lxml(version=None) -> None:
    """Raise DiagramError unless the installed lxml is 6.1 or newer (checked before every parse)."""
    version = tuple(version or etree.LXML_VERSION)
    if version[:2] < MIN_LXML:
        found = ".".join(str(part) for part in version[:3])
        raise DiagramError(f"lxml {found} is installed; diagrams are parsed only with lxml "
                           f"{'.'.join(map(str, MIN_LXML))} or newer (older versions let a crafted file read "
                           "local files through entities, CVE-2026-41066): upgrade lxml")


def parse_safely(data: bytes, file_name: str):
    """Return the parsed tree, or raise DiagramError for oversize, non-UTF-8, DOCTYPE or malformed XML."""
    check_lxml()
    if len(data) > MAX_BYTES:
        raise DiagramError(f"file is larger than {MAX_BYTES} bytes", file_name)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DiagramError("file is not UTF-8 text", file_name, line=data[:err.start].count(b"\n") + 1) from None
    lowered = data.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        at = lowered.find(b"<!doctype") if b"<!doctype" in lowered else lowered.find(b"<!entity")
        raise DiagramError("DOCTYPE and entity declarations are not allowed", file_name,
                           line=data[:at].count(b"\n") + 1)
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as err:
        raise DiagramError(f"malformed XML: {err.msg}", file_name, line=err.lineno) from None
    if root.getroottree().docinfo.doctype:  # however it was spelled or encoded
        raise DiagramError("DOCTYPE and entity declarations are not allowed", file_name, line=1)
    return root
