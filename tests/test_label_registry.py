"""The structure registry's rule, pure: one open application per structure, none during a moratorium."""

from datetime import date

import pytest

from domain.label_registry import ApplicationRefused, StructureRecord, check_new_application


def record(**fields) -> StructureRecord:
    return StructureRecord(structure_id="S", **fields)


def test_free_structure_and_retries_are_accepted():
    assert check_new_application(None, "label-S-1", date(2025, 3, 1)) is None
    assert check_new_application(record(), "label-S-1", date(2025, 3, 1)) is None
    assert check_new_application(record(open_application="label-S-1"), "label-S-1", date(2025, 3, 1)) is None


def test_another_open_application_is_refused_with_its_stage():
    with pytest.raises(ApplicationRefused) as refused:
        check_new_application(record(open_application="label-S-1", open_stage="SLAI_CONSOLIDATION"),
                              "label-S-2", date(2025, 3, 1))
    assert refused.value.rule == "L1" and refused.value.until is None
    assert "label-S-1" in refused.value.message and "SLAI_CONSOLIDATION" in refused.value.message


def test_moratorium_not_notified_yet_is_refused():
    with pytest.raises(ApplicationRefused) as refused:
        check_new_application(record(open_application="label-S-1", moratorium_application="label-S-1"),
                              "label-S-2", date(2025, 9, 1))
    assert refused.value.rule == "L6" and refused.value.until is None


def test_moratorium_refuses_until_its_end_then_the_new_application_supersedes():
    running = record(open_application="label-S-1", moratorium_application="label-S-1",
                     moratorium_until=date(2026, 1, 1))
    with pytest.raises(ApplicationRefused) as refused:
        check_new_application(running, "label-S-2", date(2025, 12, 31))
    assert refused.value.rule == "L7" and refused.value.until == date(2026, 1, 1)
    assert "until 2025-12-31" in refused.value.message and "from 2026-01-01" in refused.value.message
    assert check_new_application(running, "label-S-2", date(2026, 1, 1)) == "label-S-1"
