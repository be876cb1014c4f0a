"""Record the workflow histories that ``tests/test_replay_histories.py`` replays in CI.

One scenario per recorded situation of each workflow type, run through the production registry
(``workers.runtime.registry.WORKFLOWS`` and ``build_activities``) with the real durations: label and pathway
scenarios on a time-skipping server of their own, flow imports on a dev server (their activities signal
pathways and heartbeat in real time). Payloads are encrypted with the TEST-ONLY key of
``tests/histories/test-keys``, so replaying them exercises the production data converter.

Usage (from the repository root; starts its own PostgreSQL and Temporal servers)::

    .venv/bin/python -m tests.record_histories                      # every scenario
    .venv/bin/python -m tests.record_histories --only Label-renewed # one (repeatable)
    .venv/bin/python -m tests.record_histories --list

Files are ``tests/histories/<WorkflowType>-<scenario>[-runN].json``. Re-record only after a change that is
*meant* to change histories (a new scenario, or a patched change whose old histories you keep as well):
the point of the committed files is that they were written by the code that is running in production.
See docs/replay.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pathway_harness / conftest, as under pytest

import asyncpg  # noqa: E402
from temporalio.api.common.v1 import WorkflowExecution  # noqa: E402
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest  # noqa: E402
from temporalio.client import Client, WorkflowHandle, WorkflowHistory  # noqa: E402
from temporalio.converter import DataConverter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from activities.flux_generator import generate_flux  # noqa: E402
from activities.pathway import InMemoryMonJob62  # noqa: E402
from workers.dev.embedded import register_search_attributes  # noqa: E402
from domain import label as L  # noqa: E402
from domain.deadlines import add_months, deadline_instant, paris_date  # noqa: E402
from domain.flux_import import DropScanInput  # noqa: E402
from domain.label_appeal import EvidenceReference  # noqa: E402
from domain.label_messages import (  # noqa: E402
    AdminEvaluation,
    AppealFiled,
    ApplicationSubmitted,
    CommitmentBreach,
    Decision,
    EvaluationSubmitted,
    GracieuxAnswer,
    JointReview,
    LabelInput,
    LetterSent,
    ReceiptAcknowledged,
    RenewalDecision,
    RenewalRequest,
    SlaiOpinion,
    WithdrawalDecision,
)
from domain.actor import Actor  # noqa: E402
from domain.pathway import (  # noqa: E402
    AppointmentEvent,
    AppointmentKind,
    BilanDecision,
    CerAction,
    CerType,
    CompleteBilan,
    DiagnosticCompleted,
    EpDecision,
    EpOutcome,
    EpReferralConfirmation,
    HouseholdChange,
    HouseholdMemberChanged,
    LeftRsa,
    NonComplianceKind,
    NonComplianceReport,
    OrientationDecision,
    OrientationTarget,
    PreconisationSubmitted,
    SignCer,
    SlaiPreconisationDecision,
    Stage,
)
from domain.caf_report import CafReportRequest  # noqa: E402
from domain.plein_emploi import (  # noqa: E402
    DecideSanction2025,
    FailureKind,
    FranceTravailRegistered,
    Remobilised,
    SignContratEngagement,
    SwitchRuleSet,
)
from domain.campaign import CampaignInput  # noqa: E402
from domain.france_travail import SyncInput  # noqa: E402
from domain.rules import RULESET_2023  # noqa: E402
from pathway_harness import Harness, contract  # noqa: E402
from workers.runtime.converter import data_converter  # noqa: E402
from workers.dev.embedded import binary, free_port, start_postgres  # noqa: E402
from workers.runtime.keys import Keyring  # noqa: E402
from workers.runtime.migrations import migrate  # noqa: E402
from workers.runtime.registry import WORKFLOWS, Dependencies, build_activities  # noqa: E402
from workers.runtime.sandbox import workflow_runner  # noqa: E402
from workflows.caf_report import CafAnnualReport  # noqa: E402
from workflows.campaign import LostFromViewCampaign  # noqa: E402
from workflows.flux_drop import FluxDropScan  # noqa: E402
from workflows.france_travail_sync import FranceTravailSync  # noqa: E402
from workflows.flux_import import start_flux_import  # noqa: E402
from workflows.label import LabelState, LabelWorkflow  # noqa: E402
from workflows.label_application import LabelApplicationState, LabelApplicationWorkflow  # noqa: E402
from workflows.label_yearly_list import LabelYearlyList  # noqa: E402
from domain.label_yearly_list import YearlyListInput  # noqa: E402
from domain.pathway_contract import WORKFLOW_TYPE as PATHWAY_TYPE  # noqa: E402
from workflows.pathway import BeneficiaryPathway  # noqa: E402
from workflows.search_attributes import ALL_SEARCH_ATTRIBUTES  # noqa: E402

HISTORIES = Path(__file__).resolve().parent / "histories"
KEYS_FILE = HISTORIES / "test-keys"


def history_keyring() -> Keyring:
    """The public, test-only keyring the committed histories are encrypted with."""
    return Keyring.parse(KEYS_FILE.read_text(encoding="utf-8"))


def history_converter() -> DataConverter:
    """The production converter (pydantic + AES-GCM codec + encoded failure attributes) with the test key."""
    return data_converter(history_keyring())


def history_json(history: WorkflowHistory) -> str:
    """The file content: the CLI / Web UI export format, indented so diffs stay readable."""
    return json.dumps(json.loads(history.to_json()), indent=1) + "\n"


def workflow_type_of(history: WorkflowHistory) -> str:
    return history.events[0].workflow_execution_started_event_attributes.workflow_type.name


@dataclass
class Stack:
    """What a scenario runs on: a fresh time-skipping server factory, a dev-server client, a database."""

    pool: asyncpg.Pool
    dev_client: Client
    workdir: Path

    @asynccontextmanager
    async def time_skipping(self) -> AsyncIterator[WorkflowEnvironment]:
        """A time-skipping server per scenario: years skipped by one scenario never touch another's workflows."""
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=binary("temporal-test-server"), data_converter=history_converter())
        try:
            await register_search_attributes(env.client)
            yield env
        finally:
            await env.shutdown()

    def worker(self, client: Client, task_queue: str) -> Worker:
        """The production registry (MonJob62 pushes on the in-process fake, as when MONJOB62_URL is unset)."""
        return Worker(client, task_queue=task_queue, workflows=WORKFLOWS,
                      activities=build_activities(Dependencies(pool=self.pool)), workflow_runner=workflow_runner())


Recorded = dict[str, WorkflowHistory]
Scenario = Callable[[Stack], Awaitable[Recorded]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str) -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        SCENARIOS[name] = fn
        return fn
    return register


def _ev() -> str:
    return uuid.uuid4().hex


async def _runs(client: Client, workflow_id: str, first_run_id: str) -> list[WorkflowHistory]:
    """Every run of a workflow from ``first_run_id``, following continue-as-new."""
    histories, run_id = [], first_run_id
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        run_id = (last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                  if last.HasField("workflow_execution_continued_as_new_event_attributes") else "")
    return histories


async def _settled(client: Client, workflow_id: str) -> None:
    """Wait until no workflow task nor activity is in flight, so an open history ends on a quiet point."""
    request = DescribeWorkflowExecutionRequest(namespace=client.namespace,
                                               execution=WorkflowExecution(workflow_id=workflow_id))
    quiet = 0
    for _ in range(500):  # raw call: the test server's datetime search attributes trip ``describe()``
        raw = await client.workflow_service.describe_workflow_execution(request)
        busy = raw.pending_activities or raw.HasField("pending_workflow_task") or raw.pending_children
        quiet = 0 if busy else quiet + 1
        if quiet >= 3:
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{workflow_id} never settled")


# ---------------------------------------------------------------- BeneficiaryPathway


@scenario("BeneficiaryPathway-cer-cycle")
async def pathway_cer_cycle(stack: Stack) -> Recorded:
    """Late orientation (breach + escalation), direct referent, appointment, 3-month CER pushed to MonJob62,
    bilan → continue-as-new into the next cycle. The designation of the referent and the bilan each start a new run
    (run 3 recorded open, waiting for its deadlines)."""
    async with stack.time_skipping() as env:
        task_queue = f"rec-{_ev()[:8]}"
        async with stack.worker(env.client, task_queue):
            h = Harness(env, task_queue, InMemoryMonJob62(), stack.pool)
            d0 = await h.morning()
            handle = await h.start()
            first_run = handle.result_run_id
            await h.sleep_until(d0 + timedelta(days=35))
            await h.view(lambda v: len(v.breaches) == 1)
            today = await h.today()
            await h.update(BeneficiaryPathway.orient, OrientationDecision(
                event_id="orient", target=OrientationTarget.REFERENT_SOCIOPRO, structure_id="SOCIO-7",
                notified_on=today, bypass_reason="suivi déjà engagé"))
            await h.view(lambda v: v.run == 2)  # the designation's continue-as-new is done
            await h.handle.signal(BeneficiaryPathway.appointment, AppointmentEvent(
                event_id="rdv-1", kind=AppointmentKind.SCHEDULED, appointment_date=today + timedelta(days=3)))
            actions = [CerAction(start=today, end=today + timedelta(days=60), professional_insertion=i == 0)
                       for i in range(3)]
            await h.update(BeneficiaryPathway.sign_contrat_engagement, contract(SignCer(
                event_id="sign-1", cer_id="cer-1", type=CerType.SOCIOPROFESSIONNEL, start=today,
                end=add_months(today, 3), signed_on=today, actions=actions)))
            end = add_months(today, 3)
            await h.sleep_until(end + timedelta(days=1))
            await h.view(lambda v: v.stage is Stage.BILAN)
            await h.update(BeneficiaryPathway.complete_bilan, CompleteBilan(
                event_id="bilan-1", completed_on=end + timedelta(days=1), decision=BilanDecision.CONTINUE))
            await h.view(lambda v: v.run == 3 and v.stage is Stage.CER_DRAFTING)
            await _settled(env.client, handle.id)
            runs = await _runs(env.client, handle.id, first_run)
    return {f"BeneficiaryPathway-cer-cycle-run{n}": history for n, history in enumerate(runs, start=1)}


@scenario("BeneficiaryPathway-memory-cer-cycle")
async def pathway_memory_cer_cycle(stack: Stack) -> Recorded:
    """The CER cycle again, recorded with the start patches asked as one marker (branch memory, issue 20)."""
    runs = await pathway_cer_cycle(stack)
    return {name.replace("BeneficiaryPathway-", "BeneficiaryPathway-memory-"): history for name, history in runs.items()}


@scenario("BeneficiaryPathway-rules-late-facts")
async def pathway_rules_late_facts(stack: Stack) -> Recorded:
    """Issue 14 rules: orientation breach withdrawn by a late-recorded notification dated day 28; direct referent;
    a CER paused 28 days « non soumis » whose end does not move; a spouse's entry; an EP reduction; the bilan
    the day after the CER's end (runs: orientation, then the CER cycle recorded open at the bilan)."""
    async with stack.time_skipping() as env:
        task_queue = f"rec-{_ev()[:8]}"
        async with stack.worker(env.client, task_queue):
            h = Harness(env, task_queue, InMemoryMonJob62(), stack.pool)
            d0 = await h.morning()
            handle = await h.start()
            first_run = handle.result_run_id
            await h.sleep_until(d0 + timedelta(days=32))
            await h.view(lambda v: len(v.breaches) == 1)
            await h.update(BeneficiaryPathway.orient, OrientationDecision(
                event_id="orient", target=OrientationTarget.REFERENT_SOCIOPRO, structure_id="SOCIO-7",
                notified_on=d0 + timedelta(days=28), bypass_reason="suivi déjà engagé"))
            await h.view(lambda v: v.run == 2)
            today = await h.today()
            actions = [CerAction(start=today, end=today + timedelta(days=60), professional_insertion=i == 0)
                       for i in range(3)]
            await h.update(BeneficiaryPathway.sign_contrat_engagement, contract(SignCer(
                event_id="sign-1", cer_id="cer-1", type=CerType.SOCIOPROFESSIONNEL, start=today,
                end=add_months(today, 6), signed_on=today, actions=actions)))
            end = add_months(today, 6)
            await h.sleep_until(today + timedelta(days=40))
            await h.flow("flow-off", subject=False)
            await h.view(lambda v: v.stage is Stage.NOT_SUBJECT)
            await h.sleep_until(today + timedelta(days=68))
            await h.flow("flow-on", subject=True)
            await h.view(lambda v: v.stage is Stage.CER_ACTIVE)
            await h.handle.signal(BeneficiaryPathway.household_member, HouseholdMemberChanged(
                event_id="hh-1", member_pathway_id=f"pathway-{'b' * 32}", change=HouseholdChange.ENTERED,
                on=await h.today(), role="CJT"))
            await h.handle.signal(BeneficiaryPathway.non_compliance, NonComplianceReport(
                event_id="nc-1", kind=NonComplianceKind.NON_ADHESION, reported_on=await h.today()))
            await h.update(BeneficiaryPathway.confirm_ep_referral, EpReferralConfirmation(
                event_id="ep-confirm", confirmed=True, decided_on=await h.today()))
            await h.handle.signal(BeneficiaryPathway.ep_decision, EpDecision(
                event_id="ep-1", outcome=EpOutcome.REDUCTION, decided_on=await h.today(), share_percent=30, months=2))
            await h.view(lambda v: v.sanctions and v.stage is Stage.CER_ACTIVE)
            await h.sleep_until(end + timedelta(days=1))
            await h.view(lambda v: v.stage is Stage.BILAN)
            await _settled(env.client, handle.id)
            runs = await _runs(env.client, handle.id, first_run)
    return {f"BeneficiaryPathway-rules-late-facts-run{n}": history for n, history in enumerate(runs, start=1)}


def _contrat(day: date, cer_id: str, hours: int = 15) -> SignContratEngagement:
    actions = [CerAction(start=day, end=day + timedelta(days=60), professional_insertion=i == 0) for i in range(3)]
    return SignContratEngagement(event_id=f"sign-{cer_id}", cer_id=cer_id, type=CerType.SOCIOPROFESSIONNEL,
                                 start=day, end=add_months(day, 6), signed_on=day, actions=actions, weekly_hours=hours)


@scenario("BeneficiaryPathway-rules2025-contrat-engagement")
async def pathway_rules2025(stack: Stack) -> Recorded:
    """Issue 18, a 2025 case: France Travail registration missing after 30 days (task), then received; direct
    referent; contrat d'engagement of 15 hours; EP referral; suspension-remobilisation (first failure, 50 %,
    2 months) then remobilised with repayment (runs: orientation, then the contract recorded open)."""
    async with stack.time_skipping() as env:
        task_queue = f"rec-{_ev()[:8]}"
        async with stack.worker(env.client, task_queue):
            h = Harness(env, task_queue, InMemoryMonJob62(), stack.pool)
            d0 = await h.morning()
            handle = await h.start()
            first_run = handle.result_run_id
            await h.sleep_until(d0 + timedelta(days=31))
            today = await h.today()
            await h.handle.signal(BeneficiaryPathway.france_travail_registered,
                                  FranceTravailRegistered(event_id="ft-1", registered_on=today))
            await h.view(lambda v: v.plein_emploi.france_travail_registered_on is not None)
            await h.update(BeneficiaryPathway.orient, OrientationDecision(
                event_id="orient", target=OrientationTarget.REFERENT_SOCIOPRO, structure_id="SOCIO-7",
                notified_on=today, bypass_reason="suivi déjà engagé"))
            await h.view(lambda v: v.run == 2)
            await h.update(BeneficiaryPathway.sign_contrat_engagement, _contrat(today, "ce-1"))
            await h.sleep_until(today + timedelta(days=20))
            day = await h.today()
            await h.handle.signal(BeneficiaryPathway.non_compliance, NonComplianceReport(
                event_id="nc-1", kind=NonComplianceKind.NON_ADHESION, reported_on=day))
            await h.update(BeneficiaryPathway.confirm_ep_referral, EpReferralConfirmation(
                event_id="ep-confirm", confirmed=True, decided_on=day))
            await h.update(BeneficiaryPathway.decide_sanction_2025, DecideSanction2025(
                event_id="sanction-1", decided_on=day, failure=FailureKind.FIRST, share_percent=50, months=2))
            view = await h.view(lambda v: v.plein_emploi.sanctions)
            await h.sleep_until(day + timedelta(days=15))
            await h.update(BeneficiaryPathway.remobilised, Remobilised(
                event_id="remob-1", sanction_id=view.plein_emploi.sanctions[0].sanction_id, decided_on=await h.today(),
                repayment=True))
            await h.view(lambda v: v.plein_emploi.sanctions[0].repayment is True)
            await _settled(env.client, handle.id)
            runs = await _runs(env.client, handle.id, first_run)
    return {f"BeneficiaryPathway-rules2025-contrat-engagement-run{n}": history for n, history in enumerate(runs, start=1)}


@scenario("BeneficiaryPathway-rules2025-switch-at-bilan")
async def pathway_rules2025_switch(stack: Stack) -> Recorded:
    """Issue 18, a 2023 case (entered December 2024) whose referent moves it to the 2025 rules at its bilan, then
    signs a contrat d'engagement (runs: orientation, the CER cycle to the bilan, the next cycle recorded open)."""
    async with stack.time_skipping() as env:
        task_queue = f"rec-{_ev()[:8]}"
        async with stack.worker(env.client, task_queue):
            h = Harness(env, task_queue, InMemoryMonJob62(), stack.pool)
            d0 = await h.morning()
            handle = await h.start(transmission_date=date(2024, 12, 2))
            first_run = handle.result_run_id
            await h.update(BeneficiaryPathway.orient, OrientationDecision(
                event_id="orient", target=OrientationTarget.REFERENT_SOCIOPRO, structure_id="SOCIO-7",
                notified_on=d0, bypass_reason="suivi déjà engagé"))
            await h.view(lambda v: v.run == 2)
            actions = [CerAction(start=d0, end=d0 + timedelta(days=60), professional_insertion=i == 0)
                       for i in range(3)]
            await h.update(BeneficiaryPathway.sign_cer, SignCer(
                event_id="sign-1", cer_id="cer-1", type=CerType.SOCIOPROFESSIONNEL, start=d0,
                end=add_months(d0, 3), signed_on=d0, actions=actions))
            end = add_months(d0, 3)
            await h.sleep_until(end + timedelta(days=1))
            await h.view(lambda v: v.stage is Stage.BILAN)
            day = await h.today()
            await h.update(BeneficiaryPathway.switch_rule_set, SwitchRuleSet(
                event_id="switch-1", switched_on=day, to_version="2025.1"))
            await h.update(BeneficiaryPathway.complete_bilan, CompleteBilan(
                event_id="bilan-1", completed_on=day, decision=BilanDecision.CONTINUE))
            await h.view(lambda v: v.run == 3 and v.stage is Stage.CER_DRAFTING)
            await h.update(BeneficiaryPathway.sign_contrat_engagement, _contrat(day, "ce-2"))
            await h.view(lambda v: v.stage is Stage.CER_ACTIVE)
            await _settled(env.client, handle.id)
            runs = await _runs(env.client, handle.id, first_run)
    return {f"BeneficiaryPathway-rules2025-switch-at-bilan-run{n}": history for n, history in enumerate(runs, start=1)}


@scenario("LostFromViewCampaign-rules-monthly")
async def lost_from_view_campaign(stack: Stack) -> Recorded:
    """A campaign selecting one pathway « sans accompagnement » for 3 months whose workflow is gone (NOT_FOUND)."""
    territory = f"REC-{_ev()[:8]}"
    pathway_id = f"pathway-{_ev()}"
    async with stack.time_skipping() as env:
        today = paris_date(await env.get_current_time())
        async with stack.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO pathways (pathway_id, person_id, territory, rule_set, stage, subject_to_duties, version)
                   VALUES ($1, $2, $3, '2023.1', 'AWAITING_ORIENTATION', true, 1)""",
                pathway_id, pathway_id.removeprefix("pathway-"), territory)
            await conn.execute(
                """INSERT INTO stage_changes (pathway_id, seq, from_stage, to_stage, changed_on, cause)
                   VALUES ($1, 1, 'DETECTED', 'AWAITING_ORIENTATION', $2, 'FLOW_SUBJECT')""",
                pathway_id, add_months(today, -3))
        task_queue = f"rec-{_ev()[:8]}"
        async with stack.worker(env.client, task_queue):
            handle = await env.client.start_workflow(LostFromViewCampaign.run, CampaignInput(territory=territory),
                                                     id=f"lost-from-view-campaign-{_ev()[:8]}", task_queue=task_queue)
            report = await handle.result()
            assert (report.selected, report.not_found) == (1, 1)
            history = await handle.fetch_history()
    return {"LostFromViewCampaign-rules-monthly": history}


@scenario("FranceTravailSync-ftadapter-daily")
async def france_travail_sync(stack: Stack) -> Recorded:
    """A daily France Travail check: one 2025 pathway awaiting its registration, registered, whose workflow is gone."""
    from activities.france_travail import FranceTravailActivities, InMemoryFranceTravail

    territory = f"REC-{_ev()[:8]}"
    pathway_id = f"pathway-{_ev()}"
    person_id = pathway_id.removeprefix("pathway-")
    async with stack.time_skipping() as env:
        today = paris_date(await env.get_current_time())
        async with stack.pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO pathways (pathway_id, person_id, territory, rule_set, stage, subject_to_duties, version)
                   VALUES ($1, $2, $3, '2025.1', 'AWAITING_ORIENTATION', true, 1)""",
                pathway_id, person_id, territory)
            await conn.execute(
                """INSERT INTO deadlines (pathway_id, deadline_id, kind, started_on, due_on, status, responsible, version)
                   VALUES ($1, 'france_travail_registration-1', 'FRANCE_TRAVAIL_REGISTRATION', $2, $3, 'PENDING',
                           'SLAI', 1)""",
                pathway_id, today - timedelta(days=10), today + timedelta(days=20))
        fake = InMemoryFranceTravail({person_id: today - timedelta(days=5)})
        task_queue = f"rec-{_ev()[:8]}"
        async with Worker(env.client, task_queue=task_queue, workflows=WORKFLOWS,
                          activities=FranceTravailActivities(stack.pool, fake).all(),
                          workflow_runner=workflow_runner()):
            handle = await env.client.start_workflow(FranceTravailSync.run, SyncInput(territory=territory),
                                                     id=f"france-travail-sync-{_ev()[:8]}", task_queue=task_queue)
            report = await handle.result()
            assert (report.awaiting, report.not_found) == (1, [pathway_id])
            history = await handle.fetch_history()
    return {"FranceTravailSync-ftadapter-daily": history}


@scenario("CafAnnualReport-rules-yearly")
async def caf_annual_report(stack: Stack) -> Recorded:
    """The CAF's annual report built for a past year and stored (as the 31 January schedule does)."""
    async with stack.time_skipping() as env:
        task_queue = f"rec-{_ev()[:8]}"
        async with stack.worker(env.client, task_queue):
            handle = await env.client.start_workflow(CafAnnualReport.run, CafReportRequest(year=2030),
                                                     id=f"caf-annual-report-{_ev()[:8]}", task_queue=task_queue)
            await handle.result()
            history = await handle.fetch_history()
    return {"CafAnnualReport-rules-yearly": history}


@scenario("BeneficiaryPathway-api-platform-actors")
async def pathway_api_platform_actors(stack: Stack) -> Recorded:
    """Branch api: the platform route by people's updates with their actor (orientation, appointments and
    diagnostic as updates, first CER, préconisation, SLAI validation), then non-compliance, EP referral and EP
    decision on the referent's run; each applied command logged (patch pathway-decision-log-with-actor)."""
    agent = Actor(service="referent-tool", person="agent:rec-0001")
    async with stack.time_skipping() as env:
        task_queue = f"rec-{_ev()[:8]}"
        async with stack.worker(env.client, task_queue):
            h = Harness(env, task_queue, InMemoryMonJob62(), stack.pool)
            await h.morning()
            handle = await h.start()
            first_run = handle.result_run_id
            today = await h.today()
            P = BeneficiaryPathway
            await h.update(P.orient, OrientationDecision(event_id="orient", actor=agent, notified_on=today,
                                                         target=OrientationTarget.PLATFORM, structure_id="PLAT-1"))
            for kind in (AppointmentKind.SCHEDULED, AppointmentKind.HELD):
                await h.update(P.record_appointment, AppointmentEvent(event_id=f"rdv-{kind.value}", actor=agent,
                                                                      kind=kind, appointment_date=today))
            await h.update(P.record_diagnostic, DiagnosticCompleted(event_id="diag", actor=agent, completed_on=today))
            await h.update(P.sign_contrat_engagement, contract(SignCer(
                event_id="cer-p", actor=agent, cer_id="cer-p", type=CerType.SOLIDARITE, start=today,
                end=add_months(today, 2), signed_on=today, actions=[CerAction(start=today, end=add_months(today, 2))])))
            await h.update(P.submit_preconisation, PreconisationSubmitted(
                event_id="preco", actor=agent, target=OrientationTarget.REFERENT_SOLIDARITE, structure_id="CCAS-1",
                submitted_on=today))
            await h.update(P.decide_preconisation, SlaiPreconisationDecision(event_id="slai", actor=agent,
                                                                             decided_on=today))
            await h.view(lambda v: v.run == 2)  # the designation's continue-as-new is done
            await h.update(P.report_non_compliance, NonComplianceReport(
                event_id="nc", actor=agent, kind=NonComplianceKind.NON_ADHESION, reported_on=today))
            await h.update(P.confirm_ep_referral, EpReferralConfirmation(event_id="ep-ok", actor=agent, confirmed=True,
                                                                         decided_on=today))
            await h.update(P.decide_ep, EpDecision(event_id="ep", actor=agent, outcome=EpOutcome.MAINTAIN,
                                                   decided_on=today))
            await h.view(lambda v: v.stage is Stage.REFERENT_DESIGNATED and v.decisions[-1].command == "decide_ep")
            await _settled(env.client, handle.id)
            runs = await _runs(env.client, handle.id, first_run)
    return {f"BeneficiaryPathway-api-platform-actors-run{n}": history for n, history in enumerate(runs, start=1)}


@scenario("BeneficiaryPathway-inbox-tasks-and-anomalies")
async def pathway_tasks_and_anomalies(stack: Stack) -> Recorded:
    """Tasks that close themselves and refused events kept as anomalies (branch inbox): the D+21 reminder closed
    by the orientation, the D+10 reminder closed by the appointment, a MISSED appointment the rules refuse and an
    end of payment on 9999-12-31 the dates cannot carry (both anomalies with a task), ReferentStructure upserted."""
    async with stack.time_skipping() as env:
        task_queue = f"rec-{_ev()[:8]}"
        async with stack.worker(env.client, task_queue):
            h = Harness(env, task_queue, InMemoryMonJob62(), stack.pool)
            d0 = await h.morning()
            handle = await h.start()
            await h.sleep_until(d0 + timedelta(days=22))
            today = await h.today()
            await h.update(BeneficiaryPathway.orient, OrientationDecision(
                event_id="orient", target=OrientationTarget.PLATFORM, structure_id="PF-7", notified_on=today))
            await h.handle.signal(BeneficiaryPathway.appointment, AppointmentEvent(
                event_id="missed-early", kind=AppointmentKind.MISSED, appointment_date=today))
            await h.handle.signal(BeneficiaryPathway.left_rsa, LeftRsa(
                event_id="left-far", end_of_payment_date=date(9999, 12, 31), reason="RESSOURCES"))
            await h.view(lambda v: len(v.anomalies) == 2)
            await h.sleep_until(today + timedelta(days=11))
            await h.handle.signal(BeneficiaryPathway.appointment, AppointmentEvent(
                event_id="rdv-1", kind=AppointmentKind.SCHEDULED, appointment_date=today + timedelta(days=13)))
            await h.view(lambda v: v.stage is Stage.PLATFORM_FIRST_APPOINTMENT)
            await _settled(env.client, handle.id)
            history = await env.client.get_workflow_handle(handle.id).fetch_history()
    return {"BeneficiaryPathway-inbox-tasks-and-anomalies": history}


# ---------------------------------------------------------------- LabelApplication / Label


async def _application(env: WorkflowEnvironment, task_queue: str) -> WorkflowHandle:
    sid = f"S-{_ev()[:10]}"
    return await env.client.start_workflow(
        LabelApplicationWorkflow.run, LabelApplicationState(structure_id=sid, application_no=1, territory="ARTOIS"),
        id=L.application_workflow_id(sid, 1), task_queue=task_queue)


@scenario("LabelApplication-granted")
async def label_application_granted(stack: Stack) -> Recorded:
    """Submission, DPID evaluation, SLAI opinion, grant: the application completes and starts its Label
    child (recorded open, its first annual review ahead)."""
    async with stack.time_skipping() as env:
        task_queue = f"rec-{_ev()[:8]}"
        async with stack.worker(env.client, task_queue):
            app = await _application(env, task_queue)
            await app.execute_update("submit", ApplicationSubmitted(event_id=_ev()))
            await app.execute_update("record_admin_evaluation", AdminEvaluation(
                event_id=_ev(), training_ok=True, cer_average=8.5, seed="campagne", sampled_cer_ids=["c1", "c2"]))
            await app.execute_update("record_slai_opinion", SlaiOpinion(
                event_id=_ev(), confirmed=True, training_ok=True, cer_average=8.5))
            await app.execute_update("decide", Decision(event_id=_ev(), outcome="grant"))
            result = await app.result()
            await _settled(env.client, result.label_workflow_id)
            application = await app.fetch_history()
            label = await env.client.get_workflow_handle(result.label_workflow_id).fetch_history()
    return {"LabelApplication-granted": application, "Label-granted-by-application": label}


@scenario("LabelApplication-refused")
async def label_application_refused(stack: Stack) -> Recorded:
    """Instruction alerts at 4 and 5 months and the 6-month breach, then a refusal: moratorium (open)."""
    async with stack.time_skipping() as env:
        task_queue = f"rec-{_ev()[:8]}"
        async with stack.worker(env.client, task_queue):
            app = await _application(env, task_queue)
            await app.execute_update("submit", ApplicationSubmitted(event_id=_ev()))
            await env.sleep(timedelta(days=190))
            await _settled(env.client, app.id)
            await app.execute_update("record_admin_evaluation", AdminEvaluation(
                event_id=_ev(), training_ok=False, cer_average=9.0, seed="campagne", sampled_cer_ids=["c1"]))
            await app.execute_update("record_slai_opinion", SlaiOpinion(
                event_id=_ev(), confirmed=True, training_ok=False, cer_average=9.0))
            await app.execute_update("decide", Decision(event_id=_ev(), outcome="refuse",
                                                        reasons=["2 referents not trained"]))
            await _settled(env.client, app.id)
            history = await app.fetch_history()
    return {"LabelApplication-refused": history}


async def _granted_state(env: WorkflowEnvironment) -> LabelState:
    """A label granted today (2023 rules) to a new structure."""
    sid = f"S-{_ev()[:10]}"
    decided = paris_date(await env.get_current_time())
    return LabelState.granted(LabelInput(structure_id=sid, territory="LENS-HENIN", decided_on=decided,
                                         application_workflow_id=L.application_workflow_id(sid, 1),
                                         rule_set_version=RULESET_2023.version), RULESET_2023)


async def _start_granted(env: WorkflowEnvironment, task_queue: str) -> tuple[LabelState, WorkflowHandle]:
    """A label granted today, its workflow started under the structure's label id."""
    state = await _granted_state(env)
    return state, await env.client.start_workflow(LabelWorkflow.run, state, id=L.label_workflow_id(state.structure_id),
                                                  task_queue=task_queue)


@scenario("Label-renewed")
async def label_renewed(stack: Stack) -> Recorded:
    """Four and a half years of annual reviews and reminders, renewal requested in the window and granted:
    the first cycle ends with continue-as-new (run 1 recorded)."""
    async with stack.time_skipping() as env:
        task_queue = f"rec-{_ev()[:8]}"
        async with stack.worker(env.client, task_queue):
            state, handle = await _start_granted(env, task_queue)
            first_run = handle.result_run_id
            first, _ = L.renewal_window(state.expires_on, RULESET_2023)
            target = deadline_instant(first - timedelta(days=1)) + timedelta(hours=1)
            await env.sleep(target - await env.get_current_time())
            await _settled(env.client, handle.id)
            live = env.client.get_workflow_handle(handle.id)
            await live.execute_update("request_renewal", RenewalRequest(event_id=_ev()))
            await live.execute_update("decide_renewal", RenewalDecision(event_id=_ev(), outcome="grant"))
            for _ in range(500):
                runs = await _runs(env.client, handle.id, first_run)
                if len(runs) == 2:
                    break
                await asyncio.sleep(0.02)
            await _settled(env.client, handle.id)
            runs = await _runs(env.client, handle.id, first_run)
    return {"Label-renewed-run1": runs[0]}


@scenario("Label-rulesfix-expired-reviews")
async def label_expired_reviews(stack: Stack) -> Recorded:
    """Branch rulesfix: five years of annual reviews never recorded, no renewal: the label expires and cancels
    them (patch ``label-closes-moot-annual-reviews``), then its workflow completes."""
    async with stack.time_skipping() as env:
        task_queue = f"rec-{_ev()[:8]}"
        async with stack.worker(env.client, task_queue):
            state, handle = await _start_granted(env, task_queue)
            await env.sleep(deadline_instant(state.expires_on) + timedelta(hours=1) - await env.get_current_time())
            await handle.result()
            history = await handle.fetch_history()
    return {"Label-rulesfix-expired-reviews": history}


@scenario("LabelApplication-label-posting-clock")
async def label_application_letters(stack: Stack) -> Recorded:
    """Evaluation computed from the submitted file, refusal letter posted, no receipt (reminder), then the
    receipt: moratorium with its clocks (open). LabelApplication-label-letters.json is the same scenario
    recorded before the posting clock (workflow.patched("label-letter-posting-clock"))."""
    async with stack.time_skipping() as env:
        task_queue = f"rec-{_ev()[:8]}"
        async with stack.worker(env.client, task_queue):
            app = await _application(env, task_queue)
            await app.execute_update("submit", ApplicationSubmitted(event_id=_ev()))
            modules = ["premiers_secours_sante_mentale", "developpement_des_potentiels", "public_feminin"]
            evaluation = EvaluationSubmitted.model_validate({"event_id": _ev(), "seed": "campagne", "professionals": [
                {"professional_id": "P-01", "attestations": [{"module": m, "attended_on": "2024-06-01"}
                                                             for m in modules], "cers": []}]})
            await app.execute_update("submit_evaluation", evaluation)
            await app.execute_update("record_slai_opinion", SlaiOpinion(event_id=_ev(), confirmed=True))
            await app.execute_update("record_joint_review", JointReview(event_id=_ev(), training_ok=False,
                                                                        cer_average=0))
            await app.execute_update("decide", Decision(event_id=_ev(), outcome="refuse",
                                                        reasons=["formation incomplète", "aucun CER"]))
            today = paris_date(await env.get_current_time())
            key = f"{app.id}:refusal:1"
            await app.execute_update("record_letter_sent", LetterSent(
                event_id=_ev(), letter_key=key, registered_number="1A 123 456 7890 1", sent_on=today))
            await env.sleep(timedelta(days=17))
            await _settled(env.client, app.id)
            await app.execute_update("acknowledge_receipt", ReceiptAcknowledged(
                event_id=_ev(), letter_key=key, received_on=today + timedelta(days=16)))
            await _settled(env.client, app.id)
            history = await app.fetch_history()
    return {"LabelApplication-label-posting-clock": history}


@scenario("LabelApplication-label-reshape-appeal-letters")
async def label_application_reshape_appeal_letters(stack: Stack) -> Recorded:
    """The reshaped application (pure aggregate, outbox): refusal letter posted and received, recours gracieux
    with evidence rejected explicitly (its letter), that letter posted too (a letter without clock), then the
    contentieux window (open). The workflow id is the file's name, as the replay test gives it: the letters'
    keys, built from it, are then the replayed run's own."""
    async with stack.time_skipping() as env:
        task_queue = f"rec-{_ev()[:8]}"
        async with stack.worker(env.client, task_queue):
            app = await env.client.start_workflow(
                LabelApplicationWorkflow.run,
                LabelApplicationState(structure_id=f"S-{_ev()[:10]}", application_no=1, territory="ARTOIS"),
                id="LabelApplication-label-reshape-appeal-letters", task_queue=task_queue)
            await app.execute_update("submit", ApplicationSubmitted(event_id=_ev()))
            await app.execute_update("record_admin_evaluation", AdminEvaluation(
                event_id=_ev(), training_ok=False, cer_average=6.0, seed="campagne", sampled_cer_ids=["c1"]))
            await app.execute_update("record_slai_opinion", SlaiOpinion(event_id=_ev(), confirmed=True))
            await app.execute_update("record_joint_review", JointReview(event_id=_ev(), training_ok=False,
                                                                        cer_average=6.5))
            await app.execute_update("decide", Decision(event_id=_ev(), outcome="refuse",
                                                        reasons=["formation incomplète"]))
            today = paris_date(await env.get_current_time())
            key = f"{app.id}:refusal:1"
            await app.execute_update("record_letter_sent", LetterSent(
                event_id=_ev(), letter_key=key, registered_number="1A 123 456 7890 1", sent_on=today))
            await env.sleep(timedelta(days=5))
            await app.execute_update("acknowledge_receipt", ReceiptAcknowledged(
                event_id=_ev(), letter_key=key, received_on=today + timedelta(days=4)))
            await app.execute_update("file_recours_gracieux", AppealFiled(event_id=_ev(), evidence=[
                EvidenceReference(document_id="doc-1", sha256="a" * 64, kind="training_attestation")]))
            await env.sleep(timedelta(days=20))
            answered = paris_date(await env.get_current_time())
            await app.execute_update("answer_recours_gracieux", GracieuxAnswer(
                event_id=_ev(), outcome="rejected", reasons=["pas d'élément nouveau"]))
            await app.execute_update("record_letter_sent", LetterSent(
                event_id=_ev(), letter_key=f"{app.id}:gracieux_rejected:{answered.isoformat()}",
                registered_number="1A 123 456 7890 2", sent_on=answered))
            await _settled(env.client, app.id)
            history = await app.fetch_history()
    return {"LabelApplication-label-reshape-appeal-letters": history}


@scenario("Label-label-reshape-withdrawal")
async def label_reshape_withdrawal(stack: Stack) -> Recorded:
    """The reshaped label (pure aggregate, outbox): W2 notice, the observation month runs out (decision task),
    withdrawal (letter, pathways told), its letter posted and received, recours gracieux granted: reinstated
    (open). The workflow id is the file's name, as the replay test gives it (the letters' keys are built from it)."""
    async with stack.time_skipping() as env:
        task_queue = f"rec-{_ev()[:8]}"
        async with stack.worker(env.client, task_queue):
            state = await _granted_state(env)
            label = await env.client.start_workflow(LabelWorkflow.run, state, id="Label-label-reshape-withdrawal",
                                                    task_queue=task_queue)
            await label.execute_update("report_commitment_breach", CommitmentBreach(
                event_id=_ev(), grounds=["charte qualité non respectée"]))
            await env.sleep(timedelta(days=35))
            await _settled(env.client, label.id)
            withdrawn = paris_date(await env.get_current_time())
            await label.execute_update("decide_withdrawal", WithdrawalDecision(event_id=_ev(), outcome="withdraw"))
            key = f"{label.id}:withdrawal:{withdrawn.isoformat()}"
            await label.execute_update("record_letter_sent", LetterSent(
                event_id=_ev(), letter_key=key, registered_number="1A 123 456 7890 3", sent_on=withdrawn))
            await env.sleep(timedelta(days=3))
            await label.execute_update("acknowledge_receipt", ReceiptAcknowledged(
                event_id=_ev(), letter_key=key, received_on=withdrawn + timedelta(days=2)))
            await label.execute_update("file_recours_gracieux", AppealFiled(event_id=_ev()))
            await label.execute_update("answer_recours_gracieux", GracieuxAnswer(event_id=_ev(), outcome="granted"))
            await _settled(env.client, label.id)
            history = await label.fetch_history()
    return {"Label-label-reshape-withdrawal": history}


@scenario("LabelYearlyList-label")
async def label_yearly_list(stack: Stack) -> Recorded:
    """The Commission Permanente's yearly list stored from the read model."""
    async with stack.time_skipping() as env:
        task_queue = f"rec-{_ev()[:8]}"
        async with stack.worker(env.client, task_queue):
            handle = await env.client.start_workflow(LabelYearlyList.run, YearlyListInput(year=2026),
                                                     id=f"label-yearly-list-{_ev()[:8]}", task_queue=task_queue)
            await handle.result()
            history = await handle.fetch_history()
    return {"LabelYearlyList-label": history}


# ---------------------------------------------------------------- FluxImport / FluxDropScan (dev server)


@scenario("FluxImport-slices")
async def flux_import_slices(stack: Stack) -> Recorded:
    """A 24-household file with rejected records, 3 slices, continue-as-new after 2; plus the history of a
    pathway it started (signal-with-start and flow signals)."""
    client = stack.dev_client
    task_queue = f"rec-{_ev()[:8]}"
    path = stack.workdir / f"flux-{_ev()[:8]}.xml"
    generate_flux(path, households=24, seed=uuid.uuid4().int % 10**6, flow_date=date(2025, 5, 5), invalid_share=0.2)
    from tests.flux_import_harness import import_input

    async with stack.worker(client, task_queue):
        handle = await start_flux_import(client, import_input(path, batch_size=10, slices_per_run=2),
                                         task_queue=task_queue)
        first_run = handle.result_run_id
        await handle.result()
        runs = await _runs(client, handle.id, first_run)
        pathway_id = None
        async for execution in client.list_workflows(
                f'WorkflowType = "{PATHWAY_TYPE}" AND TaskQueue = "{task_queue}"'):
            pathway_id = execution.id
            break
        assert pathway_id is not None, "the import started no pathway"
        await _settled(client, pathway_id)
        pathway = await client.get_workflow_handle(pathway_id).fetch_history()
    recorded = {f"FluxImport-slices-run{n}": history for n, history in enumerate(runs, start=1)}
    recorded["BeneficiaryPathway-started-by-flux"] = pathway
    return recorded


@scenario("FluxDropScan-new-files")
async def flux_drop_scan(stack: Stack) -> Recorded:
    """A drop directory with two new files and one being written: one FluxImport child per file."""
    client = stack.dev_client
    task_queue = f"rec-{_ev()[:8]}"
    drop = stack.workdir / f"drop-{_ev()[:8]}"
    drop.mkdir()
    for name in ("flux-a.xml", "flux-b.xml"):
        generate_flux(drop / name, households=4, seed=uuid.uuid4().int % 10**6, flow_date=date(2025, 6, 2))
    (drop / "flux-c.xml.part").write_text("<being written")
    async with stack.worker(client, task_queue):
        handle = await client.start_workflow(FluxDropScan.run, DropScanInput(drop_dir=str(drop)),
                                             id=f"flux-drop-scan-{_ev()[:8]}", task_queue=task_queue)
        result = await handle.result()
        assert len(result.started) == 2, result
        history = await handle.fetch_history()
    return {"FluxDropScan-new-files": history}


# ---------------------------------------------------------------- CaseloadImport (dev server)


@scenario("CaseloadImport-adoption")
async def caseload_import_adoption(stack: Stack) -> Recorded:
    """A 14-row caseload (every adoptable stage, one row refused) in 3 slices; plus the history of a pathway it
    adopted at its stage (``PathwayInput.adoption``)."""
    from activities.caseload_generator import caseload_rows, write_caseload_csv
    from tests.test_caseload_import import import_input as caseload_input
    from workflows.caseload_import import start_caseload_import

    client = stack.dev_client
    task_queue = f"rec-{_ev()[:8]}"
    rows = caseload_rows(14, date.today(), seed=uuid.uuid4().int % 10**6)
    rows[-1] = dict(rows[-1], stage="SANCTION_PROCEDURE")
    path = write_caseload_csv(stack.workdir / f"caseload-{_ev()[:8]}.csv", rows)
    async with stack.worker(client, task_queue):
        handle = await start_caseload_import(client, caseload_input(path, batch_size=5), task_queue=task_queue)
        result = await handle.result()
        assert (result.adopted, result.rejected) == (13, 1), result
        history = await handle.fetch_history()
        pathway_id = await stack.pool.fetchval(
            "SELECT pathway_id FROM caseload_import_rows WHERE file_digest = $1 AND row_number = 4",
            handle.id.removeprefix("caseload-import-"))
        await _settled(client, pathway_id)
        pathway = await client.get_workflow_handle(pathway_id).fetch_history()
    return {"CaseloadImport-adoption-slices": history, "BeneficiaryPathway-adoption-caseload": pathway}


# ---------------------------------------------------------------- RetentionPurge (dev server)


@scenario("RetentionPurge-two-batches")
async def retention_purge(stack: Stack) -> Recorded:
    """Three pathways closed three years ago (read-model rows only), purged in batches of two."""
    from domain.retention import RetentionInput
    from workflows.retention import RetentionPurge

    client = stack.dev_client
    task_queue = f"rec-{_ev()[:8]}"
    closed_on = date.today().replace(day=1) - timedelta(days=3 * 366)
    for _ in range(3):
        await stack.pool.execute(
            """INSERT INTO pathways (pathway_id, person_id, territory, rule_set, stage, entry_date, closed_on,
                   exit_reason, version) VALUES ($1, $2, 'ARRAGEOIS', $3, 'CLOSED', $4, $5, 'SORTIE_RSA', 9)""",
            f"pathway-{_ev()}", _ev(), RULESET_2023.version, closed_on - timedelta(days=400), closed_on)
    async with stack.worker(client, task_queue):
        handle = await client.start_workflow(RetentionPurge.run, RetentionInput(retention_months=24, batch_size=2),
                                             id=f"retention-purge-{_ev()[:8]}", task_queue=task_queue)
        await handle.result()
        history = await handle.fetch_history()
    return {"RetentionPurge-two-batches": history}


# ---------------------------------------------------------------- running


async def record(stack: Stack, names: list[str] | None = None) -> Recorded:
    """Run the named scenarios (all by default) and return their histories by file stem."""
    recorded: Recorded = {}
    for name in names or list(SCENARIOS):
        recorded.update(await SCENARIOS[name](stack))
    return recorded


def write(recorded: Recorded, out: Path = HISTORIES) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, history in sorted(recorded.items()):
        path = out / f"{stem}.json"
        path.write_text(history_json(history), encoding="utf-8")
        paths.append(path)
    return paths


async def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), help="scenario to record")
    parser.add_argument("--out", type=Path, default=HISTORIES)
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args()
    if args.list:
        for name, fn in SCENARIOS.items():
            print(f"{name}: {(fn.__doc__ or '').strip().splitlines()[0]}")
        return
    with tempfile.TemporaryDirectory(prefix="parcours-record-") as tmp:
        workdir = Path(tmp)
        postgres = start_postgres(workdir / "pg", free_port())
        try:
            await migrate(postgres.url)
            pool = await asyncpg.create_pool(postgres.url, min_size=1, max_size=5)
            dev = await WorkflowEnvironment.start_local(
                dev_server_existing_path=binary("temporal"), data_converter=history_converter(),
                search_attributes=ALL_SEARCH_ATTRIBUTES, ui=False, dev_server_log_level="error")
            try:
                recorded = await record(Stack(pool, dev.client, workdir), args.only)
            finally:
                await dev.shutdown()
                await pool.close()
        finally:
            postgres.stop()
    for path in write(recorded, args.out):
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    asyncio.run(_main())
