"""The application state's rules, pure (no Temporal): the published stage, the registry hold, the end."""

from datetime import date

from domain.label import LabelStage, appeal_deadline
from domain.label_appeal import AppealRecord
from domain.label_application import LabelApplicationState, RefusalRecord
from domain.rules import RULESET_2023 as R

NOTIFIED = date(2025, 9, 1)


def state(base: LabelStage, **fields) -> LabelApplicationState:
    return LabelApplicationState(structure_id="S", application_no=1, territory="ARTOIS", base_stage=base, **fields)


def refused(final: bool, notified: bool = True, **appeal) -> RefusalRecord:
    deadline = appeal_deadline(NOTIFIED, R)
    return RefusalRecord(round=1, final=final, decided_on=date(2025, 8, 1), reasons=["r"], letter_key="k",
                         notified_on=NOTIFIED if notified else None,
                         appeal=AppealRecord(gracieux_deadline=deadline, direct_contentieux_deadline=deadline,
                                             **appeal) if notified else None)


def test_a_pending_appeal_shows_over_the_base_stage():
    assert state(LabelStage.MORATORIUM, refusals=[refused(False)]).displayed_stage() is LabelStage.MORATORIUM
    gracieux = state(LabelStage.MORATORIUM, refusals=[refused(False, gracieux_filed_on=date(2025, 9, 10))])
    assert gracieux.displayed_stage() is LabelStage.APPEAL_GRACIEUX
    tribunal = state(LabelStage.REFUSED_FINAL, refusals=[refused(True, contentieux_filed_on=date(2025, 9, 10))])
    assert tribunal.displayed_stage() is LabelStage.APPEAL_CONTENTIEUX


def test_the_case_holds_the_structure_from_filing_until_granted_refused_or_superseded():
    assert state(LabelStage.DRAFT).holds_structure() is None  # never filed: the registry is left alone
    assert state(LabelStage.SLAI_CONSOLIDATION).holds_structure() is True
    assert state(LabelStage.MORATORIUM).holds_structure() is True
    assert state(LabelStage.MORATORIUM, closing_reason="reapplied as label-S-2").holds_structure() is False
    for base in (LabelStage.GRANTED, LabelStage.LABELLED, LabelStage.REFUSED_FINAL):
        assert state(base).holds_structure() is False


def test_a_final_refusal_ends_when_its_appeal_windows_close():
    final = state(LabelStage.REFUSED_FINAL, refusals=[refused(True)])
    last = appeal_deadline(NOTIFIED, R)
    assert not final.finished(last) and final.finished(date.fromordinal(last.toordinal() + 1))
    assert not state(LabelStage.REFUSED_FINAL, refusals=[refused(True, notified=False)]).finished(date(2030, 1, 1))


def test_a_superseded_moratorium_ends_unless_an_appeal_is_pending():
    done = state(LabelStage.MORATORIUM, closing_reason="reapplied as label-S-2", refusals=[refused(False)])
    assert done.finished(NOTIFIED)
    pending = state(LabelStage.MORATORIUM, closing_reason="reapplied as label-S-2",
                    refusals=[refused(False, contentieux_filed_on=date(2025, 9, 20))])
    assert not pending.finished(date(2030, 1, 1))
    assert not state(LabelStage.MORATORIUM, refusals=[refused(False)]).finished(date(2030, 1, 1))
