"""The contract of the ``BeneficiaryPathway`` workflow, declared once: its type, the names of its signals, updates
and queries, and of its activities. Every name is recorded in histories and sent by other systems: never rename one.

Used by the workflow (handlers and activity calls), its activities, the HTTP API, the flow and caseload imports, the
France Travail and campaign activities and the tests; plain strings, so any layer may import them.
"""

from __future__ import annotations

from typing import Final

from domain.label_events import STRUCTURE_LABEL_LOST_SIGNAL

WORKFLOW_TYPE: Final = "BeneficiaryPathway"


class Signal:
    """Facts from other systems (a flow, MonJob62, France Travail, the label, a campaign)."""

    FLOW_RECORD: Final = "flow_record"
    APPOINTMENT: Final = "appointment"
    DIAGNOSTIC_COMPLETED: Final = "diagnostic_completed"
    NON_COMPLIANCE: Final = "non_compliance"
    EP_DECISION: Final = "ep_decision"
    LEFT_RSA: Final = "left_rsa"
    PAYMENT_SUSPENDED: Final = "payment_suspended"
    PAYMENT_RESUMED: Final = "payment_resumed"
    NOT_SUBJECT_CONFIRMED: Final = "not_subject_confirmed"
    HOUSEHOLD_MEMBER: Final = "household_member"
    LOST_FROM_VIEW_CONVOCATION: Final = "lost_from_view_convocation"
    STRUCTURE_LABEL_LOST: Final = STRUCTURE_LABEL_LOST_SIGNAL
    FRANCE_TRAVAIL_REGISTERED: Final = "france_travail_registered"


class Update:
    """People's commands: each answered with the case's stage, or refused by its validator."""

    ORIENT: Final = "orient"
    SUBMIT_PRECONISATION: Final = "submit_preconisation"
    DECIDE_PRECONISATION: Final = "decide_preconisation"
    SIGN_CER: Final = "sign_cer"
    AMEND_CER: Final = "amend_cer"
    COMPLETE_BILAN: Final = "complete_bilan"
    REQUEST_REORIENTATION: Final = "request_reorientation"
    DECIDE_REORIENTATION: Final = "decide_reorientation"
    REQUEST_PERSONAL_REVIEW: Final = "request_personal_review"
    DECIDE_PERSONAL_REVIEW: Final = "decide_personal_review"
    CONFIRM_EP_REFERRAL: Final = "confirm_ep_referral"
    CHOOSE_AFTER_EXIT: Final = "choose_after_exit"
    CAF_SAISINE: Final = "caf_saisine"
    DECIDE_CAF_SAISINE: Final = "decide_caf_saisine"
    CAF_FIRST_INTERVIEW: Final = "caf_first_interview"
    SIGN_CONTRAT_ENGAGEMENT: Final = "sign_contrat_engagement"
    DECIDE_SANCTION_2025: Final = "decide_sanction_2025"
    REMOBILISED: Final = "remobilised"
    SWITCH_RULE_SET: Final = "switch_rule_set"
    REASSIGN_TERRITORY: Final = "reassign_territory"
    RECORD_APPOINTMENT: Final = "record_appointment"
    RECORD_DIAGNOSTIC: Final = "record_diagnostic"
    REPORT_NON_COMPLIANCE: Final = "report_non_compliance"
    DECIDE_EP: Final = "decide_ep"
    RECORD_CONVOCATION: Final = "record_convocation"


class Query:
    VIEW: Final = "view"
    STAGE: Final = "stage"


#: Activity types of the pathway: ``<feature>.<verb>``, the convention of every feature's activities.
RECORD_EFFECTS: Final = "pathway.record_effects"
PUSH_MONJOB62: Final = "pathway.push_monjob62"


#: Error type of a MonJob62 refusal (4xx): raised by the HTTP adapter (``activities.monjob``) and by the
#: in-process fake; non-retryable in the pathway's push options.
MONJOB62_REFUSED: Final = "MonJob62Refused"
