"""The typed label payloads (``LabelTaskDetails``, ``LetterDates``) read every task and letter the recorded label
histories hold and write them back as the very same JSON: same keys, absent keys still absent, ``null`` kept."""

from __future__ import annotations

import base64
import json
from datetime import date
from typing import Any, Iterator

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from domain.label_contract import LabelTask, LabelTaskDetails, LetterDates, RegisteredLetter
from tests.record_histories import HISTORIES, history_converter

ENCRYPTED = base64.b64encode(b"binary/encrypted").decode()
#: The label cases' histories (the yearly list creates no task, writes no letter).
LABEL_HISTORIES = sorted(p for p in HISTORIES.glob("Label*.json") if not p.name.startswith("LabelYearlyList"))


def _objects(node: Any) -> Iterator[dict]:
    """Every JSON object in ``node``, nested ones included."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


async def _recorded(path) -> list[Any]:
    """Every encrypted JSON payload of a recorded history, decrypted and parsed."""
    raw = [json_format.ParseDict(p, Payload()) for p in _objects(json.loads(path.read_text()))
           if p.get("metadata", {}).get("encoding") == ENCRYPTED and "data" in p]
    return [json.loads(p.data) for p in await history_converter().payload_codec.decode(raw)
            if p.metadata.get("encoding") == b"json/plain"]


@pytest.mark.parametrize("path", LABEL_HISTORIES, ids=lambda p: p.stem)
async def test_recorded_label_tasks_and_letters_round_trip_to_the_same_json(path):
    tasks = 0
    for value in await _recorded(path):
        for obj in _objects(value):
            if {"task_key", "kind", "assignee", "details"} <= obj.keys():
                again = json.loads(LabelTask.model_validate(obj).model_dump_json())
                assert again == obj and list(again["details"]) == list(obj["details"]), obj["kind"]
                tasks += 1
            elif {"letter_key", "reasons", "dates"} <= obj.keys():
                again = json.loads(RegisteredLetter.model_validate(obj).model_dump_json())
                assert again == obj and list(again["dates"]) == list(obj["dates"]), obj["kind"]
    assert tasks > 0  # every label case creates tasks


def test_details_write_only_what_the_case_set_and_refuse_unknown_keys():
    details = LabelTaskDetails(structure_id="S1", registered_number=None, sent_on=date(2026, 12, 6))
    assert json.loads(details.model_dump_json()) == {"structure_id": "S1", "registered_number": None,
                                                     "sent_on": "2026-12-06"}
    assert LabelTaskDetails().model_dump() == {}
    with pytest.raises(ValueError):
        LabelTaskDetails.model_validate({"structure_id": "S1", "free_text": "Jean Dupont"})


def test_letter_dates_list_the_dates_set_in_declaration_order():
    dates = LetterDates(renewal_window_last=date(2031, 4, 14), valid_until=date(2031, 4, 14))
    assert dates.items() == [("valid_until", date(2031, 4, 14)), ("renewal_window_last", date(2031, 4, 14))]
    assert LetterDates().items() == [] and LetterDates().model_dump() == {}
