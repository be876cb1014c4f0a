"""Rules of the Label référent RSA procedure and lifecycle (domain.md §4.5–4.7, defaults of §7.3).

Every date the application and label workflows wait for is computed here, once, from dates the workflow
stores: instruction alerts and breach, moratorium end, appeal windows (party deadlines, extended past
weekends and public holidays), the answer to a recours gracieux (the administration's own 2 months, not
extended), the 5-year validity, the renewal window and the W2/W3 periods.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from enum import Enum

from domain.deadlines import add_months, party_deadline
from domain.rules import RuleSet

LABEL_CODE = "LABEL_REFERENT_RSA"  # G-L21

_STRUCTURE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class LabelStage(str, Enum):
    """States of §4.5; the value is the ``LabelStage`` search attribute."""

    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    DPID_ADMIN_EVALUATION = "DPID_ADMIN_EVALUATION"
    SLAI_CONSOLIDATION = "SLAI_CONSOLIDATION"
    JOINT_REVIEW_BELOW_80 = "JOINT_REVIEW_BELOW_80"
    MORATORIUM = "MORATORIUM"
    REAPPLICATION_EVALUATION = "REAPPLICATION_EVALUATION"
    REFUSED_FINAL = "REFUSED_FINAL"
    APPEAL_GRACIEUX = "APPEAL_GRACIEUX"
    APPEAL_CONTENTIEUX = "APPEAL_CONTENTIEUX"
    GRANTED = "GRANTED"
    LABELLED = "LABELLED"
    RENEWAL_INSTRUCTION = "RENEWAL_INSTRUCTION"
    WITHDRAWAL_PROCEDURE = "WITHDRAWAL_PROCEDURE"  # W2 contradictory phase (G-L18)
    QUALITY_REMEDIATION = "QUALITY_REMEDIATION"
    WITHDRAWN = "WITHDRAWN"
    LAPSED = "LAPSED"
    EXPIRED = "EXPIRED"


def validate_structure_id(structure_id: str) -> str:
    """Opaque structure ids only (they go into workflow ids and search attributes)."""
    if not _STRUCTURE_ID.match(structure_id):
        raise ValueError("structure id must be 1–64 letters, digits, '.', '_' or '-'")
    return structure_id


def application_workflow_id(structure_id: str, application_no: int) -> str:
    """``label-<structure id>-<n>``: one workflow per application of a structure."""
    if application_no < 1:
        raise ValueError("application numbers start at 1")
    return f"label-{validate_structure_id(structure_id)}-{application_no}"


def label_workflow_id(structure_id: str) -> str:
    """The lifecycle of a granted label; one at a time per structure, so funding checks find it by id."""
    return f"labelled-{validate_structure_id(structure_id)}"


def day_start(day: date) -> date:
    """The last day *before* ``day``: waiting for ``deadline_instant(day_start(d))`` wakes at midnight of d."""
    return day - timedelta(days=1)


# --- instruction -------------------------------------------------------------------------------------


def instruction_due(filed_on: date, rules: RuleSet) -> date:
    """Last day of the 6-month instruction, counted from filing on epartenaires (G-L11)."""
    return add_months(filed_on, rules.label_instruction_months)


def instruction_alert_days(filed_on: date, rules: RuleSet) -> list[tuple[int, date]]:
    """(months, day) of each escalation: the DPID is alerted on the day 4 and 5 months have elapsed."""
    return [(m, add_months(filed_on, m)) for m in rules.label_instruction_alert_months]


def campaign_year(filed_on: date) -> int:
    return filed_on.year


# --- moratorium --------------------------------------------------------------------------------------


def earliest_reapplication(notified_on: date, campaign: int, rules: RuleSet) -> date:
    """First day a structure under moratorium may reapply (G-L10).

    Notification + 6 months; for decisions of the first (2025) campaign, not before 1 January 2026.
    """
    end = add_months(notified_on, rules.moratorium_months)
    if campaign == rules.first_campaign_year:
        end = max(end, rules.first_campaign_reapplication_floor)
    return end


def moratorium_closes_on(earliest: date, rules: RuleSet) -> date:
    """Last day to reapply before the case closes as a final refusal (G-L9)."""
    return add_months(earliest, rules.moratorium_grace_months)


# --- appeals -----------------------------------------------------------------------------------------


def appeal_deadline(notified_on: date, rules: RuleSet) -> date:
    """Last day for a recours (gracieux or contentieux): 2 months, a party deadline (CPC 641–642)."""
    return party_deadline(notified_on, months=rules.appeal_months)


def gracieux_answer_due(filed_on: date, rules: RuleSet) -> date:
    """Last day of the Département's 2 months to answer; silence then is an implicit rejection (G-L19)."""
    return add_months(filed_on, rules.appeal_answer_months)


def receipt_reminder_day(sent_on: date, rules: RuleSet) -> date:
    """The day the DPID is reminded of a registered letter still without its acknowledgement of receipt."""
    return sent_on + timedelta(days=rules.letter_ar_reminder_days)


def letter_reminder(decided_on: date, sent_on: date | None, posting_clock: bool,
                    rules: RuleSet) -> tuple[date, str] | None:
    """(day, task kind) of the next reminder on a letter without its receipt (L9): posted but not received,
    or (letters written with the posting clock) not even recorded as posted. None: nothing to wait for."""
    if sent_on is not None:
        return receipt_reminder_day(sent_on, rules), "label_letter_receipt_missing"
    if posting_clock:
        return receipt_reminder_day(decided_on, rules), "label_letter_not_posted"
    return None


def late_filing_message(what: str, filed_on: date, deadline: date) -> str:
    return f"{what} filed on {filed_on.isoformat()} is late: the deadline was {deadline.isoformat()}"


# --- the granted label -------------------------------------------------------------------------------


def label_expires_on(decided_on: date, rules: RuleSet) -> date:
    """First day the label is no longer valid: 5 years after the decision (G-L15)."""
    return add_months(decided_on, 12 * rules.label_validity_years)


def renewal_window(expires_on: date, rules: RuleSet) -> tuple[date, date]:
    """January–July of the last year of labelling (the year of the last valid day), capped at that day."""
    last_valid = expires_on - timedelta(days=1)
    first = date(last_valid.year, rules.renewal_window_first_month, 1)
    last = add_months(first, rules.renewal_window_last_month - rules.renewal_window_first_month + 1) - timedelta(days=1)
    return first, min(last, last_valid)


def renewal_reminders(expires_on: date, rules: RuleSet) -> list[date]:
    """December of year 4 and May of year 5 (L16 design default), before the window's end."""
    first, last = renewal_window(expires_on, rules)
    return [d for d in (date(first.year - 1, 12, 1), date(first.year, 5, 1)) if d <= last]


def annual_reviews(decided_on: date, expires_on: date) -> list[date]:
    """Anniversaries of the decision before expiry: the yearly charte qualité + training review (G-L17)."""
    reviews: list[date] = []
    year = 1
    while (anniversary := add_months(decided_on, 12 * year)) < expires_on:
        reviews.append(anniversary)
        year += 1
    return reviews


def observation_deadline(notified_on: date, rules: RuleSet) -> date:
    """W2 contradictory phase: the structure's 1 month to submit observations (party deadline, G-L18)."""
    return party_deadline(notified_on, months=rules.withdrawal_observation_months)


def remediation_ends_on(started_on: date, rules: RuleSet) -> date:
    """W3: 6 months of SLAI support before the new study [001:356]."""
    return add_months(started_on, rules.quality_remediation_months)


def ceremony_year(decided_on: date) -> int:
    """The label is officially delivered at the territory's ceremony of the decision's year (L20)."""
    return decided_on.year
