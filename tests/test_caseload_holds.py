"""Caseload adoption, pure (issue 19): rows at a stage that holds another (an EP referral, a sanction procedure, a
reorientation request, a person not subject) and sanctions decided, 2025 suspension-remobilisation included: each
replayed through the pathway's rules with the held stage's clocks intact (domain.caseload_holds)."""

from __future__ import annotations

from datetime import date

from domain.caseload_adoption import adopt, next_due
from domain.deadlines import add_days, service_deadline
from domain.pathway import DeadlineKind, EpReferralConfirmation, NonComplianceKind, NonComplianceReport, Stage
from domain.pathway_rules import Pathway
from domain.plein_emploi import DecideSanction2025
from domain.plein_emploi_state import FailureKind
from tests.test_caseload import NOW, REFERENT_ROW, REPEATED, TODAY, _case, _kinds


def test_an_ep_referral_holds_the_referent_stage_whose_clocks_run_and_a_past_one_is_a_breach():
    row = dict(REFERENT_ROW, stage="NON_COMPLIANCE_EP", held_stage="REFERENT_DESIGNATED",
               non_compliance_kind="NON_ADHESION", ep_referral_on="2026-11-02")
    state = adopt(_case(row), NOW, TODAY, source="CSV", file_digest="f")
    assert (state.stage, state.held_stages, state.ep.confirmed) == (Stage.NON_COMPLIANCE_EP,
                                                                    [Stage.REFERENT_DESIGNATED], True)
    assert _kinds(state) == ["EP_REFERRAL"] and [t.kind for t in state.open_tasks] == ["EP_REFERRAL"]
    assert next_due(state) == service_deadline(date(2026, 10, 20), months=2) and not state.breaches

    late = dict(row, caf_transmission_date="2026-06-01", orientation_notified_on="2026-06-20")
    [breach] = adopt(_case(late), NOW, TODAY, source="CSV", file_digest="f").breaches
    due = service_deadline(date(2026, 6, 20), months=2)  # the referent's CER clock fell due during the referral
    assert (breach.kind, breach.due, breach.breached_on) == (DeadlineKind.FIRST_CER, due, add_days(due, 1))
    quiet = adopt(_case(late), NOW, TODAY, source="CSV", file_digest="f", past_breaches=False)
    assert not quiet.breaches and [(p.kind, p.due) for p in quiet.adoption.past_due] == [(DeadlineKind.FIRST_CER, due)]
    assert _kinds(quiet) == ["EP_REFERRAL"]


def test_a_sanction_procedure_and_a_sanction_in_force_keep_their_dates():
    row = dict(REFERENT_ROW, stage="SANCTION_PROCEDURE", held_stage="REFERENT_DESIGNATED",
               non_compliance_kind="UNEXCUSED_ABSENCE", ep_referral_on="2026-11-02", ep_decided_on="2026-11-20")
    state = adopt(_case(row), NOW, TODAY, source="CSV", file_digest="f")
    assert (state.stage, state.held_stages) == (Stage.SANCTION_PROCEDURE, [Stage.REFERENT_DESIGNATED])
    assert state.stage_history[-2].on == date(2026, 11, 20) and state.ep is not None

    reduced = dict(REFERENT_ROW, stage="REFERENT_DESIGNATED", non_compliance_kind="NON_ADHESION",
                   ep_referral_on="2026-11-02", ep_decided_on="2026-11-20", sanction_outcome="reduction",
                   sanction_decided_on="2026-11-25", sanction_share_percent="30", sanction_months="3")
    after = adopt(_case(reduced), NOW, TODAY, source="CSV", file_digest="f")
    [sanction] = after.sanctions
    assert (after.stage, after.ep, sanction.outcome.value, sanction.share_percent, sanction.months,
            sanction.decided_on) == (Stage.REFERENT_DESIGNATED, None, "REDUCTION", 30, 3, date(2026, 11, 25))
    assert "APPLY_RSA_SANCTION" not in _kinds(after)  # applied to the rights in the former tool
    assert next_due(after) == service_deadline(date(2026, 10, 20), months=2)


SSR_ROW = dict(REFERENT_ROW, stage="REFERENT_DESIGNATED", rule_set="2025.1", non_compliance_kind="NON_ADHESION",
               ep_referral_on="2026-11-02", sanction_outcome="SUSPENSION_REMOBILISATION", sanction_failure="FIRST",
               sanction_decided_on="2026-11-25", sanction_share_percent="50", sanction_months="2")


def test_a_2025_suspension_remobilisation_is_adopted_through_its_rules_with_the_clocks_intact():
    state = adopt(_case(dict(SSR_ROW, remobilised_on="2026-12-01", remobilisation="SUPPRESSION")), NOW, TODAY,
                  source="CSV", file_digest="f")
    [ssr] = state.plein_emploi.sanctions
    assert (state.stage, state.ep, ssr.failure.value, ssr.decided_on, ssr.share_percent, ssr.months) == \
        (Stage.REFERENT_DESIGNATED, None, "FIRST", date(2026, 11, 25), 50, 2)
    assert (ssr.remobilised_on, ssr.repayment) == (date(2026, 12, 1), False)
    assert not {"APPLY_RSA_SANCTION", "TRANSMIT_REMOBILISATION"} & set(_kinds(state))  # done in the former tool
    assert "EP_REFERRAL" not in _kinds(state) + [t.kind for t in state.open_tasks]  # each referral was decided
    assert next_due(state) == service_deadline(date(2026, 10, 20), months=2) and not state.breaches

    late = dict(SSR_ROW, caf_transmission_date="2026-06-01", orientation_notified_on="2026-06-20")
    due = service_deadline(date(2026, 6, 20), months=2)  # the referent's CER clock fell due before the sanction
    [breach] = adopt(_case(late), NOW, TODAY, source="CSV", file_digest="f").breaches
    assert (breach.kind, breach.due, breach.breached_on) == (DeadlineKind.FIRST_CER, due, add_days(due, 1))
    quiet = adopt(_case(late), NOW, TODAY, source="CSV", file_digest="f", past_breaches=False)
    assert not quiet.breaches and [(p.kind, p.due) for p in quiet.adoption.past_due] == [(DeadlineKind.FIRST_CER, due)]


def test_a_repeated_2025_suspension_is_adopted_after_its_first_as_the_live_pathway_records_them():
    """REPEATED (up to 4 months) follows a first suspension-remobilisation on the case: the row gives the first's
    day, share and months; both are replayed through ``decide_sanction_2025``'s checks, each after its referral."""
    state = adopt(_case(dict(SSR_ROW, **REPEATED, remobilised_on="2026-12-01", remobilisation="REPAYMENT")), NOW,
                  TODAY, source="CSV", file_digest="f")
    first, repeated = state.plein_emploi.sanctions
    assert [(s.failure.value, s.decided_on, s.share_percent, s.months) for s in (first, repeated)] == [
        ("FIRST", date(2026, 10, 15), 30, 1), ("REPEATED", date(2026, 11, 25), 50, 4)]
    assert (first.remobilised_on, repeated.remobilised_on, repeated.repayment) == (None, date(2026, 12, 1), True)
    assert (state.stage, state.ep) == (Stage.REFERENT_DESIGNATED, None)
    assert not {"APPLY_RSA_SANCTION", "TRANSMIT_REMOBILISATION"} & set(_kinds(state))  # done in the former tool
    assert "EP_REFERRAL" not in _kinds(state) + [t.kind for t in state.open_tasks]  # each referral was decided
    assert next_due(state) == service_deadline(date(2026, 10, 20), months=2) and not state.breaches

    # The same as the live pathway: a second referral and a REPEATED decision on a case with only the first.
    live = Pathway(adopt(_case(dict(SSR_ROW, sanction_decided_on="2026-10-15", sanction_share_percent="30",
                                    sanction_months="1", ep_referral_on="2026-10-15")), NOW, TODAY, source="CSV",
                         file_digest="f"))
    report = NonComplianceReport(event_id="nc-2", kind=NonComplianceKind.NON_ADHESION, reported_on=date(2026, 11, 2))
    live.on_non_compliance(report, date(2026, 11, 2))
    live.confirm_ep(EpReferralConfirmation(event_id="ep-2", confirmed=True, decided_on=date(2026, 11, 2)),
                    date(2026, 11, 2))
    decision = DecideSanction2025(event_id="r", decided_on=date(2026, 11, 25), failure=FailureKind.REPEATED,
                                  share_percent=50, months=4)
    live.check_sanction_2025(decision, TODAY)
    live.decide_sanction_2025(decision, TODAY)
    assert [(s.failure, s.decided_on, s.share_percent, s.months) for s in live.s.plein_emploi.sanctions] == [
        (s.failure, s.decided_on, s.share_percent, s.months) for s in (first, repeated)]


def test_a_reorientation_request_holds_its_stage_and_awaits_the_slai():
    row = dict(REFERENT_ROW, stage="REORIENTATION_REQUESTED", held_stage="BILAN", cer_start="2026-05-26",
               caf_transmission_date="2026-04-01", orientation_notified_on="2026-04-20",
               cer_end="2026-11-25", reorientation_requested_on="2026-11-28", reorientation_reason="EVOLUTION_BLOQUEE")
    state = adopt(_case(row), NOW, TODAY, source="CSV", file_digest="f")
    assert (state.stage, state.held_stages, state.reorientation_reason.value) == (
        Stage.REORIENTATION_REQUESTED, [Stage.BILAN], "EVOLUTION_BLOQUEE")
    assert "DECIDE_REORIENTATION" in _kinds(state) and next_due(state) == add_days(date(2026, 11, 25), 15)
    exit_ = adopt(_case(dict(row, reorientation_kind="EXIT", reorientation_reason="REPRISE_VIE_MARITALE")), NOW,
                  TODAY, source="CSV", file_digest="f")
    assert exit_.reorientation_is_exit


def test_a_person_not_subject_has_paused_clocks_and_a_later_subject_flow_starts_the_orientation():
    from domain.pathway import FlowRecord
    from domain.pathway_rules import Pathway

    never = {"matricule": "77", "rank": "1", "territory": "T1", "stage": "NOT_SUBJECT",
             "caf_transmission_date": "2026-11-02", "not_subject_since": "2026-11-02"}
    state = adopt(_case(never), NOW, TODAY, source="CSV", file_digest="f")
    assert (state.stage, state.held_stages, next_due(state)) == (Stage.NOT_SUBJECT, [Stage.DETECTED], None)
    p = Pathway(state)
    p.on_flow_record(FlowRecord(event_id="f2", transmission_date=TODAY, subject_to_duties=True), TODAY)
    assert p.s.stage is Stage.AWAITING_ORIENTATION and p.next_due() == service_deadline(TODAY, months=1)

    paused = adopt(_case(dict(REFERENT_ROW, stage="NOT_SUBJECT", held_stage="REFERENT_DESIGNATED",
                              not_subject_since="2026-11-10")), NOW, TODAY, source="CSV", file_digest="f")
    [first_cer] = [d for d in paused.deadlines if d.kind is DeadlineKind.FIRST_CER]
    assert first_cer.paused_since == date(2026, 11, 10) and next_due(paused) is None and not paused.breaches
