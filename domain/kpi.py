"""Seed-002 indicators (domain.md §5.1 (a), (c), (e)): exact names, 2022 reference values, rates.

``activities/kpi.py`` counts facts from the pathway events of the read model (G-B21: never from declared or
stored counters); this module names the indicators and turns the counts into rates and averages.

Definitions (the seeds give names and comments; the precise rules below follow domain.md §7.1):

(a) A cohort of new entrants: pathways whose entry date — the CAF daily transmission date of the first flow
    where the person is *soumis aux droits et devoirs* (G-B2) — falls in the period. Each later step counts
    for that cohort whenever it happened (an entrant of 31 January oriented on 28 February counts in January).

    - oriented within 1 month: orientation notified on or before the orientation clock's last day, entry date
      + 1 calendar month clamped to the month's end (31 Jan → 28 Feb; G-B1, §8.2), moved by the days the clock
      was paused (not subject, left RSA: G-B2, T24). The clock's ``due_on`` in ``deadlines`` holds that day.
    - first appointment set: the earliest appointment fixed (scheduled or held); within 2 weeks when the
      appointment's own date is no later than orientation + 14 days (+ paused days) (G-B4).
    - first CER: the first CER that is not a renewal; within 2 months when signed no later than the orientation
      notification + 2 months (+ paused days) [002:3711].
    Bases of the rates, as in the 2022 report's comments: orientation, appointments set and first CERs are
    shares of the new entrants ("98 %", "99 %", "71 %"); appointments within 2 weeks are a share of the
    appointments set ("60 %"), CERs within 2 months a share of the first CERs ("97 %").

(c) Orientations to the accompagnement global (Pôle emploi / France Travail binôme) notified in the period.
    Start delay [DESIGN DEFAULT]: calendar days from the notification to the first appointment held, or to the
    first CER signed if earlier, paused days excluded; the average is over those started.

(b), (d), (f) and the stock of (c) [DESIGN DEFAULT mapping of the seed's offers to the orientation targets]:
    garantie d'activité départementale (hors accompagnement global) = the Département's referents (référent
    solidarité and socio-professionnel), (d) socio-professional = REFERENT_SOCIOPRO, (f) PLIE = PLIE, (c) =
    POLE_EMPLOI_AG. "Orientés" = pathways whose referent (of that kind) was designated in the period — for (b) new
    entrants of the period only ("nouveaux entrants de l'année" [002:3712]); "en cours d'accompagnement" (stock) =
    pathways of that referent kind whose stage at the period's last day (from ``stage_changes``) is one of
    ``ACCOMPANIED_STAGES``. The referent kind is the pathway's current one. Persons per AG counsellor = AG stock /
    counsellors (a parameter: 50 AG portfolios in the agencies [002:291]); the stock per AG referent id is listed.

(e) "Perdus de vue" of the period: subject to rights and duties, past the orientation deadline without
    orientation at some day of the period (an ORIENTATION breach not followed by an orientation before the
    period), plus anyone convoked as such in the period (G-B19, T26). Convoked rate = convoked / perdus de vue;
    sanctioned rate = convoked who did not attend and then entered the sanction procedure (or were closed for
    "non-respect des obligations") / convoked.
"""

from __future__ import annotations

from datetime import date
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

from domain.deadlines import add_days, add_months


class Section(str, Enum):
    ORIENTATION = "a"  # Dynamisation des parcours : Accueil et Accompagnement des bénéficiaires du RSA
    GARANTIE = "b"  # Insertion des allocataires du rsa — garantie d'activité départementale
    GLOBAL = "c"  # Accompagnement global : renforcement des binômes Département
    SOCIO_PRO = "d"  # Accompagnement socio-professionnel des bénéficiaires du RSA
    LOST_FROM_VIEW = "e"  # Zéro bénéficiaire sans accompagnement
    PLIE = "f"  # PLIE - Accompagnement


#: Stages of a person "en cours d'accompagnement" by a designated referent (the stocks of (b), (c), (d), (f)).
ACCOMPANIED_STAGES = ("REFERENT_DESIGNATED", "CAF_FIRST_INTERVIEW", "CER_DRAFTING", "CER_ACTIVE", "BILAN",
                      "REORIENTATION_REQUESTED", "PERSONAL_SITUATION_REVIEW", "NON_COMPLIANCE_EP", "SANCTION_PROCEDURE",
                      "EXIT_CHOICE_PENDING", "POST_EXIT_ACCOMPANIMENT")
#: Referent kinds of each offer (orientation targets).
GARANTIE_TARGETS = ("REFERENT_SOLIDARITE", "REFERENT_SOCIOPRO")
DEFAULT_AG_COUNSELLORS = 50  # "50 portefeuilles AG" in the Pôle emploi agencies [002:291]


class Unit(str, Enum):
    COUNT = "count"  # headline is ``count`` (with a rate when the indicator has a base)
    DAYS = "days"  # headline is ``value``, an average in days
    AVERAGE = "average"  # headline is ``value``, an average count (persons per counsellor)
    RATE = "rate"  # headline is ``rate``


class IndicatorDefinition(BaseModel):
    """One indicator: its exact French name, how it is read, and the values of the 2022 report.

    ``reference_2022`` and ``target_2022`` are in the headline unit (count, days or rate).
    """

    model_config = ConfigDict(frozen=True)

    key: str
    section: Section
    name: str
    unit: Unit
    base: str | None = None  # key of the count this one is a share of
    reference_2021: float | None = None
    target_2022: float | None = None
    reference_2022: float | None = None
    source: str


NEW_ENTRANTS = "new_entrants"
ORIENTED_WITHIN_1_MONTH = "oriented_within_1_month"
FIRST_APPOINTMENTS_SET = "first_appointments_set"
FIRST_APPOINTMENTS_WITHIN_2_WEEKS = "first_appointments_within_2_weeks"
FIRST_CERS = "first_cers"
FIRST_CERS_WITHIN_2_MONTHS = "first_cers_within_2_months"
GLOBAL_ORIENTED = "global_accompaniment_oriented"
GLOBAL_START_DELAY = "global_accompaniment_start_delay"
GARANTIE_ORIENTED = "garantie_oriented"
GARANTIE_IN_PROGRESS = "garantie_in_progress"
GLOBAL_IN_PROGRESS = "global_accompaniment_in_progress"
GLOBAL_PER_COUNSELLOR = "global_accompaniment_per_counsellor"
SOCIO_PRO_ORIENTED = "socio_pro_oriented"
SOCIO_PRO_IN_PROGRESS = "socio_pro_in_progress"
PLIE_IN_PROGRESS = "plie_in_progress"
PLIE_ORIENTED = "plie_oriented"
LOST_FROM_VIEW_CONVOKED = "lost_from_view_convoked"
LOST_FROM_VIEW_SANCTIONED = "lost_from_view_sanctioned"

INDICATORS: tuple[IndicatorDefinition, ...] = (
    IndicatorDefinition(
        key=NEW_ENTRANTS, section=Section.ORIENTATION, unit=Unit.COUNT,
        name="Nombre de nouveaux entrants",
        reference_2021=6596, target_2022=6500, reference_2022=6060, source="[002:400][002:3706]",
    ),
    IndicatorDefinition(
        key=ORIENTED_WITHIN_1_MONTH, section=Section.ORIENTATION, unit=Unit.COUNT, base=NEW_ENTRANTS,
        name="Nombre de nouveaux entrants orientés en 1 mois et moins",
        reference_2021=5673, target_2022=5525, reference_2022=5950, source="[002:401][002:3707]",
    ),
    IndicatorDefinition(
        key=FIRST_APPOINTMENTS_SET, section=Section.ORIENTATION, unit=Unit.COUNT, base=NEW_ENTRANTS,
        name="Nombre total de 1er(s) rendez-vous d'accompagnement fixé(s)",
        reference_2021=6596, target_2022=6500, reference_2022=5973, source="[002:402][002:3708]",
    ),
    IndicatorDefinition(
        key=FIRST_APPOINTMENTS_WITHIN_2_WEEKS, section=Section.ORIENTATION, unit=Unit.COUNT,
        base=FIRST_APPOINTMENTS_SET,
        name="Nombre de 1er(s) rendez-vous fixés dans le délai de 2 semaines",
        reference_2021=5079, target_2022=6200, reference_2022=3612, source="[002:403][002:3709]",
    ),
    IndicatorDefinition(
        key=FIRST_CERS, section=Section.ORIENTATION, unit=Unit.COUNT, base=NEW_ENTRANTS,
        name="Nombre total de 1er(s) contrats d'engagements réciproques",
        reference_2021=6596, target_2022=6500, reference_2022=4300, source="[002:404][002:3710]",
    ),
    IndicatorDefinition(
        key=FIRST_CERS_WITHIN_2_MONTHS, section=Section.ORIENTATION, unit=Unit.COUNT, base=FIRST_CERS,
        name="Nombre de 1er(s) contrats d'engagements réciproques dans les 2 mois",
        reference_2021=4821, target_2022=6500, reference_2022=4181, source="[002:405][002:3711]",
    ),
    IndicatorDefinition(
        key=GARANTIE_ORIENTED, section=Section.GARANTIE, unit=Unit.COUNT,
        name="Nombre de bénéficiaires du RSA orientés vers la garantie d'activité départementale (nouveaux entrants "
             "de l'année) (HORS accompagnement global)",
        reference_2021=10144, target_2022=13773, reference_2022=19238, source="[002:284][002:3712]",
    ),
    IndicatorDefinition(
        key=GARANTIE_IN_PROGRESS, section=Section.GARANTIE, unit=Unit.COUNT,
        name="Nombre de bénéficiaires du RSA en cours d'accompagnement par la garantie départementale "
             "(HORS accompagnement global)",
        reference_2021=21606, target_2022=25874, reference_2022=31339, source="[002:285][002:3713]",
    ),
    IndicatorDefinition(
        key=GLOBAL_ORIENTED, section=Section.GLOBAL, unit=Unit.COUNT,
        name="Nombre de bénéficiaires du RSA orientés vers l'accompagnement global",
        reference_2021=4150, target_2022=4000, reference_2022=4935, source="[002:322][002:3714]",
    ),
    IndicatorDefinition(
        key=GLOBAL_START_DELAY, section=Section.GLOBAL, unit=Unit.DAYS,
        name="Délai moyen du démarrage de l'accompagnement global",
        reference_2021=17.4, target_2022=21, reference_2022=16.7, source="[002:326][002:3718-3719]",
    ),
    IndicatorDefinition(
        key=GLOBAL_IN_PROGRESS, section=Section.GLOBAL, unit=Unit.COUNT,
        name="Nombre de bénéficiaires en cours d'accompagnement par l'accompagnement global",
        reference_2021=4894, target_2022=5000, reference_2022=3104, source="[002:323][002:3715]",
    ),
    IndicatorDefinition(
        key=GLOBAL_PER_COUNSELLOR, section=Section.GLOBAL, unit=Unit.AVERAGE,
        name="Nombre de personnes accompagnées par conseiller dédié à l'accompagnement global",
        reference_2021=60, target_2022=70, reference_2022=62, source="[002:325][002:3716-3717]",
    ),
    IndicatorDefinition(
        key=SOCIO_PRO_ORIENTED, section=Section.SOCIO_PRO, unit=Unit.COUNT,
        name="Nombre de bénéficiaires du RSA orientés",
        reference_2021=None, target_2022=5000, reference_2022=9059, source="[002:485]",
    ),
    IndicatorDefinition(
        key=SOCIO_PRO_IN_PROGRESS, section=Section.SOCIO_PRO, unit=Unit.COUNT,
        name="Nombre de bénéficiaires du RSA en cours d'accompagnement",
        reference_2021=357, target_2022=5357, reference_2022=8536, source="[002:486]",
    ),
    IndicatorDefinition(
        key=LOST_FROM_VIEW_CONVOKED, section=Section.LOST_FROM_VIEW, unit=Unit.RATE, base="lost_from_view",
        name='Taux de BRSA "perdus de vue" convoqués par les services du Département afin d\'être orientés.',
        reference_2021=0.19, target_2022=0.20, reference_2022=0.38, source="[002:547-550]",
    ),
    IndicatorDefinition(
        key=LOST_FROM_VIEW_SANCTIONED, section=Section.LOST_FROM_VIEW, unit=Unit.RATE, base=LOST_FROM_VIEW_CONVOKED,
        name='Taux de BRSA "perdus de vue" convoqués, ne s\'étant pas rendus au rdv et ayant fait l\'objet '
             "d'une sanction.",
        reference_2021=0.08, target_2022=0.10, reference_2022=0.12, source="[002:547-550]",
    ),
    IndicatorDefinition(
        key=PLIE_IN_PROGRESS, section=Section.PLIE, unit=Unit.COUNT,
        name="Nombre de BRSA en cours",
        reference_2021=2884, target_2022=4065, reference_2022=3926, source="[002:768]",
    ),
    IndicatorDefinition(
        key=PLIE_ORIENTED, section=Section.PLIE, unit=Unit.COUNT,
        name="Nombre de BRSA orientés",
        reference_2021=923, target_2022=1181, reference_2022=1042, source="[002:769]",
    ),
)

INDICATOR_BY_KEY = {definition.key: definition for definition in INDICATORS}

#: Target of the orientation-delay chart: "orientés en 1 mois et moins" [002:3707].
ORIENTATION_TARGET_MONTHS = 1


def rate(count: int | None, base: int | None) -> float | None:
    """``count / base``, or None when there is nothing to divide by."""
    if count is None or not base:
        return None
    return count / base


def reference_rate_2022(key: str) -> float | None:
    """The 2022 share of an indicator, computed from the report's own counts (e.g. 5950 / 6060 oriented)."""
    definition = INDICATOR_BY_KEY[key]
    if definition.unit is Unit.RATE:
        return definition.reference_2022
    if definition.base is None or definition.base not in INDICATOR_BY_KEY:
        return None
    base = INDICATOR_BY_KEY[definition.base].reference_2022
    return None if definition.reference_2022 is None or base is None else definition.reference_2022 / base


def orientation_last_day(entry_date: date, paused_days: int = 0, months: int = ORIENTATION_TARGET_MONTHS) -> date:
    """Last day to be "orienté en 1 mois et moins": entry + 1 calendar month (clamped), + paused days."""
    return add_days(add_months(entry_date, months), paused_days)


class DelayBucket(BaseModel):
    """Orientations notified ``days`` counted days after entry (pauses excluded), within the month or late."""

    days: int
    within: int = 0
    late: int = 0


class KpiFacts(BaseModel):
    """Counts taken from the read model for one period and territory (see the module docstring)."""

    new_entrants: int = 0
    oriented: int = 0
    oriented_within_1_month: int = 0
    first_appointments_set: int = 0
    first_appointments_within_2_weeks: int = 0
    first_cers: int = 0
    first_cers_within_2_months: int = 0
    global_accompaniment_oriented: int = 0
    global_accompaniment_started: int = 0
    global_accompaniment_start_days: int = 0  # sum of the start delays of those started
    lost_from_view: int = 0
    lost_from_view_convoked: int = 0
    lost_from_view_sanctioned: int = 0
    garantie_oriented: int = 0
    garantie_in_progress: int = 0
    global_accompaniment_in_progress: int = 0
    global_counsellors: int = DEFAULT_AG_COUNSELLORS
    global_by_counsellor: dict[str, int] = Field(default_factory=dict)  # AG stock per AG referent id
    socio_pro_oriented: int = 0
    socio_pro_in_progress: int = 0
    plie_oriented: int = 0
    plie_in_progress: int = 0
    orientation_delays: list[DelayBucket] = Field(default_factory=list)


class IndicatorValue(BaseModel):
    """One line of the report: the measured value beside the 2022 reference values."""

    key: str
    section: Section
    name: str
    unit: Unit
    count: int | None = None
    base: int | None = None
    rate: float | None = None
    value: float | None = None  # average (days)
    reference_2021: float | None = None
    target_2022: float | None = None
    reference_2022: float | None = None
    reference_2022_rate: float | None = None


class KpiReport(BaseModel):
    period_from: date
    period_to: date
    territory: str | None = None
    indicators: list[IndicatorValue]
    orientation_delays: list[DelayBucket] = Field(default_factory=list)
    global_by_counsellor: dict[str, int] = Field(default_factory=dict)

    def indicator(self, key: str) -> IndicatorValue:
        return next(i for i in self.indicators if i.key == key)


def _measured(key: str, facts: KpiFacts) -> tuple[int | None, int | None, float | None]:
    """(count, base, average) of one indicator."""
    if key == GLOBAL_START_DELAY:
        started = facts.global_accompaniment_started
        average = facts.global_accompaniment_start_days / started if started else None
        return None, started, average
    if key == LOST_FROM_VIEW_CONVOKED:
        return facts.lost_from_view_convoked, facts.lost_from_view, None
    if key == LOST_FROM_VIEW_SANCTIONED:
        return facts.lost_from_view_sanctioned, facts.lost_from_view_convoked, None
    if key == GLOBAL_ORIENTED:
        return facts.global_accompaniment_oriented, None, None
    if key == GLOBAL_PER_COUNSELLOR:
        counsellors = facts.global_counsellors
        average = facts.global_accompaniment_in_progress / counsellors if counsellors else None
        return None, counsellors, average
    definition = INDICATOR_BY_KEY[key]
    count = getattr(facts, key)
    base = getattr(facts, definition.base) if definition.base else None
    return count, base, None


def build_report(facts: KpiFacts, period_from: date, period_to: date, territory: str | None = None) -> KpiReport:
    """The report lines, in the order of the 2022 report."""
    lines = []
    for definition in INDICATORS:
        count, base, average = _measured(definition.key, facts)
        lines.append(IndicatorValue(
            key=definition.key, section=definition.section, name=definition.name, unit=definition.unit,
            count=count, base=base, rate=rate(count, base), value=average,
            reference_2021=definition.reference_2021, target_2022=definition.target_2022,
            reference_2022=definition.reference_2022, reference_2022_rate=reference_rate_2022(definition.key),
        ))
    return KpiReport(period_from=period_from, period_to=period_to, territory=territory, indicators=lines,
                     orientation_delays=sorted(facts.orientation_delays, key=lambda b: b.days),
                     global_by_counsellor=dict(sorted(facts.global_by_counsellor.items())))
