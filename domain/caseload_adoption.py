"""A caseload row's pathway at its stage, with the clocks it would have had (issue 19), without I/O.

:func:`adopt` replays the rules of ``domain.pathway_rules`` from the row's own dates, in their order: the CAF
transmission starts the orientation clock, the orientation notification the platform's clocks, a designation the
referent's CER clock, a CER its end and bilan reminder, an end of payment the referent's choice. Between two facts
the clocks that fell due fire, so a deadline already past is a breach dated when it fell due (or, with
``past_breaches=False``, a migration fact without escalation) and future deadlines stay timers. The replayed stage
must be the row's stage, else the row is refused: the dates and the stage disagree.

The caseload carries a first appointment only at the platform's appointment stages and the CAF route, and no earlier
CERs: the clocks of steps the row's stage has passed and whose facts it does not give (``UNKNOWN_CLOCKS``) are closed as unknown, not judged (no false breach on day one). The replay's MonJob62 pushes and decision counts are dropped
(those facts happened in the département's former tool), as are reminder tasks whose day had passed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Callable

from domain.caseload import CaseloadCase, RowRejected
from domain.deadlines import add_days, deadline_instant
from domain.pathway import (
    Adoption,
    AppointmentEvent,
    AppointmentKind,
    CafFirstInterview,
    CafSaisine,
    CafSaisineDecision,
    CerType,
    DeadlineKind,
    DeadlineStatus,
    EpDecision,
    EpOutcome,
    EpReferralConfirmation,
    FlowRecord,
    LeftRsa,
    NonComplianceKind,
    NonComplianceReport,
    OrientationDecision,
    OrientationTarget,
    PastDue,
    PathwayRuleError,
    PathwayState,
    PersonalReviewRequest,
    PostExitChoice,
    PreconisationSubmitted,
    Referent,
    RequestReorientation,
    SignCer,
    Stage,
)
from domain.pathway_2025 import SERVICE_RSA_TASKS
from domain.pathway_rules import Pathway
from domain.plein_emploi import DecideSanction2025, Remobilised
from domain.plein_emploi_state import FailureKind

#: The CER type a referent of each kind signs (the row does not carry it).
CER_TYPES = {OrientationTarget.REFERENT_SOLIDARITE: CerType.SOLIDARITE,
             OrientationTarget.REFERENT_SOCIOPRO: CerType.SOCIOPROFESSIONNEL,
             OrientationTarget.PLIE: CerType.PROFESSIONNEL,
             OrientationTarget.POLE_EMPLOI_AG: CerType.SOCIOPROFESSIONNEL}
ADOPTED = "ADOPTED"
_APPOINTMENT = frozenset({DeadlineKind.FIRST_APPOINTMENT, DeadlineKind.FIRST_APPOINTMENT_REMINDER})
_BEFORE_CER = _APPOINTMENT | {DeadlineKind.FIRST_CER, DeadlineKind.REFERENT_CER}
#: Clocks of steps the row's stage has passed whose facts a caseload does not carry (the first appointment, the
#: first CER before the current one): closed as unknown (CANCELLED) when opened, never judged.
UNKNOWN_CLOCKS = {
    Stage.REFERENT_DESIGNATED: _APPOINTMENT,
    Stage.AWAITING_SLAI_VALIDATION: _APPOINTMENT,
    Stage.CER_ACTIVE: _BEFORE_CER,
    Stage.BILAN: _BEFORE_CER,
    Stage.EXIT_CHOICE_PENDING: _BEFORE_CER | {DeadlineKind.BILAN_REMINDER},
    Stage.POST_EXIT_ACCOMPANIMENT: _BEFORE_CER | {DeadlineKind.BILAN_REMINDER},
    Stage.CLOSED: _BEFORE_CER | {DeadlineKind.BILAN_REMINDER},
}
#: Tasks of facts the former tool already acted on: a sanction it recorded was applied to the rights there (and a
#: remobilisation's repayment or suppression transmitted).
DONE_ELSEWHERE = SERVICE_RSA_TASKS
#: Clocks of facts no caseload carries at any stage: the France Travail registration of a 2025 case (automatic
#: since 1 January 2025, G-B22) is closed as unknown rather than raising a task on day one for every adopted case.
NOT_IN_A_CASELOAD = frozenset({DeadlineKind.FRANCE_TRAVAIL_REGISTRATION})


def unknown_clocks(case: CaseloadCase) -> frozenset[DeadlineKind]:
    """The clocks closed as unknown for this row: its stage's, or for a hold those of the stage it holds."""
    return UNKNOWN_CLOCKS.get(case.base_stage, frozenset())


def _events(case: CaseloadCase) -> list[tuple[date, Callable[[Pathway, date], None]]]:
    """The row's facts as (day, apply) in the order they happened."""
    c = case
    subject = c.base_stage is not Stage.DETECTED  # a person never subject: the first flow said « non soumis »
    events: list[tuple[date, Callable[[Pathway, date], None]]] = [
        (c.caf_transmission_date, lambda p, d: p.on_flow_record(
            FlowRecord(event_id="adopt-flow", transmission_date=d, subject_to_duties=subject), d))]
    if c.orientation_notified_on is not None and c.orientation_target not in (None, OrientationTarget.CAF):
        target = c.orientation_target
        msg = OrientationDecision(event_id="adopt-orientation", target=target, structure_id=c.referent_structure or "",
                                  notified_on=c.orientation_notified_on,
                                  bypass_reason=None if target is OrientationTarget.PLATFORM else ADOPTED)

        def orient(p: Pathway, d: date) -> None:
            p.check_orientation(msg, d)
            p.orient(msg, d)
        events.append((c.orientation_notified_on, orient))
        designated = c.referent_designated_on
        if target is not OrientationTarget.PLATFORM and designated is not None and designated > c.orientation_notified_on:
            ref = Referent(type=target, structure_id=c.referent_structure or "", designated_on=designated)
            events.append((designated, lambda p, d: p._designate(ref, d, ADOPTED)))
    events.extend(_platform_events(case) if c.caf_saisine_on is None else _caf_events(case))
    if c.cer_start is not None and c.cer_end is not None and c.orientation_target is not None:
        cer = SignCer(event_id="adopt-cer", cer_id=f"adopted-{c.row_digest[:16]}",
                      type=CER_TYPES.get(c.orientation_target, CerType.SOLIDARITE), start=c.cer_start, end=c.cer_end,
                      signed_on=c.cer_start, actions=[])

        def sign(p: Pathway, d: date) -> None:
            p._check_cer_length(cer.start, cer.end)
            p.sign_cer(cer, d)
        events.append((c.cer_start, sign))
    events.extend(_hold_events(case))
    if c.personal_review_requested_on is not None:
        request = PersonalReviewRequest(event_id="adopt-review", requested_on=c.personal_review_requested_on)

        def review(p: Pathway, d: date) -> None:
            p.check_personal_review(request, d)
            p.request_personal_review(request, d)
        events.append((c.personal_review_requested_on, review))
    if c.end_of_payment is not None:
        left = LeftRsa(event_id="adopt-left", end_of_payment_date=c.end_of_payment, reason=ADOPTED)
        events.append((c.end_of_payment, lambda p, d: p.on_left_rsa(left, d)))
        if c.exit_choice is not None and c.exit_choice_on is not None:
            choice = PostExitChoice(event_id="adopt-choice", continue_accompaniment=c.exit_choice,
                                    decided_on=c.exit_choice_on)

            def choose(p: Pathway, d: date) -> None:
                p.check_exit_choice(choice, d)
                p.choose_after_exit(choice, d)
            events.append((c.exit_choice_on, choose))
    return events


def _platform_events(case: CaseloadCase) -> list[tuple[date, Callable[[Pathway, date], None]]]:
    """The platform phase: the first appointment fixed (recorded on the orientation day: the day it was fixed is not
    in the row) or held, and the préconisation submitted to the SLAI. The row gives no diagnostic nor platform CER,
    so the préconisation is applied without ``check_preconisation``'s R3/R11 checks (facts of the former tool)."""
    c = case
    events: list[tuple[date, Callable[[Pathway, date], None]]] = []
    if c.first_appointment_on is not None:
        held = c.base_stage is not Stage.PLATFORM_FIRST_APPOINTMENT
        appointment = AppointmentEvent(event_id="adopt-appointment", appointment_date=c.first_appointment_on,
                                       kind=AppointmentKind.HELD if held else AppointmentKind.SCHEDULED)
        day = c.first_appointment_on if held else c.orientation_notified_on
        events.append((day, lambda p, d: p.on_appointment(appointment, d)))
    if c.preconisation_on is not None and c.preconisation_target is not None:
        preconisation = PreconisationSubmitted(event_id="adopt-preconisation", target=c.preconisation_target,
                                               structure_id=c.preconisation_structure or "",
                                               submitted_on=c.preconisation_on)
        events.append((c.preconisation_on, lambda p, d: p.submit_preconisation(preconisation, d)))
    return events


def _caf_events(case: CaseloadCase) -> list[tuple[date, Callable[[Pathway, date], None]]]:
    """The CAF route (§3.2): the saisine, its acceptance (the row's orientation notification), the CAF's first
    interview (the row's first appointment). The row does not carry the §3.3 exclusion facts, so the saisine is
    applied without ``check_caf_saisine`` (the former tool's SLAI accepted or received it)."""
    c = case
    saisine = CafSaisine(event_id="adopt-saisine", mode=c.caf_saisine_mode, requested_on=c.caf_saisine_on,
                         caf_structure_id=c.referent_structure or "", rsa_majore=True)
    events: list[tuple[date, Callable[[Pathway, date], None]]] = [
        (c.caf_saisine_on, lambda p, d: p.caf_saisine(saisine, d))]
    if c.orientation_notified_on is not None:
        accepted = CafSaisineDecision(event_id="adopt-saisine-decision", accepted=True,
                                      decided_on=c.orientation_notified_on)
        events.append((c.orientation_notified_on, lambda p, d: p.decide_caf_saisine(accepted, d)))
    if c.first_appointment_on is not None:
        interview = CafFirstInterview(event_id="adopt-caf-interview", held_on=c.first_appointment_on,
                                      within_caf_competence=True)
        events.append((c.first_appointment_on, lambda p, d: p.caf_first_interview(interview, d)))
    return events


def _hold_events(case: CaseloadCase) -> list[tuple[date, Callable[[Pathway, date], None]]]:
    """The holds' facts (domain.caseload_holds): the EP referral (reported and confirmed on its day), the EP's
    opinion opening the sanction procedure, a sanction decided, a reorientation request, « non soumis » from a
    flow. Each through the rules' own checks where they have one."""
    c = case
    events: list[tuple[date, Callable[[Pathway, date], None]]] = []
    if c.ep_referral_on is not None and c.non_compliance_kind is not None:
        events.append((c.ep_referral_on, _referral(c.non_compliance_kind, c.ep_referral_on, "")))
    if c.ep_decided_on is not None:
        opinion = EpDecision(event_id="adopt-ep-opinion", outcome=EpOutcome.SANCTION_PROCEDURE,
                             decided_on=c.ep_decided_on)
        events.append((c.ep_decided_on, lambda p, d: p.on_ep_decision(opinion, d)))
    if c.sanction_decided_on is not None and c.sanction_outcome is not None:
        sanction = EpDecision(event_id="adopt-sanction", outcome=c.sanction_outcome, decided_on=c.sanction_decided_on,
                              share_percent=c.sanction_share_percent, months=c.sanction_months)
        events.append((c.sanction_decided_on, lambda p, d: p.on_ep_decision(sanction, d)))
    if c.sanction_decided_on is not None and c.sanction_failure is not None:
        events.extend(_suspension_remobilisation(c))
    if c.reorientation_requested_on is not None and c.reorientation_reason is not None:
        request = RequestReorientation(event_id="adopt-reorientation", reason=c.reorientation_reason,
                                       requested_on=c.reorientation_requested_on, exit=c.reorientation_exit)

        def reorient(p: Pathway, d: date) -> None:
            p.check_reorientation(request, d)
            p.request_reorientation(request, d)
        events.append((c.reorientation_requested_on, reorient))
    if c.not_subject_since is not None and c.base_stage is not Stage.DETECTED:
        flow = FlowRecord(event_id="adopt-not-subject", transmission_date=c.not_subject_since, subject_to_duties=False)
        events.append((c.not_subject_since, lambda p, d: p.on_flow_record(flow, d)))
    return events


def _referral(kind: NonComplianceKind, day: date, suffix: str) -> Callable[[Pathway, date], None]:
    """T20: the non-compliance reported and its EP referral confirmed on ``day``, through the rules' checks."""
    report = NonComplianceReport(event_id=f"adopt-non-compliance{suffix}", kind=kind, reported_on=day)
    confirm = EpReferralConfirmation(event_id=f"adopt-ep{suffix}", confirmed=True, decided_on=day)

    def refer(p: Pathway, d: date) -> None:
        p.on_non_compliance(report, d)
        p.check_ep_confirmation(confirm, d)
        p.confirm_ep(confirm, d)
    return refer


def _decide_2025(decision: DecideSanction2025) -> Callable[[Pathway, date], None]:
    def decide(p: Pathway, d: date) -> None:
        p.check_sanction_2025(decision, d)
        p.decide_sanction_2025(decision, d)
    return decide


def _suspension_remobilisation(c: CaseloadCase) -> list[tuple[date, Callable[[Pathway, date], None]]]:
    """A 2025 suspension-remobilisation through the rules' own checks (rule set, date in force, share, months),
    then, if given, the person's remobilisation (repayment or suppression) on its day. A REPEATED one is preceded
    by its first one, as the live pathway has it: the EP referral confirmed and the first failure decided on the
    first one's day (the row gives no other date of that referral)."""
    assert c.sanction_decided_on is not None and c.sanction_failure is not None
    decision = DecideSanction2025(event_id="adopt-sanction-2025", decided_on=c.sanction_decided_on,
                                  failure=c.sanction_failure, share_percent=c.sanction_share_percent,
                                  months=c.sanction_months)
    events: list[tuple[date, Callable[[Pathway, date], None]]] = []
    if c.first_sanction_decided_on is not None and c.non_compliance_kind is not None:
        first_day = c.first_sanction_decided_on
        refer = _referral(c.non_compliance_kind, first_day, "-first")
        decide_first = _decide_2025(DecideSanction2025(
            event_id="adopt-sanction-2025-first", decided_on=first_day, failure=FailureKind.FIRST,
            share_percent=c.first_sanction_share_percent, months=c.first_sanction_months))

        def first(p: Pathway, d: date) -> None:
            refer(p, d)
            decide_first(p, d)
        events.append((first_day, first))
    events.append((c.sanction_decided_on, _decide_2025(decision)))
    if c.remobilised_on is not None and c.remobilisation_repayment is not None:
        day, repayment = c.remobilised_on, c.remobilisation_repayment

        def remobilise(p: Pathway, d: date) -> None:
            msg = Remobilised(event_id="adopt-remobilised", sanction_id=p.s.plein_emploi.sanctions[-1].sanction_id,
                              decided_on=day, repayment=repayment)
            p.check_remobilised(msg, d)
            p.remobilised(msg, d)
        events.append((day, remobilise))
    return events


def _settle_tasks(s: PathwayState, today: date, past_breaches: bool) -> None:
    """Tasks the replay opened and closed (a saisine accepted, an EP referral confirmed) or whose day had passed are
    dropped, as are those of facts acted on in the former tool; the others are the pathway's open tasks."""
    closed = {c.task_key for c in s.outbox.task_closures}
    s.outbox.tasks = [t for t in s.outbox.tasks if t.task_key not in closed and t.kind not in DONE_ELSEWHERE
                      and (t.due_date is None or t.due_date >= today
                           or (past_breaches and t.kind.startswith("ESCALATION_")))]
    kept = {t.task_key for t in s.outbox.tasks}
    s.open_tasks = [t for t in s.open_tasks if t.task_key in kept]
    s.outbox.task_closures = []


def _keep_past_due_as_facts(p: Pathway, today: date, adoption: Adoption) -> None:
    """``--no-past-breaches``: a breach that fell before the adoption becomes a migration fact, not escalated."""
    s = p.s
    past = [b for b in s.breaches if b.breached_on <= today]
    ids = {b.deadline_id for b in past}
    for d in s.deadlines:
        if d.id in ids:
            d.status = DeadlineStatus.CANCELLED
            p._touch(d)
    adoption.past_due = [PastDue(kind=b.kind, due=b.due) for b in past]
    s.breaches = [b for b in s.breaches if b.deadline_id not in ids]
    s.outbox.breaches = [b for b in s.outbox.breaches if b.deadline_id not in ids]
    s.outbox.tasks = [t for t in s.outbox.tasks if t.task_key.rsplit(":", 1)[-1] not in ids]
    s.open_tasks = [t for t in s.open_tasks if t.task_key.rsplit(":", 1)[-1] not in ids]


def adopt(case: CaseloadCase, now: datetime, today: date, *, source: str, file_digest: str,
          past_breaches: bool = True, seq_base: int = 0) -> PathwayState:
    """The pathway state of ``case`` on ``today`` (``now``: the instant of the import); raises :class:`RowRejected`
    when a fact breaks a rule or the replayed stage is not the row's stage. ``seq_base``: the sequence to count
    from (a re-adoption writes above what the previous one wrote in the read model)."""
    p = Pathway(PathwayState(person_id=case.person_id, territory=case.territory, rule_set_version=case.rule_set,
                             seq=seq_base, seq_base=seq_base))
    p.s.reminders = True  # as a pathway opened today (workflow's REMINDERS, GESICA_AT_CER, CLOSE_TASKS)
    p.s.gesica_at_cer = True
    p.s.closes_tasks = True
    try:
        for day, apply in sorted(_events(case), key=lambda e: e[0]):
            p.expire(deadline_instant(add_days(day, -1)))
            apply(p, day)
            p._cancel(unknown_clocks(case) | NOT_IN_A_CASELOAD, day)
        p.expire(now)
    except PathwayRuleError as exc:
        raise RowRejected(exc.rule, str(exc)) from None
    if p.s.stage is not case.stage:
        raise RowRejected("STAGE_MISMATCH", f"the row's dates lead to stage {p.s.stage.value}, "
                                            f"not {case.stage.value}, on {today.isoformat()}")
    if p.s.finished:
        raise RowRejected("CLOSED_FOR_GOOD", "the case is closed with nothing left to follow (a re-entry keeps the "
                                             "referent only within 6 months of the end of payment after an exit "
                                             f"from RSA, T25): not adopted, on {today.isoformat()}")
    held = p.s.held_stages[-1] if p.s.held_stages else None
    if case.held_stage is not None and held is not case.held_stage:
        raise RowRejected("STAGE_MISMATCH", f"the row's dates lead to stage {case.stage.value} holding "
                                            f"{held.value if held else 'no stage'}, not {case.held_stage.value}, "
                                            f"on {today.isoformat()}")
    s = p.s
    adoption = Adoption(source=source, file_digest=file_digest, row=case.row, row_digest=case.row_digest,
                        adopted_on=today, past_breaches=past_breaches)
    s.outbox.pushes = []
    s.outbox.decisions = []
    _settle_tasks(s, today, past_breaches)
    if not past_breaches:
        _keep_past_due_as_facts(p, today, adoption)
    s.adoption = adoption
    s.referent_designated = s.cycle_completed = False
    p._note(today, ADOPTED)
    return s


def next_due(state: PathwayState) -> date | None:
    """The adopted pathway's next deadline (what the summary and the read model show)."""
    return Pathway(state).next_due()

