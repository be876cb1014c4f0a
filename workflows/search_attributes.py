"""Every custom search attribute of the project, in one place.

``parcours dev`` and the test fixtures register exactly this list. Values are opaque ids and coarse
categories only: never personal data.
"""

from datetime import datetime, timezone

from temporalio.common import SearchAttributeKey

STAGE = SearchAttributeKey.for_keyword("Stage")
TERRITORY = SearchAttributeKey.for_keyword("Territory")
REFERENT_TYPE = SearchAttributeKey.for_keyword("ReferentType")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")
BREACH_COUNT = SearchAttributeKey.for_int("BreachCount")
SUBJECT_TO_DUTIES = SearchAttributeKey.for_bool("SubjectToDuties")
RULE_SET = SearchAttributeKey.for_keyword("RuleSet")
LABEL_STAGE = SearchAttributeKey.for_keyword("LabelStage")
STRUCTURE_ID = SearchAttributeKey.for_keyword("StructureId")
CER_END = SearchAttributeKey.for_datetime("CerEnd")  # last day of the active CER (midnight Europe/Paris)
REFERENT_STRUCTURE = SearchAttributeKey.for_keyword("ReferentStructure")  # the accompanying structure's opaque id

ALL_SEARCH_ATTRIBUTES: tuple[SearchAttributeKey, ...] = (
    STAGE,
    TERRITORY,
    REFERENT_TYPE,
    NEXT_DEADLINE,
    BREACH_COUNT,
    SUBJECT_TO_DUTIES,
    RULE_SET,
    LABEL_STAGE,
    STRUCTURE_ID,
    CER_END,
    REFERENT_STRUCTURE,
)

def instant(value: datetime | None) -> datetime | None:
    """A Datetime attribute's value: Temporal refuses an offset with seconds (Paris before 1911 was +00:09:21),
    so such an instant goes as UTC (the same instant)."""
    offset = value.utcoffset() if value is not None else None
    if offset is not None and offset.seconds % 60:
        return value.astimezone(timezone.utc)
    return value


_CLI_TYPE_NAMES = {"KEYWORD": "Keyword", "TEXT": "Text", "INT": "Int", "FLOAT": "Double", "BOOL": "Bool",
                   "DATETIME": "Datetime", "KEYWORD_LIST": "KeywordList"}


def cli_search_attribute_types() -> dict[str, str]:
    """``{name: type}`` as the Temporal CLI's ``--search-attribute Name=Type`` flag expects."""
    return {key.name: _CLI_TYPE_NAMES[key.indexed_value_type.name] for key in ALL_SEARCH_ATTRIBUTES}
