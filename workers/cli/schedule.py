"""`parcours schedule ...`: the Temporal Schedule that imports the CAF/MSA flows dropped each day.

``install`` creates (or updates, so running it twice is safe) the schedule ``flux-drop-daily``: every day
at 06:00 Europe/Paris it starts ``FluxDropScan`` on the drop directory (``PARCOURS_DROP_DIR``, default
``.parcours/drop``), which imports every file not imported yet. Overlapping runs are skipped; a run missed
while the server was down is caught up within a day.

``install`` also creates ``retention-purge-monthly``: on day 1 of each month at 03:30 it starts
``RetentionPurge`` (``workflows/retention.py``), which purges the pathways closed more than the retention
period ago; ``label-yearly-list``: every 1 December at 07:00 it starts ``LabelYearlyList``, which stores
the year's list of labelled structures for the Commission Permanente; ``lost-from-view-campaign-monthly``: on day 5 of each month at 07:00 (``--campaign-day``,
``--campaign-hour``) it starts ``LostFromViewCampaign`` (``workflows/campaign.py``), which convokes the
pathways « sans accompagnement » (T26, G-B19) and records the campaign; and ``caf-annual-report``: each 31 January
at 06:30 it starts ``CafAnnualReport`` (``workflows/caf_report.py``), which builds and stores the CAF's report on
the past year (§3.7, G-C8); and ``france-travail-sync-daily``: every day at 05:30 it starts ``FranceTravailSync``
(``workflows/france_travail_sync.py``), which asks France Travail whether the 2025 pathways awaiting their
registration are registered and signals ``france_travail_registered`` to those who are.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Optional

import typer
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
)

from domain.flux_import import DEFAULT_TERRITORY, DropScanInput
from workers.cli.common import OneLineErrors, connect_client, run_client_command
from workers.runtime.config import Settings, drop_directory

app = typer.Typer(help="Temporal Schedules: the daily import of dropped CAF/MSA flows, the monthly retention "
                       "purge.", no_args_is_help=True)

SCHEDULE_ID = "flux-drop-daily"
SCAN_WORKFLOW_ID = "flux-drop-scan"  # the schedule appends the scheduled time to it
TIME_ZONE = "Europe/Paris"


def drop_schedule(drop_dir: Path, *, task_queue: str, hour: int = 6, minute: int = 0,
                  territory: str = DEFAULT_TERRITORY) -> Schedule:
    from workflows.flux_drop import FluxDropScan

    return Schedule(
        action=ScheduleActionStartWorkflow(
            FluxDropScan.run, DropScanInput(drop_dir=str(drop_dir), territory=territory),
            id=SCAN_WORKFLOW_ID, task_queue=task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(hour)], minute=[ScheduleRange(minute)],
                                            comment="daily import of the dropped flows")],
            time_zone_name=TIME_ZONE,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
    )


async def install_drop_schedule(client: Client, drop_dir: Path, *, task_queue: str, hour: int = 6, minute: int = 0,
                                territory: str = DEFAULT_TERRITORY, schedule_id: str = SCHEDULE_ID) -> str:
    """Create the schedule, or replace its definition if it exists; returns "created" or "updated"."""
    schedule = drop_schedule(drop_dir, task_queue=task_queue, hour=hour, minute=minute, territory=territory)
    return await _create_or_replace(client, schedule_id, schedule)


async def _create_or_replace(client: Client, schedule_id: str, schedule: Schedule) -> str:
    """Installing twice is safe: an existing schedule gets the new definition."""
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(schedule_id).update(lambda _: ScheduleUpdate(schedule=schedule))
        return "updated"


RETENTION_SCHEDULE_ID = "retention-purge-monthly"


def retention_schedule(*, task_queue: str, day: int = 1, hour: int = 3, minute: int = 30) -> Schedule:
    """Monthly ``RetentionPurge``; its period is the worker's ``PARCOURS_RETENTION_MONTHS`` (default 24)."""
    from domain.retention import WORKFLOW_ID_PREFIX, RetentionInput
    from workflows.retention import RetentionPurge

    action = ScheduleActionStartWorkflow(RetentionPurge.run, RetentionInput(), id=WORKFLOW_ID_PREFIX,
                                         task_queue=task_queue)
    return _calendar_schedule(action, comment="monthly purge of pathways closed beyond the retention period",
                              catchup_days=7, day_of_month=day, hour=hour, minute=minute)


async def install_retention_schedule(client: Client, *, task_queue: str,
                                     schedule_id: str = RETENTION_SCHEDULE_ID) -> str:
    """Create the monthly retention schedule, or replace its definition; returns "created" or "updated"."""
    return await _create_or_replace(client, schedule_id, retention_schedule(task_queue=task_queue))


LABEL_YEARLY_SCHEDULE_ID = "label-yearly-list"


def label_yearly_schedule(*, task_queue: str, month: int = 12, day: int = 1, hour: int = 7) -> Schedule:
    """Yearly ``LabelYearlyList``: the Commission Permanente's list of labelled structures, stored (L20)."""
    from domain.label_yearly_list import LABEL_YEARLY_LIST_WORKFLOW_ID, YearlyListInput
    from workflows.label_yearly_list import LabelYearlyList

    action = ScheduleActionStartWorkflow(LabelYearlyList.run, YearlyListInput(), id=LABEL_YEARLY_LIST_WORKFLOW_ID,
                                         task_queue=task_queue)
    return _calendar_schedule(action, comment="annual list of labelled structures (Commission Permanente)",
                              catchup_days=7, month=month, day_of_month=day, hour=hour, minute=0)


async def install_label_yearly_schedule(client: Client, *, task_queue: str,
                                        schedule_id: str = LABEL_YEARLY_SCHEDULE_ID) -> str:
    return await _create_or_replace(client, schedule_id, label_yearly_schedule(task_queue=task_queue))


def _calendar_schedule(action: ScheduleActionStartWorkflow, *, comment: str, catchup_days: int,
                       **ranges: int) -> Schedule:
    """A schedule on one calendar (``month``, ``day_of_month``, ``hour``, ``minute``), Paris time, overlaps skipped."""
    calendar = ScheduleCalendarSpec(comment=comment, **{name: [ScheduleRange(v)] for name, v in ranges.items()})
    return Schedule(action=action, spec=ScheduleSpec(calendars=[calendar], time_zone_name=TIME_ZONE),
                    policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP,
                                          catchup_window=timedelta(days=catchup_days)))


def campaign_schedule(*, task_queue: str, day: int = 5, hour: int = 7, minute: int = 0,
                      territory: str | None = None) -> Schedule:
    """Monthly ``LostFromViewCampaign`` (T26, G-B19): the selection period is the rule set's."""
    from domain.campaign import WORKFLOW_ID_PREFIX, CampaignInput
    from workflows.campaign import LostFromViewCampaign

    action = ScheduleActionStartWorkflow(LostFromViewCampaign.run, CampaignInput(territory=territory),
                                         id=WORKFLOW_ID_PREFIX, task_queue=task_queue)
    return _calendar_schedule(action, comment="monthly « perdus de vue » campaign", catchup_days=7,
                              day_of_month=day, hour=hour, minute=minute)


async def install_campaign_schedule(client: Client, *, task_queue: str, day: int = 5, hour: int = 7,
                                    territory: str | None = None, schedule_id: str | None = None) -> str:
    """Create the monthly perdus-de-vue campaign schedule, or replace its definition."""
    from domain.campaign import SCHEDULE_ID as CAMPAIGN_SCHEDULE_ID

    return await _create_or_replace(client, schedule_id or CAMPAIGN_SCHEDULE_ID,
                                    campaign_schedule(task_queue=task_queue, day=day, hour=hour, territory=territory))


def caf_report_schedule(*, task_queue: str, hour: int = 6, minute: int = 30) -> Schedule:
    """Each 31 January (G-C8, [000:260]): the CAF's report on the past year, built and stored."""
    from domain.caf_report import WORKFLOW_ID_PREFIX, CafReportRequest
    from workflows.caf_report import CafAnnualReport

    action = ScheduleActionStartWorkflow(CafAnnualReport.run, CafReportRequest(), id=WORKFLOW_ID_PREFIX,
                                         task_queue=task_queue)
    return _calendar_schedule(action, comment="the CAF's annual report, due each 31 January", catchup_days=30,
                              month=1, day_of_month=31, hour=hour, minute=minute)


async def install_caf_report_schedule(client: Client, *, task_queue: str, schedule_id: str | None = None) -> str:
    from domain.caf_report import SCHEDULE_ID as CAF_SCHEDULE_ID

    return await _create_or_replace(client, schedule_id or CAF_SCHEDULE_ID, caf_report_schedule(task_queue=task_queue))


def france_travail_schedule(*, task_queue: str, hour: int = 5, minute: int = 30) -> Schedule:
    """Daily ``FranceTravailSync``: registrations of 2025 pathways received from France Travail (§8.3)."""
    from domain.france_travail import WORKFLOW_ID_PREFIX, SyncInput
    from workflows.france_travail_sync import FranceTravailSync

    action = ScheduleActionStartWorkflow(FranceTravailSync.run, SyncInput(), id=WORKFLOW_ID_PREFIX,
                                         task_queue=task_queue)
    return _calendar_schedule(action, comment="daily France Travail registration check", catchup_days=1,
                              hour=hour, minute=minute)


async def install_france_travail_schedule(client: Client, *, task_queue: str, schedule_id: str | None = None) -> str:
    from domain.france_travail import SCHEDULE_ID as FT_SCHEDULE_ID

    return await _create_or_replace(client, schedule_id or FT_SCHEDULE_ID,
                                    france_travail_schedule(task_queue=task_queue))


def _run(coro) -> object:
    try:
        return run_client_command(coro)
    except Exception as exc:  # noqa: BLE001 - server unreachable, schedule missing: one line, no trace
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        typer.echo(f"parcours schedule: {' '.join(str(message).split())}", err=True)
        raise typer.Exit(1)


async def _on_daily_schedule(settings: Settings, action):
    """Connect, then run ``action`` (a coroutine function of the schedule's handle) on the daily import."""
    client = await connect_client(settings)
    return await action(client.get_schedule_handle(SCHEDULE_ID))


@app.command("install", cls=OneLineErrors)
def install(
    hour: int = typer.Option(6, "--hour", min=0, max=23, help="Hour of the daily run (Europe/Paris)."),
    minute: int = typer.Option(0, "--minute", min=0, max=59, help="Minute of the daily run."),
    drop_dir: Optional[Path] = typer.Option(None, "--drop-dir", help="Default: PARCOURS_DROP_DIR or .parcours/drop."),
    territory: str = typer.Option(DEFAULT_TERRITORY, "--territory", help="Territory of the pathways started."),
    campaign_day: int = typer.Option(5, "--campaign-day", min=1, max=28,
                                     help="Day of the month of the « perdus de vue » campaign."),
    campaign_hour: int = typer.Option(7, "--campaign-hour", min=0, max=23, help="Hour of the campaign (Europe/Paris)."),
) -> None:
    """Create or update the daily import of the files dropped in the drop directory, the monthly purge, the
    monthly « perdus de vue » campaign, the daily France Travail registration check, the CAF's annual report
    (each 31 January) and the yearly list of
    labelled structures (each 1 December)."""
    settings = Settings.from_env()
    directory = drop_dir.resolve() if drop_dir else drop_directory(settings)
    directory.mkdir(parents=True, exist_ok=True)

    async def go() -> str:
        client = await connect_client(settings)
        return await install_drop_schedule(client, directory, task_queue=settings.temporal_task_queue, hour=hour,
                                           minute=minute, territory=territory)

    outcome = _run(go())
    typer.echo(f"schedule {SCHEDULE_ID} {outcome}: every day at {hour:02d}:{minute:02d} {TIME_ZONE}, "
               f"imports new files of {directory}")

    async def go_retention() -> str:
        client = await connect_client(settings)
        return await install_retention_schedule(client, task_queue=settings.temporal_task_queue)

    outcome = _run(go_retention())
    typer.echo(f"schedule {RETENTION_SCHEDULE_ID} {outcome}: on day 1 of every month at 03:30 {TIME_ZONE}, purges "
               "pathways closed longer ago than the worker's PARCOURS_RETENTION_MONTHS (default 24)")

    async def with_client(install) -> str:
        return await install(await connect_client(settings))

    from domain.caf_report import SCHEDULE_ID as CAF_SCHEDULE_ID
    from domain.campaign import SCHEDULE_ID as CAMPAIGN_SCHEDULE_ID

    outcome = _run(with_client(lambda client: install_campaign_schedule(
        client, task_queue=settings.temporal_task_queue, day=campaign_day, hour=campaign_hour)))
    typer.echo(f"schedule {CAMPAIGN_SCHEDULE_ID} {outcome}: on day {campaign_day} of every month at "
               f"{campaign_hour:02d}:00 {TIME_ZONE}, convokes the pathways « sans accompagnement »")
    outcome = _run(with_client(lambda client: install_caf_report_schedule(
        client, task_queue=settings.temporal_task_queue)))
    typer.echo(f"schedule {CAF_SCHEDULE_ID} {outcome}: each 31 January at 06:30 {TIME_ZONE}, builds and stores the "
               "CAF's report on the past year")

    from domain.france_travail import SCHEDULE_ID as FT_SCHEDULE_ID

    outcome = _run(with_client(lambda client: install_france_travail_schedule(
        client, task_queue=settings.temporal_task_queue)))
    typer.echo(f"schedule {FT_SCHEDULE_ID} {outcome}: every day at 05:30 {TIME_ZONE}, signals the 2025 pathways "
               "France Travail reports registered")

    outcome = _run(with_client(lambda client: install_label_yearly_schedule(
        client, task_queue=settings.temporal_task_queue)))
    typer.echo(f"schedule {LABEL_YEARLY_SCHEDULE_ID} {outcome}: every 1 December at 07:00 {TIME_ZONE}, stores the "
               "year's list of labelled structures (parcours label yearly-list --stored)")


@app.command("trigger", cls=OneLineErrors)
def trigger() -> None:
    """Run the daily import now."""
    settings = Settings.from_env()

    _run(_on_daily_schedule(settings, lambda handle: handle.trigger()))
    typer.echo(f"schedule {SCHEDULE_ID} triggered")


@app.command("remove", cls=OneLineErrors)
def remove() -> None:
    """Delete the daily import schedule (running imports go on)."""
    settings = Settings.from_env()

    _run(_on_daily_schedule(settings, lambda handle: handle.delete()))
    typer.echo(f"schedule {SCHEDULE_ID} removed")


@app.command("show", cls=OneLineErrors)
def show() -> None:
    """Print the schedule's next runs and its recent actions."""
    settings = Settings.from_env()

    description = _run(_on_daily_schedule(settings, lambda handle: handle.describe()))
    info = description.info
    typer.echo(f"schedule {SCHEDULE_ID}: {'paused' if description.schedule.state.paused else 'active'}")
    for when in info.next_action_times[:3]:
        typer.echo(f"  next run: {when.isoformat()}")
    for action in info.recent_actions[-3:]:
        typer.echo(f"  ran: {action.scheduled_at.isoformat()}")
