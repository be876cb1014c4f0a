"""History of a simulated 5-year pathway: events and bytes per run, replay time per run (not a test).

    .venv/bin/python -m bench.history_bench [--cycles 10] [--pathways 1] [--replays 5]

The real ``BeneficiaryPathway`` runs on the time-skipping server through a real worker, with the real
durations and the encrypting converter (payload sizes as in production). Activities are the real ones
over fakes (a read model that accepts every write, the in-memory MonJob62): history and replay do not
depend on what the activity does.

One pathway: flow record (signal-with-start) → orientation to the platform on day 10 → first appointment
scheduled and held → diagnostic → the platform's first CER → préconisation → SLAI validation (referent
designated) → ``--cycles`` CER cycles of 6 months with the referent, each with two appointments held, one
monthly flow record and the bilan (continue) → the pathway continues as new at the designation and at each bilan. Every run's
history is fetched along the continue-as-new chain, then replayed with ``temporalio.worker.Replayer``
(``--replays`` passes over all runs in one replayer, the first pass discarded as warm-up; the figure is
the median per run), and once per run with a fresh replayer (what a worker pays after a restart).

Targets: < 500 events per run, replay < 50 ms per run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.pathway import InMemoryMonJob62, PathwayActivities
from activities.pathway_start import signal_with_start
from bench.common import machine
from bench.stack import time_skipping_server
from domain.deadlines import PARIS, add_months, paris_date
from domain.pathway import (
    AppointmentEvent,
    AppointmentKind,
    BilanDecision,
    CerAction,
    CerType,
    CompleteBilan,
    DiagnosticCompleted,
    FlowRecord,
    OrientationDecision,
    OrientationTarget,
    PathwayEffects,
    PathwayView,
    PreconisationSubmitted,
    SlaiPreconisationDecision,
    Stage,
)
from domain.plein_emploi import SignContratEngagement
from workers.runtime.converter import data_converter
from workers.runtime.keys import Keyring
from workers.runtime.sandbox import workflow_runner
from workflows.pathway import BeneficiaryPathway

TARGET_EVENTS = 500
#: Events that count as billable "actions" in Temporal's sense (what a hosted cluster charges, and a rough
#: measure of the server's write load besides the workflow tasks).
ACTION_EVENTS = ("WORKFLOW_EXECUTION_STARTED", "WORKFLOW_EXECUTION_SIGNALED", "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
                 "ACTIVITY_TASK_SCHEDULED", "TIMER_STARTED", "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES")
TARGET_REPLAY_MS = 50.0
TERRITORY = "LENS-LIEVIN"


class AcceptingReadModel:
    """The read model's interface, keeping nothing: counts the batches written."""

    def __init__(self) -> None:
        self.writes = 0

    async def write(self, effects: PathwayEffects) -> None:
        self.writes += 1


class Driver:
    """Moves time and talks to one pathway as staff, the CAF flow and the referent's agenda would."""

    def __init__(self, env: WorkflowEnvironment, task_queue: str) -> None:
        self.env = env
        self.client = env.client
        self.task_queue = task_queue
        self.person_id = uuid.uuid4().hex
        self.handle = None
        self.counter = 0

    def eid(self, kind: str) -> str:
        self.counter += 1
        return f"{kind}-{self.counter}"

    async def today(self) -> date:
        return paris_date((await self.env.get_current_time()).astimezone(PARIS))

    async def sleep_until(self, day: date, hour: int = 10) -> None:
        target = datetime.combine(day, clock(hour), tzinfo=PARIS)
        now = (await self.env.get_current_time()).astimezone(PARIS)
        if target > now:
            await self.env.sleep(target - now)

    async def view(self, until=lambda v: True) -> PathwayView:
        view = None
        for _ in range(500):
            try:
                view = await self.client.get_workflow_handle(self.handle.id).query(
                    BeneficiaryPathway.view, rpc_timeout=timedelta(seconds=5))
            except RPCError:  # a query racing the continue-as-new to the next run can time out: ask again
                await asyncio.sleep(0.1)
                continue
            if until(view):
                return view
            await asyncio.sleep(0.02)
        raise AssertionError(f"pathway never reached the expected state: {view and view.stage}")

    async def update(self, method, msg):
        return await self.client.get_workflow_handle(self.handle.id).execute_update(method, msg)

    async def signal(self, method, msg) -> None:
        await self.client.get_workflow_handle(self.handle.id).signal(method, msg)

    async def flow(self, day: date, *, start: bool = False) -> None:
        record = FlowRecord(event_id=self.eid("flow"), transmission_date=day, subject_to_duties=True)
        self.handle = await signal_with_start(self.client, self.person_id, TERRITORY, record,
                                               task_queue=self.task_queue)

    async def appointment(self, kind: AppointmentKind, day: date) -> None:
        await self.signal(BeneficiaryPathway.appointment,
                          AppointmentEvent(event_id=self.eid("rdv"), kind=kind, appointment_date=day))

    async def run_pathway(self, cycles: int) -> str:
        """Drive one pathway through orientation, referent and ``cycles`` CER cycles; returns its first run id."""
        d0 = await self.today() + timedelta(days=1)
        await self.sleep_until(d0)
        await self.flow(d0, start=True)
        first_run = self.handle.result_run_id
        await self.view(lambda v: v.stage is Stage.AWAITING_ORIENTATION)

        day = d0 + timedelta(days=10)
        await self.sleep_until(day)
        await self.update(BeneficiaryPathway.orient, OrientationDecision(
            event_id=self.eid("orient"), target=OrientationTarget.PLATFORM, structure_id="PF-LENS", notified_on=day))
        await self.appointment(AppointmentKind.SCHEDULED, day + timedelta(days=7))
        await self.view(lambda v: v.stage is Stage.PLATFORM_FIRST_APPOINTMENT)
        day += timedelta(days=7)
        await self.sleep_until(day)
        await self.appointment(AppointmentKind.HELD, day)
        await self.view(lambda v: v.stage is Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER)
        await self.signal(BeneficiaryPathway.diagnostic_completed,
                          DiagnosticCompleted(event_id=self.eid("diag"), completed_on=day))
        await self.update(BeneficiaryPathway.sign_contrat_engagement, sign(day, CerType.SOLIDARITE, "cer-platform", months=2))
        day += timedelta(days=14)
        await self.sleep_until(day)
        await self.update(BeneficiaryPathway.submit_preconisation, PreconisationSubmitted(
            event_id=self.eid("preco"), target=OrientationTarget.REFERENT_SOCIOPRO, structure_id="SOCIO-7",
            submitted_on=day))
        day += timedelta(days=5)
        await self.sleep_until(day)
        await self.update(BeneficiaryPathway.decide_preconisation,
                          SlaiPreconisationDecision(event_id=self.eid("slai"), decided_on=day))
        await self.view(lambda v: v.run == 2 and v.stage is Stage.REFERENT_DESIGNATED)  # a new run at designation

        for cycle in range(cycles):
            day += timedelta(days=14)
            await self.sleep_until(day)
            await self.update(BeneficiaryPathway.sign_contrat_engagement, sign(day, CerType.SOCIOPROFESSIONNEL, f"cer-{cycle}"))
            end = add_months(day, 6)
            for offset, what in ((30, "rdv"), (60, "flow"), (100, "rdv")):
                moment = day + timedelta(days=offset)
                await self.sleep_until(moment)
                if what == "rdv":
                    await self.appointment(AppointmentKind.HELD, moment)
                else:
                    await self.flow(moment)
            day = end + timedelta(days=3)
            await self.sleep_until(day)
            await self.view(lambda v: v.stage is Stage.BILAN)
            await self.update(BeneficiaryPathway.complete_bilan, CompleteBilan(
                event_id=self.eid("bilan"), completed_on=day, decision=BilanDecision.CONTINUE))
            await self.view(lambda v, c=cycle: v.run == c + 3 and v.stage is Stage.CER_DRAFTING)
        self.years = (day - d0).days / 365.25
        return first_run


def sign(day: date, cer_type: CerType, cer_id: str, months: int = 6) -> SignContratEngagement:
    """The contract of a case entered today: the contrat d'engagement that replaces the CER from 2025 (§8.3)."""
    actions = [CerAction(start=day, end=day + timedelta(days=60), professional_insertion=i == 0) for i in range(3)]
    return SignContratEngagement(event_id=f"sign-{cer_id}", cer_id=cer_id, type=cer_type, start=day,
                                 end=add_months(day, months), signed_on=day, actions=actions, weekly_hours=15)


async def run_histories(client: Client, workflow_id: str, first_run: str) -> list[WorkflowHistory]:
    histories, run_id = [], first_run
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        run_id = (last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                  if last.HasField("workflow_execution_continued_as_new_event_attributes") else None)
    return histories


def payload_bytes(history: WorkflowHistory) -> tuple[int, int, int]:
    """(history bytes, largest single payload, continue-as-new input bytes) — encrypted payloads."""
    largest = carried = 0
    for event in history.events:
        payloads = []
        for field in ("workflow_execution_started_event_attributes",
                      "workflow_execution_continued_as_new_event_attributes",
                      "activity_task_scheduled_event_attributes", "workflow_execution_signaled_event_attributes"):
            if event.HasField(field):
                payloads = list(getattr(event, field).input.payloads)
                if field == "workflow_execution_continued_as_new_event_attributes":
                    carried += sum(p.ByteSize() for p in payloads)
        if event.HasField("workflow_execution_update_accepted_event_attributes"):
            payloads = list(event.workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads)
        for p in payloads:
            largest = max(largest, p.ByteSize())
    return sum(e.ByteSize() for e in history.events), largest, carried


async def replay_timings(histories: list[WorkflowHistory], keyring: Keyring,
                         passes: int) -> tuple[list[float], list[float], list[float]]:
    """Milliseconds per run: median wall and CPU time (all threads: Python and the SDK core) over warm
    passes in one replayer, and wall time with one fresh replayer per run."""
    replayer = Replayer(workflows=[BeneficiaryPathway], workflow_runner=workflow_runner(),
                        data_converter=data_converter(keyring))

    async def feed():
        for _ in range(passes + 1):
            for h in histories:
                yield h

    wall: list[list[float]] = [[] for _ in histories]
    cpu: list[list[float]] = [[] for _ in histories]
    async with replayer.workflow_replay_iterator(feed()) as results:
        last, last_cpu, n = time.perf_counter(), time.process_time(), 0
        async for result in results:
            if result.replay_failure:
                raise result.replay_failure
            now, now_cpu = time.perf_counter(), time.process_time()
            if n >= len(histories):  # the first pass warms the sandbox's module cache
                wall[n % len(histories)].append((now - last) * 1000)
                cpu[n % len(histories)].append((now_cpu - last_cpu) * 1000)
            last, last_cpu, n = now, now_cpu, n + 1
    fresh = []
    for h in histories:
        started = time.perf_counter()
        await Replayer(workflows=[BeneficiaryPathway], workflow_runner=workflow_runner(),
                       data_converter=data_converter(keyring)).replay_workflow(h)
        fresh.append((time.perf_counter() - started) * 1000)
    return [statistics.median(t) for t in wall], [statistics.median(t) for t in cpu], fresh


def kinds(history: WorkflowHistory) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in history.events:
        name = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
        counts[name] = counts.get(name, 0) + 1
    return counts


async def drive(keyring: Keyring, cycles: int, pathways: int) -> tuple[list[list[WorkflowHistory]], float, float]:
    """Drive ``pathways`` pathways on a fresh time-skipping server: their histories, simulated years, wall time."""
    async with time_skipping_server(keyring) as env:
        task_queue = f"bench-history-{uuid.uuid4().hex[:6]}"
        activities = PathwayActivities(AcceptingReadModel(), InMemoryMonJob62())
        all_histories: list[list[WorkflowHistory]] = []
        years = 0.0
        started = time.perf_counter()
        async with Worker(env.client, task_queue=task_queue, workflows=[BeneficiaryPathway],
                          activities=activities.all(), workflow_runner=workflow_runner()):
            for _ in range(pathways):
                driver = Driver(env, task_queue)
                first_run = await driver.run_pathway(cycles)
                years = driver.years
                all_histories.append(await run_histories(env.client, driver.handle.id, first_run))
                await env.client.get_workflow_handle(driver.handle.id).terminate("bench over")
        return all_histories, years, time.perf_counter() - started


async def main(cycles: int, pathways: int, replays: int, save: Path | None = None) -> dict:
    print(f"machine: {machine()}; load avg at start {os.getloadavg()[0]:.2f}")
    keyring = Keyring.generate("bench")
    for attempt in range(1, 4):
        try:
            all_histories, years, driven = await drive(keyring, cycles, pathways)
            break
        except RPCError as error:  # the Java test server now and then drops a time-skipping call
            if attempt == 3:
                raise
            print(f"time-skipping server failed ({error}); driving again on a fresh server")

    histories = all_histories[0]
    if save is not None:  # for profiling the replay (load with WorkflowHistory.from_json)
        save.mkdir(parents=True, exist_ok=True)
        (save / "keyring").write_text(keyring.to_spec())
        for n, h in enumerate(histories, start=1):
            (save / f"run_{n:02d}.json").write_text(json.dumps({"workflow_id": h.workflow_id, "history": h.to_json_dict()}))
    print(f"simulated {years:.1f} years, {cycles} CER cycles, {len(histories)} runs per pathway "
          f"({pathways} pathway(s) driven in {driven:.1f} s of wall time)")
    warm, cpu, fresh = await replay_timings(histories, keyring, replays)
    print(f"{'run':>4} {'events':>7} {'history KiB':>12} {'largest payload B':>18} {'carried state B':>16} "
          f"{'replay ms':>10} {'CPU ms':>7} {'fresh replayer ms':>18}")
    sizes = []
    for n, (h, w, c, f) in enumerate(zip(histories, warm, cpu, fresh), start=1):
        total, largest, carried = payload_bytes(h)
        sizes.append(total)
        print(f"{n:>4} {len(h.events):>7} {total / 1024:>12.1f} {largest:>18} {carried:>16} {w:>10.1f} {c:>7.1f} "
              f"{f:>18.1f}")
    events = [len(h.events) for h in histories]
    total_events = sum(events)
    print(f"event kinds of run 2: {kinds(histories[1]) if len(histories) > 1 else kinds(histories[0])}")
    print(f"per pathway: {total_events} events, {sum(sizes) / 1024:.0f} KiB of history over {years:.1f} years: "
          f"{total_events / years:.0f} events and {sum(sizes) / years / 1024:.0f} KiB per pathway-year")
    whole: dict[str, int] = {}
    for h in histories:
        for k, v in kinds(h).items():
            whole[k] = whole.get(k, 0) + v
    actions = sum(whole.get(k, 0) for k in ACTION_EVENTS)
    print(f"per pathway-year: {actions / years:.0f} actions (starts, signals, updates, activities, timers, "
          f"search-attribute upserts), {whole.get('WORKFLOW_TASK_COMPLETED', 0) / years:.0f} workflow tasks, "
          f"{whole.get('ACTIVITY_TASK_SCHEDULED', 0) / years:.0f} activities, "
          f"{whole.get('TIMER_STARTED', 0) / years:.0f} timers")
    print(f"events per run: max {max(events)}, median {statistics.median(events):.0f} "
          f"(target < {TARGET_EVENTS}: {'met' if max(events) < TARGET_EVENTS else 'missed'}); "
          f"ratio max/target {max(events) / TARGET_EVENTS:.2f}")
    print(f"replay per run (warm replayer): max {max(warm):.1f} ms, median {statistics.median(warm):.1f} ms "
          f"(target < {TARGET_REPLAY_MS:.0f} ms: {'met' if max(warm) < TARGET_REPLAY_MS else 'missed'}); "
          f"CPU max {max(cpu):.1f} ms, median {statistics.median(cpu):.1f} ms; "
          f"fresh replayer: median {statistics.median(fresh):.1f} ms; load avg {os.getloadavg()[0]:.2f}")
    return {"events": events, "warm_ms": warm, "cpu_ms": cpu, "fresh_ms": fresh, "bytes": sizes, "years": years}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--pathways", type=int, default=1, help="pathways driven one after the other")
    parser.add_argument("--replays", type=int, default=5, help="warm replay passes over all runs")
    parser.add_argument("--save", type=Path, help="write the histories (and the bench keyring) to this directory")
    args = parser.parse_args()
    asyncio.run(main(args.cycles, args.pathways, args.replays, args.save))
