"""`parcours report ...`: the seed-002 indicators computed from the pathway read model (DATABASE_URL).

    parcours report kpi --from D --to D [--territory T] [--format table|csv|json] [--chart FILE.png|FILE.html]
                        [--ag-counsellors N] [--by-rule-set]
    parcours report caf --year YYYY [--etp N] [--stored] [--format table|json]

The HTML chart is a self-contained page with an inline SVG (no dependency); a PNG needs matplotlib, the
optional ``charts`` extra. Output holds counts and dates only, never personal data.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import json
from datetime import date
from enum import Enum
from pathlib import Path
from typing import NoReturn, Optional

import typer
from rich.console import Console
from rich.table import Table

from domain.kpi import DEFAULT_AG_COUNSELLORS, ORIENTATION_TARGET_MONTHS, DelayBucket, KpiReport, Unit, build_report
from domain.rules import RULE_SETS, RuleSet
from workers.cli.common import OneLineErrors
from workers.cli.report_caf import caf as caf_report_command
from workers.runtime.config import Settings

app = typer.Typer(help="Reports computed from the pathway read model (DATABASE_URL).", no_args_is_help=True)
app.command("caf", cls=OneLineErrors)(caf_report_command)  # workers/cli/report_caf.py

USAGE_ERROR = 2
FAILURE = 1
CSV_COLUMNS = ("section", "key", "indicator", "count", "base", "rate", "value", "reference_2021", "target_2022",
               "reference_2022", "reference_2022_rate")


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def _fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    typer.echo(" ".join(message.split()), err=True)
    raise typer.Exit(code)


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"parcours report kpi: {option} must be a date YYYY-MM-DD, got {value!r}")


async def _compute(database_url: str, period_from: date, period_to: date, territory: str | None,
                   ag_counsellors: int = DEFAULT_AG_COUNSELLORS, exclude_adopted: bool = False,
                   split: tuple[RuleSet, ...] = ()) -> tuple[KpiReport, list[tuple[RuleSet, KpiReport]]]:
    """The report on every pathway, and one per rule set of ``split`` (the pathways under it now)."""
    import asyncpg

    from activities.kpi import KpiReadModel

    conn = await asyncpg.connect(database_url)
    try:
        model = KpiReadModel(conn, ag_counsellors=ag_counsellors, exclude_adopted=exclude_adopted)
        report = build_report(await model.facts(period_from, period_to, territory), period_from, period_to, territory)
        parts = [(rules, build_report(await model.facts(period_from, period_to, territory, rules.version),
                                      period_from, period_to, territory)) for rules in split]
    finally:
        await conn.close()
    return report, parts


@app.command("kpi", cls=OneLineErrors)
def kpi(
    period_from: str = typer.Option(..., "--from", metavar="YYYY-MM-DD", help="First day of the period."),
    period_to: str = typer.Option(..., "--to", metavar="YYYY-MM-DD", help="Last day of the period (included)."),
    territory: Optional[str] = typer.Option(None, "--territory", help="Only this territory (default: all)."),
    output: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table, csv or json."),
    chart: Optional[Path] = typer.Option(None, "--chart", metavar="FILE.png|FILE.html",
                                         help="Also draw the orientation delays against the 1-month target."),
    ag_counsellors: int = typer.Option(DEFAULT_AG_COUNSELLORS, "--ag-counsellors", min=1, max=10000,
                                       help="Counsellors dedicated to the accompagnement global (50 portfolios)."),
    exclude_adopted: bool = typer.Option(False, "--exclude-adopted",
                                         help="Leave out pathways adopted from a caseload after their entry."),
    by_rule_set: bool = typer.Option(False, "--by-rule-set",
                                     help="Also split the indicators by rule set (2023: CER; 2025: contrat d'engagement)."),
) -> None:
    """Seed-002 indicators (domain.md §5.1 a to f) with the 2022 reference values beside them."""
    start, end = _day(period_from, "--from"), _day(period_to, "--to")
    if end < start:
        _fail("parcours report kpi: --to is before --from")
    if chart is not None and chart.suffix.lower() not in (".png", ".html", ".htm"):
        _fail(f"parcours report kpi: --chart must end in .png or .html, got {chart.name!r}")
    settings = Settings.from_env()
    if not settings.database_url:
        _fail("parcours report kpi: DATABASE_URL is not set (the indicators are computed from the PostgreSQL read model)")
    try:
        report, parts = asyncio.run(_compute(settings.database_url, start, end, territory, ag_counsellors,
                                             exclude_adopted, RULE_SETS if by_rule_set else ()))
    except (OSError, asyncio.TimeoutError) as exc:
        _fail(f"parcours report kpi: cannot reach the database: {exc}", FAILURE)
    except Exception as exc:  # asyncpg errors: missing tables (migrations not applied), permissions…
        if type(exc).__module__.startswith("asyncpg"):
            _fail(f"parcours report kpi: database error: {exc} (run `parcours db migrate`?)", FAILURE)
        raise
    if chart is not None:
        try:
            write_chart(report, chart)
        except ChartUnavailable as exc:
            _fail(f"parcours report kpi: {exc}")
        except OSError as exc:
            _fail(f"parcours report kpi: cannot write {chart}: {exc.strerror or exc}", FAILURE)
    if output is OutputFormat.json:
        document = report_json(report)
        if by_rule_set:
            document["by_rule_set"] = [{"rule_set": rules.version, "contract_kind": rules.contract_kind.value,
                                        **report_json(part)} for rules, part in parts]
        typer.echo(json.dumps(document, ensure_ascii=False))
    elif output is OutputFormat.csv:
        typer.echo(report_csv(report, parts if by_rule_set else None), nl=False)
    else:
        _print_table(report)
        for rules, part in parts:
            Console().print(f"[bold]Règles {rules.version}[/bold] (en vigueur depuis le "
                            f"{rules.effective_from.isoformat()}, contrat : {rules.contract_kind.value})")
            _print_table(part)


# ---------------------------------------------------------------- formats


def report_json(report: KpiReport) -> dict:
    return {
        "from": report.period_from.isoformat(),
        "to": report.period_to.isoformat(),
        "territory": report.territory,
        "indicators": [line.model_dump(mode="json") for line in report.indicators],
        "orientation_delays": [bucket.model_dump() for bucket in report.orientation_delays],
        "global_by_counsellor": report.global_by_counsellor,
    }


def report_csv(report: KpiReport, parts: list[tuple[RuleSet, KpiReport]] | None = None) -> str:
    """One line per indicator; with ``parts`` (``--by-rule-set``), two leading columns name the rule set and its
    contract kind (``all`` and empty for the whole report)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((("rule_set", "contract_kind") if parts is not None else ()) + CSV_COLUMNS)
    sections = [("all", "", report)] + [(r.version, r.contract_kind.value, part) for r, part in parts or []]
    for version, kind, each in sections if parts is not None else [(None, None, report)]:
        _csv_lines(writer, each, [] if version is None else [version, kind])
    return out.getvalue()


def _csv_lines(writer, report: KpiReport, prefix: list[str]) -> None:
    for line in report.indicators:
        writer.writerow([
            *prefix,
            line.section.value, line.key, line.name, _plain(line.count), _plain(line.base), _plain(line.rate, 4),
            _plain(line.value, 1), _plain(line.reference_2021), _plain(line.target_2022), _plain(line.reference_2022),
            _plain(line.reference_2022_rate, 4),
        ])


def _plain(value: float | int | None, digits: int | None = None) -> str:
    if value is None:
        return ""
    if digits is not None:
        return f"{value:.{digits}f}"
    return str(int(value)) if float(value).is_integer() else str(value)


def _fr(value: float | None, unit: Unit, *, digits: int = 1) -> str:
    """French display: 98,2 %, 16,7 j, 6 060."""
    if value is None:
        return "—"
    if unit is Unit.RATE:
        return f"{value * 100:.{digits}f} %".replace(".", ",")
    if unit is Unit.DAYS:
        return f"{value:.{digits}f} j".replace(".", ",")
    if unit is Unit.AVERAGE:
        return f"{value:.{digits}f}".replace(".", ",")
    return f"{int(value):,}".replace(",", "\u202f") if float(value).is_integer() else str(value).replace(".", ",")


def _print_table(report: KpiReport) -> None:
    console = Console()
    scope = report.territory or "tous territoires"
    console.print(f"[bold]Indicateurs[/bold] du {report.period_from.isoformat()} au {report.period_to.isoformat()}"
                  f" — {scope}")
    table = Table()
    table.add_column("§")
    table.add_column("Indicateur", overflow="fold", max_width=60)
    table.add_column("Valeur", justify="right")
    table.add_column("Base", justify="right")
    table.add_column("Taux", justify="right")
    table.add_column("2022", justify="right")
    table.add_column("Taux 2022", justify="right")
    table.add_column("Objectif 2022", justify="right")
    for line in report.indicators:
        if line.unit in (Unit.DAYS, Unit.AVERAGE):
            measured = _fr(line.value, line.unit)
        else:
            measured = _fr(line.count, Unit.COUNT)
        measured_rate = _fr(line.rate, Unit.RATE)
        headline = Unit.RATE if line.unit is Unit.RATE else line.unit
        table.add_row(
            line.section.value, line.name, measured, _fr(line.base, Unit.COUNT), measured_rate,
            _fr(line.reference_2022, headline), _fr(line.reference_2022_rate, Unit.RATE),
            _fr(line.target_2022, headline),
        )
    console.print(table)


# ---------------------------------------------------------------- chart


class ChartUnavailable(Exception):
    """The chart cannot be drawn in this format here (PNG without matplotlib)."""


def write_chart(report: KpiReport, path: Path) -> None:
    if path.suffix.lower() == ".png":
        _write_png(report, path)
    else:
        path.write_text(chart_html(report), encoding="utf-8")


def _bins(buckets: list[DelayBucket]) -> tuple[int, list[DelayBucket]]:
    """Daily bars up to 3 months of delay; weekly bars beyond, so the chart stays readable."""
    days = [b.days for b in buckets]
    high = max([*days, 35])
    width = 1 if high <= 92 else 7
    low = min([0, *days])
    merged: dict[int, DelayBucket] = {}
    for b in buckets:
        start = low + ((b.days - low) // width) * width
        bar = merged.setdefault(start, DelayBucket(days=start))
        bar.within += b.within
        bar.late += b.late
    return width, [merged.get(start, DelayBucket(days=start)) for start in range(low, high + 1, width)]


def _summary(report: KpiReport) -> str:
    oriented = sum(b.within + b.late for b in report.orientation_delays)
    within = sum(b.within for b in report.orientation_delays)
    share = f" ({within / oriented * 100:.1f} %)".replace(".", ",") if oriented else ""
    scope = report.territory or "tous territoires"
    return (f"{oriented} orientations de nouveaux entrants du {report.period_from.isoformat()} au "
            f"{report.period_to.isoformat()} ({scope}) ; {within} en 1 mois et moins{share}")


def chart_html(report: KpiReport) -> str:
    """A standalone HTML page: stacked bars (within the month / late) and the 1-month target band."""
    width, bars = _bins(report.orientation_delays)
    left, top, plot_w, plot_h = 60, 30, 860, 320
    peak = max([b.within + b.late for b in bars] + [1])
    low = bars[0].days
    span = bars[-1].days + width - low
    step = plot_w / len(bars)

    def x_of(day: float) -> float:
        return left + (day - low) / span * plot_w

    def y_of(count: float) -> float:
        return top + plot_h - count / peak * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + plot_w + 20}" height="{top + plot_h + 60}" '
        'role="img" aria-label="Distribution des délais d\'orientation" font-family="sans-serif" font-size="12">',
        # 1 calendar month is 28 to 31 days: the band shows where the target falls depending on the entry month.
        f'<rect class="target" x="{x_of(28):.1f}" y="{top}" width="{x_of(32) - x_of(28):.1f}" height="{plot_h}" '
        'fill="#ffe8a3" opacity="0.6"><title>Objectif : orientation en 1 mois et moins (28 à 31 jours)</title></rect>',
        f'<text x="{x_of(28):.1f}" y="{top - 8}" fill="#7a5b00">objectif : {ORIENTATION_TARGET_MONTHS} mois</text>',
    ]
    for index, bar in enumerate(bars):
        x = left + index * step
        label = f"{bar.days} j" if width == 1 else f"{bar.days}–{bar.days + width - 1} j"
        for count, base, colour, css, kind in ((bar.within, 0, "#2e7d32", "within", "en 1 mois et moins"),
                                               (bar.late, bar.within, "#c62828", "late", "au-delà du mois")):
            if count:
                parts.append(
                    f'<rect class="bar {css}" x="{x + 0.5:.1f}" '
                    f'y="{y_of(base + count):.1f}" width="{max(step - 1, 1):.1f}" '
                    f'height="{y_of(base) - y_of(base + count):.1f}" fill="{colour}">'
                    f"<title>{html.escape(label)} : {count} {kind}</title></rect>"
                )
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>')
    tick = 7 if width == 1 else 28
    for day in range(low - low % tick, bars[-1].days + width + 1, tick):
        if day >= low:
            parts.append(f'<text x="{x_of(day):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{day}</text>')
    for count in sorted({0, peak // 2, peak}):
        parts.append(f'<text x="{left - 6}" y="{y_of(count) + 4:.1f}" text-anchor="end">{count}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 40}" text-anchor="middle">'
                 "jours entre l'entrée (transmission CAF) et la notification de l'orientation, pauses déduites</text>")
    parts.append("</svg>")
    legend = ('<p><span style="color:#2e7d32">■</span> orientés en 1 mois et moins &nbsp; '
              '<span style="color:#c62828">■</span> au-delà &nbsp; '
              '<span style="color:#d8b34a">■</span> objectif : 1 mois (28 à 31 jours selon le mois d\'entrée)</p>')
    return (
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">"
        "<title>Délais d'orientation des nouveaux entrants</title></head><body>\n"
        "<h1>Délais d'orientation des nouveaux entrants</h1>\n"
        f"<p>{html.escape(_summary(report))}</p>\n{legend}\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def _write_png(report: KpiReport, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError as exc:
        raise ChartUnavailable(
            "a PNG chart needs matplotlib (pip install 'parcours-rsa[charts]'); an .html chart needs nothing"
        ) from exc
    width, bars = _bins(report.orientation_delays)
    days = [b.days for b in bars]
    within = [b.within for b in bars]
    late = [b.late for b in bars]
    figure, axes = pyplot.subplots(figsize=(10, 4.5), dpi=100)
    try:
        axes.axvspan(28 - width / 2, 31 + width / 2, color="#ffe8a3", alpha=0.6, label="objectif : 1 mois (28–31 j)")
        axes.bar(days, within, width=width * 0.9, color="#2e7d32", label="en 1 mois et moins")
        axes.bar(days, late, width=width * 0.9, bottom=within, color="#c62828", label="au-delà du mois")
        axes.set_xlabel("jours entre l'entrée et la notification de l'orientation (pauses déduites)")
        axes.set_ylabel("nouveaux entrants")
        axes.set_title(_summary(report), fontsize=9)
        axes.legend()
        figure.tight_layout()
        figure.savefig(path, format="png")
    finally:
        pyplot.close(figure)

