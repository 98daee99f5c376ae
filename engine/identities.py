"""Finds words in a public text that identify someone recorded in the case (PROCESS.md: no details go public)."""
import re

IDENTITY_FIELDS = ("harasser_identification", "reporter_name", "others_involved", "others_aware",
                   "informed_people")
# letters only: "Mal's" and "Kim-Lee" give "mal" and "kim", "lee"
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
# words a description of someone often holds that name no one ("the guy in the red hoodie")
COMMON = frozenset("""
a an the and or of in on at by to for from with without near about his her their its this that these those
he she they him them guy man woman person people someone somebody one who which team teams member members
mentor mentors volunteer volunteers staff attendee attendees participant participants hacker hackers judge
judges sponsor sponsors organizer organizers speaker speakers friend friends group table room hall booth
red blue green black white grey gray yellow orange purple pink brown tall short young old shirt hoodie hat
jacket glasses hair beard named called said says was is are were has had
""".split())


def _names(value):
    """The identifying words of one recorded value: every word of two letters or more except common ones,
    in whatever case it was typed."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        for word in _WORD.findall(str(item or "")):
            if len(word) >= 2 and word.lower() not in COMMON:
                yield word.lower()


def identifying_words(text: str, case_data: dict) -> list:
    """The words of `text` that name someone the case records as involved, aware, reporting or accused."""
    names = {word for field in IDENTITY_FIELDS for word in _names(case_data.get(field))}
    found = {word for word in _WORD.findall(text or "") if word.lower() in names}
    return sorted(found, key=str.lower)
