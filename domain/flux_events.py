"""From flow records to pathway events: one observation per person per file, events by diffing snapshots.

A file says where each household *is*, not what *happened*. Following G-X1, each person's observation is
compared with the last one applied to that person (:class:`PersonFlowState`, kept in the pathway's state)
and the differences become events: new entrant, became / no longer subject to rights and duties,
payment suspended / resumed, left RSA (with the closure date), RSA reopened.

Everything here is pure and deterministic, so the pathway workflow can call :func:`derive_events` itself.
Ids are stable across re-sent copies of a file (they hash content, not the file), so a late or duplicate
file produces events the workflow has already seen, and they are dropped.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from domain.flux import FluxHeader, Household, RightState
from domain.identity import caf_person_id, person_id
from domain.rules import RuleSet


class FlowObservation(BaseModel):
    """What one file says about one person (a signal payload: no NIR, names or birth date in it)."""

    model_config = ConfigDict(frozen=True)

    observation_id: str
    person_id: str
    source: str  # "CAF" or "MSA"
    flow_date: date  # DTCREAFLUX, or the CSV entry date: the "date de transmission CAF quotidienne"
    flow_type: str | None = None
    matricule: str = Field(repr=False)  # N° CAF, carried for the CER grid and MonJob62 (encrypted payload)
    right_state: RightState
    subject_to_duties: bool | None  # None: the file does not say (no MontantCalculDroitRSAPersonne)
    suspension_reasons: tuple[str, ...] = ()
    suspension_date: date | None = None
    closure_reason: str | None = None
    closure_date: date | None = None
    no_fixed_abode: bool | None = None
    role: str | None = None
    #: The key of the household's CAF matricule and the person's rank in it (``domain.identity.caf_person_id``):
    #: what links a person adopted from a caseload without NIR to this NIR (docs/caseload.md). CAF files only.
    caf_key: str | None = Field(default=None, repr=False)


def _digest(*parts: object) -> str:
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def observations_for_household(
    household: Household, header: FluxHeader, *, secret: bytes | str, source: str = "CAF"
) -> list[FlowObservation]:
    """One observation per person with a NIR; the NIR becomes the opaque :func:`person_id` here."""
    flow_date = household.entry_date or header.creation_date
    if flow_date is None:
        raise ValueError("a flow date is needed: the header's DTCREAFLUX or the record's entry date")
    observations = []
    for person in household.persons:
        if person.nir is None:
            continue  # children without NIR: nobody to follow
        pid = person_id(person.nir, secret)
        try:
            caf_key = caf_person_id(household.matricule, person.rank, secret) if source == "CAF" else None
        except ValueError:
            caf_key = None  # a matricule of another shape: nobody was adopted under it
        observation_id = _digest(
            source, flow_date, header.flow_type, pid, household.right_state.value, person.subject_to_duties,
            ",".join(household.suspension_reasons), household.suspension_date, household.closure_reason,
            household.closure_date,
        )
        observations.append(
            FlowObservation(
                observation_id=observation_id,
                person_id=pid,
                source=source,
                flow_date=flow_date,
                flow_type=header.flow_type,
                matricule=household.matricule,
                right_state=household.right_state,
                subject_to_duties=person.subject_to_duties,
                suspension_reasons=household.suspension_reasons,
                suspension_date=household.suspension_date,
                closure_reason=household.closure_reason,
                closure_date=household.closure_date,
                no_fixed_abode=household.no_fixed_abode,
                role=person.role,
                caf_key=caf_key,
            )
        )
    return observations


def starts_pathway(observation: FlowObservation) -> bool:
    """Signal-with-start only for a person subject to rights and duties whose right is requested or open
    (an unknown status starts nothing until a flow says ``1``)."""
    return bool(observation.subject_to_duties) and observation.right_state.is_active


def with_known_status(previous: "PersonFlowState | None", observation: FlowObservation) -> FlowObservation:
    """An observation that does not say whether the person is subject to duties keeps the last known status;
    for a person never seen, it stays unknown (and :func:`derive_events` then derives nothing)."""
    if observation.subject_to_duties is not None or previous is None:
        return observation
    return observation.model_copy(update={"subject_to_duties": previous.subject_to_duties})


# ---------------------------------------------------------------- events


class _FlowEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str  # observation id + kind: the pathway drops an id it has seen
    person_id: str
    flow_date: date


class NewEntrant(_FlowEvent):
    """First observation of the person with a requested or open right (T1; entry date = flow date)."""

    kind: Literal["new_entrant"] = "new_entrant"
    entry_date: date
    subject_to_duties: bool
    right_state: RightState


class BecameSubject(_FlowEvent):
    """Non soumis → soumis aux droits et devoirs (T3): starts the orientation clock."""

    kind: Literal["became_subject"] = "became_subject"


class NoLongerSubject(_FlowEvent):
    """Soumis → non soumis (T2, T24): pause the SLA clocks, keep the referent (G-B8)."""

    kind: Literal["no_longer_subject"] = "no_longer_subject"


class FlowNotSubjectConfirmed(_FlowEvent):
    """Non soumis in ``flows`` consecutive files (G-B8 debounce): now safe to act on it."""

    kind: Literal["not_subject_confirmed"] = "not_subject_confirmed"
    since: date
    flows: int


class FlowPaymentSuspended(_FlowEvent):
    """ETATDOSRSA 3/4, or new MOTISUSVERSRSA reasons while suspended."""

    kind: Literal["payment_suspended"] = "payment_suspended"
    reasons: tuple[str, ...]
    since: date | None
    right_questioned: bool  # ETATDOSRSA 3: the right itself is questioned


class FlowPaymentResumed(_FlowEvent):
    kind: Literal["payment_resumed"] = "payment_resumed"


class FlowLeftRsa(_FlowEvent):
    """Right refused or closed (T22, T23): ``end_of_payment_date`` is DTCLORSA (the flow date for a refusal)."""

    kind: Literal["left_rsa"] = "left_rsa"
    end_of_payment_date: date
    reason: str  # MOTICLORSA code, or "REFUS" for ETATDOSRSA 1
    earlier_month: bool = False  # ETATDOSRSA 6


class RsaReopened(_FlowEvent):
    """A refused or closed right is requested or open again (T25)."""

    kind: Literal["rsa_reopened"] = "rsa_reopened"
    subject_to_duties: bool
    right_state: RightState


AnyFlowEvent = Union[NewEntrant, BecameSubject, NoLongerSubject, FlowNotSubjectConfirmed, FlowPaymentSuspended,
                     FlowPaymentResumed, FlowLeftRsa, RsaReopened]
#: For a field or a signal payload holding any of the events (pydantic picks the model by ``kind``).
FlowEvent = Annotated[AnyFlowEvent, Field(discriminator="kind")]


class PersonFlowState(BaseModel):
    """The last observation applied to a person, kept in the pathway's state (bounded)."""

    model_config = ConfigDict(frozen=True)

    last_flow_date: date
    entry_date: date
    right_state: RightState
    subject_to_duties: bool
    suspension_reasons: tuple[str, ...] = ()
    not_subject_since: date | None = None
    not_subject_flows: int = 0
    recent_observation_ids: tuple[str, ...] = ()


def _event_fields(observation: FlowObservation, kind: str) -> dict:
    return {
        "event_id": f"{observation.observation_id}:{kind}",
        "person_id": observation.person_id,
        "flow_date": observation.flow_date,
    }


def derive_events(
    previous: PersonFlowState | None, observation: FlowObservation, rules: RuleSet
) -> tuple[PersonFlowState | None, list[AnyFlowEvent]]:
    """The events an observation means for a person, given the last observation applied.

    Returns the new state (None while the person has never had a requested or open right) and the events,
    in the order they happened. A late observation (older flow date) or one already applied returns the
    state unchanged and no event.
    """
    obs = with_known_status(previous, observation)
    if obs.subject_to_duties is None:
        return previous, []  # never seen and status unknown: wait for a flow that says it
    state = obs.right_state
    if previous is not None:
        if obs.flow_date < previous.last_flow_date or obs.observation_id in previous.recent_observation_ids:
            return previous, []

    events: list[AnyFlowEvent] = []
    if previous is None:
        if not state.is_active:
            return None, []  # a refused or closed right for someone never seen starts nothing
        events.append(NewEntrant(**_event_fields(obs, "new_entrant"), entry_date=obs.flow_date,
                                 subject_to_duties=obs.subject_to_duties, right_state=state))
        if state.is_suspended:
            events.append(_suspended(obs))
        entry_date = obs.flow_date
        was_subject = obs.subject_to_duties
        not_subject_since, not_subject_flows = (None, 0) if obs.subject_to_duties else (obs.flow_date, 1)
    else:
        entry_date = previous.entry_date
        was_subject = previous.subject_to_duties
        before = previous.right_state
        if before.is_ended and state.is_active:
            events.append(RsaReopened(**_event_fields(obs, "rsa_reopened"), subject_to_duties=obs.subject_to_duties,
                                      right_state=state))
            if state.is_suspended:
                events.append(_suspended(obs))
        elif before.is_active and state.is_ended:
            events.append(_left(obs))
        elif before.is_active and state.is_active:
            if state.is_suspended and (not before.is_suspended or
                                       obs.suspension_reasons != previous.suspension_reasons):
                events.append(_suspended(obs))
            elif before.is_suspended and not state.is_suspended:
                events.append(FlowPaymentResumed(**_event_fields(obs, "payment_resumed")))
        if state.is_active and not (before.is_ended and state.is_active):
            if was_subject and not obs.subject_to_duties:
                events.append(NoLongerSubject(**_event_fields(obs, "no_longer_subject")))
            elif not was_subject and obs.subject_to_duties:
                events.append(BecameSubject(**_event_fields(obs, "became_subject")))
        if obs.subject_to_duties:
            not_subject_since, not_subject_flows = None, 0
        elif previous.not_subject_since is None:
            not_subject_since, not_subject_flows = obs.flow_date, 1
        else:
            not_subject_since, not_subject_flows = previous.not_subject_since, previous.not_subject_flows + 1

    if (state.is_active and not obs.subject_to_duties
            and not_subject_flows == rules.not_subject_confirmation_flows and not_subject_since is not None):
        events.append(FlowNotSubjectConfirmed(**_event_fields(obs, "not_subject_confirmed"), since=not_subject_since,
                                          flows=not_subject_flows))

    kept = rules.flow_seen_ids_kept
    recent = ((previous.recent_observation_ids if previous else ()) + (obs.observation_id,))[-kept:]
    new_state = PersonFlowState(
        last_flow_date=obs.flow_date,
        entry_date=entry_date,
        right_state=state,
        subject_to_duties=obs.subject_to_duties,
        suspension_reasons=obs.suspension_reasons,
        not_subject_since=not_subject_since,
        not_subject_flows=not_subject_flows,
        recent_observation_ids=recent,
    )
    return new_state, events


def _suspended(obs: FlowObservation) -> FlowPaymentSuspended:
    return FlowPaymentSuspended(**_event_fields(obs, "payment_suspended"), reasons=obs.suspension_reasons,
                            since=obs.suspension_date,
                            right_questioned=obs.right_state is RightState.OPEN_RIGHT_SUSPENDED)


def _left(obs: FlowObservation) -> FlowLeftRsa:
    if obs.right_state is RightState.REFUSED:
        return FlowLeftRsa(**_event_fields(obs, "left_rsa"), end_of_payment_date=obs.closure_date or obs.flow_date,
                       reason="REFUS")
    assert obs.closure_date is not None  # validation requires DTCLORSA for ETATDOSRSA 5 and 6
    return FlowLeftRsa(**_event_fields(obs, "left_rsa"), end_of_payment_date=obs.closure_date,
                   reason=obs.closure_reason or "INCONNU",
                   earlier_month=obs.right_state is RightState.CLOSED_EARLIER_MONTH)
