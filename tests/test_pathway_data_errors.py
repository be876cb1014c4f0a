"""Property: whatever dates a message carries, the pathway rules either apply it or raise an error the workflow
turns into an anomaly (``workflows.pathway_settings.DATA_ERRORS``), and what they accepted never breaks the main loop's
next steps (timers, search attributes, read-model row, view). Pure: no Temporal."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.deadlines import PARIS
from domain.pathway import (
    AppointmentEvent,
    AppointmentKind,
    CerAction,
    CerType,
    FlowRecord,
    LeftRsa,
    LostFromViewConvocation,
    NotSubjectConfirmed,
    OrientationDecision,
    OrientationTarget,
    PaymentSuspended,
    SignCer,
)
from domain.pathway_rules import Pathway
from workflows.pathway_settings import DATA_ERRORS
from workflows.search_attributes import instant

TODAY = date(2026, 3, 2)
#: Any date, weighted towards the ends of what ``datetime`` carries (where arithmetic overflows).
dates = st.one_of(st.dates(), st.dates(min_value=date(9999, 1, 1)), st.dates(max_value=date(1, 12, 31)),
                  st.dates(min_value=date(1899, 1, 1), max_value=date(1912, 1, 1)))


def pathway(direct: bool) -> Pathway:
    p = Pathway.new("p" * 32, "ARRAS", TODAY)
    p.s.reminders = p.s.closes_tasks = True
    p.on_flow_record(FlowRecord(event_id="f0", transmission_date=TODAY, subject_to_duties=True), TODAY)
    if direct:
        p.orient(OrientationDecision(event_id="o0", target=OrientationTarget.REFERENT_SOLIDARITE, structure_id="R1",
                                     notified_on=TODAY, bypass_reason="known"), TODAY)
    return p


def messages(day: date, other: date):
    """(handler name, message) pairs carrying ``day`` (and ``other``) in every date field."""
    return [
        ("on_flow_record", FlowRecord(event_id="m", transmission_date=day, subject_to_duties=True)),
        ("on_appointment", AppointmentEvent(event_id="m", kind=AppointmentKind.SCHEDULED, appointment_date=day)),
        ("on_left_rsa", LeftRsa(event_id="m", end_of_payment_date=day, reason="R")),
        ("on_payment_suspended", PaymentSuspended(event_id="m", flow_date=day, reasons=[], since=other)),
        ("on_not_subject_confirmed", NotSubjectConfirmed(event_id="m", flow_date=day, since=other, flows=2)),
        ("on_lost_from_view_convocation", LostFromViewConvocation(
            event_id="m", convocation_id="c", convoked_on=day, appointment_date=other)),
        ("sign_cer", SignCer(event_id="m", cer_id="c", type=CerType.SOLIDARITE, start=day, end=other, signed_on=TODAY,
                             actions=[CerAction(start=day, end=other)])),
    ]


def main_loop_steps(p: Pathway, now: datetime) -> None:
    """What the workflow computes after a message: any exception here would fail a workflow task."""
    fire = p.next_fire()
    if fire is not None:
        _ = fire - now
    instant(p.next_deadline_instant())
    instant(p.cer_end_instant())
    p.summary(), p.row(), p.view()
    p.expire(now + timedelta(days=400))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(day=dates, other=dates, direct=st.booleans(), which=st.integers(min_value=0, max_value=6))
def test_any_date_is_applied_or_refused_and_never_breaks_the_main_loop(day, other, direct, which):
    p = pathway(direct)
    name, msg = messages(day, other)[which]
    try:
        if name == "sign_cer":
            p.check_sign_cer(msg, TODAY)
        getattr(p, name)(msg, TODAY)
    except DATA_ERRORS:
        return  # the workflow keeps the state as it was and records an anomaly
    main_loop_steps(p, datetime.combine(TODAY, time(10), tzinfo=PARIS))
