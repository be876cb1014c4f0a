"""``generate_daily_update``: the next day's file of a generated population — the share of new households asked
for, every known household in another state than the day before, each kind of change present, reproducible."""

from __future__ import annotations

from collections import Counter
from datetime import date

from activities.cnaf_parser import CnafFluxReader
from activities.flux_generator import generate_daily_update, generate_flux

DAY1, DAY2 = date(2025, 5, 5), date(2025, 5, 6)


def _households(path) -> dict:
    reader = CnafFluxReader(path)
    found = {}
    for record in reader:
        if record.position == 0:
            continue
        assert record.accepted, record.issues
        found[record.household.matricule] = record.household
    return found


def _situation(h) -> tuple:
    return (h.right_state, h.suspension_reasons, h.closure_reason, tuple(p.subject_to_duties for p in h.persons))


def _change(before, after) -> str:
    if after.closure_reason:
        return "closed"
    if after.suspension_reasons:
        return "suspended"
    if before.suspension_reasons:
        return "resumed"
    if not before.right_state.is_active:
        return "reopened"
    if any(p.subject_to_duties for p in before.persons):
        assert not any(p.subject_to_duties for p in after.persons)
        return "not subject"
    assert after.persons[0].subject_to_duties
    return "became subject"


def test_daily_update_follows_the_first_file(tmp_path):
    generate_flux(tmp_path / "day1.xml", households=400, seed=11, flow_date=DAY1)
    report = generate_daily_update(tmp_path / "day2.xml", households=400, seed=11, flow_date=DAY1, update_date=DAY2,
                                   update_households=200)
    first, update = _households(tmp_path / "day1.xml"), _households(tmp_path / "day2.xml")
    assert len(update) == report.households == 200
    known = [m for m in update if m in first]
    assert len(known) == 190  # 95 % known, 5 % new
    changes = Counter()
    for matricule in known:
        before, after = first[matricule], update[matricule]
        assert [p.nir for p in after.persons] == [p.nir for p in before.persons]  # the same people
        assert _situation(after) != _situation(before)
        changes[_change(before, after)] += 1
    assert set(changes) == {"closed", "suspended", "resumed", "reopened", "not subject", "became subject"}, changes
    reader = CnafFluxReader(tmp_path / "day2.xml")
    list(reader)
    assert reader.header.creation_date == DAY2

    generate_daily_update(tmp_path / "again.xml", households=400, seed=11, flow_date=DAY1, update_date=DAY2,
                          update_households=200)
    assert (tmp_path / "again.xml").read_bytes() == (tmp_path / "day2.xml").read_bytes()
