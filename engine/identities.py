"""Finds words in a public text that identify someone recorded in the case (PROCESS.md: no details go public)."""
import re

IDENTITY_FIELDS = ("harasser_identification", "reporter_name", "others_involved", "others_aware")
_WORD = re.compile(r"[^\W\d_][\w'-]*", re.UNICODE)


def _names(value):
    """The identifying words of one recorded value: its capitalised words (names), at least two letters."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        for word in _WORD.findall(str(item or "")):
            if len(word) >= 2 and word[0].isupper():
                yield word.lower()


def identifying_words(text: str, case_data: dict) -> list:
    """The words of `text` that name someone the case records as involved, aware, reporting or accused."""
    names = {word for field in IDENTITY_FIELDS for word in _names(case_data.get(field))}
    found = {word for word in _WORD.findall(text or "") if word.lower() in names}
    return sorted(found, key=str.lower)
