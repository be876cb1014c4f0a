"""Synthetic caseloads (tests, benchmark, demos): every adoptable stage, dates consistent with the rules, NIRs
(13 or 15 characters) or CAF matricule + rank. Fictitious people only."""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from pathlib import Path

from domain.caseload import ADOPTABLE_STAGES, CASELOAD_FIELDS
from domain.deadlines import add_months
from domain.identity import nir_key
from domain.pathway import Stage
from domain.rules import RULESET_2025

#: The example mapping's headers (docs/caseload.md, tests/fixtures/caseload/).
HEADERS = {"nir": "NIR", "matricule": "Matricule CAF", "rank": "Rang", "territory": "Territoire", "stage": "Etape",
           "caf_transmission_date": "Date transmission CAF", "orientation_notified_on": "Date notification orientation",
           "referent_designated_on": "Date désignation référent", "cer_start": "Début CER", "cer_end": "Fin CER",
           "end_of_payment": "Fin de droit", "exit_choice": "Choix du référent", "exit_choice_on": "Date du choix",
           "orientation_target": "Orientation", "referent_structure": "Structure", "rule_set": "Règles",
           "first_appointment_on": "Date premier rendez-vous", "preconisation_on": "Date préconisation",
           "preconisation_target": "Préconisation", "preconisation_structure": "Structure préconisée",
           "caf_saisine_on": "Date saisine CAF", "caf_saisine_mode": "Mode saisine CAF",
           "personal_review_requested_on": "Date demande examen situation", "held_stage": "Etape suspendue",
           "reorientation_requested_on": "Date demande réorientation", "reorientation_reason": "Motif réorientation",
           "reorientation_kind": "Réorientation ou sortie", "non_compliance_kind": "Manquement",
           "ep_referral_on": "Date saisine EP", "ep_decided_on": "Date avis EP", "sanction_outcome": "Sanction",
           "sanction_decided_on": "Date sanction", "sanction_share_percent": "Part sanction %",
           "sanction_months": "Durée sanction mois", "not_subject_since": "Non soumis depuis",
           "sanction_failure": "Manquement 2025", "remobilised_on": "Date remobilisation",
           "remobilisation": "Remobilisation", "first_sanction_decided_on": "Date 1re suspension 2025",
           "first_sanction_share_percent": "Part 1re suspension %", "first_sanction_months": "Durée 1re suspension mois"}
CAF_ROUTE = (Stage.CAF_SAISINE, Stage.CAF_FIRST_INTERVIEW, Stage.CER_DRAFTING)
PLATFORM_PHASE = (Stage.PLATFORM_FIRST_APPOINTMENT, Stage.PLATFORM_DIAGNOSTIC_AND_FIRST_CER,
                  Stage.AWAITING_SLAI_VALIDATION)
REFERENT_TARGETS = ("REFERENT_SOLIDARITE", "REFERENT_SOCIOPRO", "PLIE", "POLE_EMPLOI_AG")
#: The stages each hold is generated over, in turn (domain.caseload_holds).
HOLD_BASES = {Stage.REORIENTATION_REQUESTED: (Stage.REFERENT_DESIGNATED, Stage.CER_ACTIVE, Stage.BILAN),
              Stage.NON_COMPLIANCE_EP: (Stage.PLATFORM_FIRST_APPOINTMENT, Stage.CER_ACTIVE, Stage.REFERENT_DESIGNATED,
                                        Stage.AWAITING_ORIENTATION),
              Stage.SANCTION_PROCEDURE: (Stage.CER_ACTIVE, Stage.REFERENT_DESIGNATED),
              Stage.NOT_SUBJECT: (Stage.DETECTED, Stage.AWAITING_ORIENTATION, Stage.CER_ACTIVE,
                                  Stage.REFERENT_DESIGNATED)}
_BASE_DATES = ("caf_transmission_date", "caf_saisine_on", "orientation_notified_on", "referent_designated_on",
               "cer_start", "preconisation_on")


def _nir(rng: random.Random, index: int, with_key: bool) -> str:
    body = f"{rng.choice('12')}{rng.randint(50, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 95):02d}" \
           f"{rng.randint(1, 999):03d}{index % 1000:03d}"
    return body + (f"{nir_key(body):02d}" if with_key else "")


def _d(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def caseload_row(stage: Stage, index: int, today: date, rng: random.Random, *, extras: bool = True) -> dict[str, str]:
    """One consistent row at ``stage`` on ``today`` (field names; ``HEADERS`` gives the file's headers); with
    ``extras``, every few rows of a stage a CER on the CAF route or a sanction in force."""
    if stage in HOLD_BASES:
        return _hold(stage, index, today, rng)
    if stage is Stage.CLOSED:
        return _closed(index, today, rng)
    row = _row(stage, index, today, rng)
    turn = index // len(ADOPTABLE_STAGES)
    if extras and stage in (Stage.CER_ACTIVE, Stage.BILAN) and turn % 4 == 2:
        _caf_before_cer(row, index, rng)
    if extras and stage is Stage.CER_ACTIVE and turn % 3 == 1:
        _sanction(row, today, rng, index)
    return row


def _row(stage: Stage, index: int, today: date, rng: random.Random) -> dict[str, str]:
    row = {"territory": f"T{index % 7 + 1}", "stage": stage.value}
    if index % 5 == 4:
        row.update(matricule=f"{9000000 + index}", rank=str(index % 3 + 1))
    else:
        row["nir"] = _nir(rng, index, with_key=index % 2 == 0)
    if stage is Stage.AWAITING_ORIENTATION:
        row["caf_transmission_date"] = _d(today - timedelta(days=rng.randint(0, 25)))
        return row
    if stage in CAF_ROUTE:
        return _caf_route(row, stage, index, today, rng)
    if stage is Stage.ORIENTED_TO_PLATFORM:
        oriented = today - timedelta(days=rng.randint(0, 10))
        row.update(orientation_target="PLATFORM", referent_structure=f"PF{index % 3}")
    elif stage in PLATFORM_PHASE:
        oriented = _platform_phase(row, stage, index, today, rng)
    elif stage is Stage.REFERENT_DESIGNATED:
        oriented = today - timedelta(days=rng.randint(0, 40))
        row["referent_designated_on"] = _d(oriented + timedelta(days=rng.randint(0, (today - oriented).days)))
    elif stage is Stage.PERSONAL_SITUATION_REVIEW:
        oriented = _review(row, index, today, rng)
    elif stage in (Stage.CER_ACTIVE, Stage.BILAN):
        if stage is Stage.CER_ACTIVE:
            start = today - timedelta(days=rng.randint(0, 150))
            end = max(add_months(start, 6) - timedelta(days=rng.randint(0, 20)), today)
        else:
            end = today - timedelta(days=rng.randint(1, 14))
            start = add_months(end, -6) + timedelta(days=rng.randint(0, 30))
        row.update(cer_start=_d(start), cer_end=_d(end))
        oriented = start - timedelta(days=rng.randint(0, 400))
    else:
        exit_on = today - timedelta(days=rng.randint(0, 14) if stage is Stage.EXIT_CHOICE_PENDING else rng.randint(15, 150))
        row["end_of_payment"] = _d(exit_on)
        if stage is Stage.POST_EXIT_ACCOMPANIMENT:
            row.update(exit_choice="CONTINUE", exit_choice_on=_d(exit_on + timedelta(days=rng.randint(0, 14))))
        oriented = exit_on - timedelta(days=rng.randint(30, 300))
    if stage is not Stage.ORIENTED_TO_PLATFORM and stage not in PLATFORM_PHASE:
        target = REFERENT_TARGETS[index % 4] if stage is not Stage.EXIT_CHOICE_PENDING or index % 2 else "PLATFORM"
        row.update(orientation_target=target, referent_structure=f"S{index % 11}")
    row["orientation_notified_on"] = _d(oriented)
    row["caf_transmission_date"] = _d(oriented - timedelta(days=rng.randint(0, 25)))
    return row


def _platform_phase(row: dict[str, str], stage: Stage, index: int, today: date, rng: random.Random) -> date:
    """A platform case whose clocks are all met so far: an appointment within the 14 days, a préconisation within
    the 2 months (and recent enough for the SLAI's 10 working days to lie ahead). Returns the orientation day."""
    row.update(orientation_target="PLATFORM", referent_structure=f"PF{index % 3}")
    if stage is Stage.AWAITING_SLAI_VALIDATION:
        preconisation = today - timedelta(days=rng.randint(0, 7))
        oriented = preconisation - timedelta(days=rng.randint(0, 50))
        row.update(preconisation_on=_d(preconisation), preconisation_target=REFERENT_TARGETS[index % 4],
                   preconisation_structure=f"S{index % 11}")
        return oriented
    oriented = today - timedelta(days=rng.randint(0, 10 if stage is Stage.PLATFORM_FIRST_APPOINTMENT else 50))
    latest = 13 if stage is Stage.PLATFORM_FIRST_APPOINTMENT else min(13, (today - oriented).days)
    row["first_appointment_on"] = _d(oriented + timedelta(days=rng.randint(0, latest)))
    return oriented


def _review(row: dict[str, str], index: int, today: date, rng: random.Random) -> date:
    """A review requested before any clock fell due, over a current CER (every other row) or a designation."""
    requested = today - timedelta(days=rng.randint(0, 60))
    row["personal_review_requested_on"] = _d(requested)
    if index % 2:
        return requested - timedelta(days=rng.randint(0, 40))
    start = requested - timedelta(days=rng.randint(0, 100))
    end = max(add_months(start, 6) - timedelta(days=rng.randint(0, 20)), today + timedelta(days=1))
    row.update(cer_start=_d(start), cer_end=_d(end))
    return start - timedelta(days=rng.randint(0, 400))


def _caf_route(row: dict[str, str], stage: Stage, index: int, today: date, rng: random.Random) -> dict[str, str]:
    """A CAF route case (§3.2) whose orientation came within the month: the saisine, its acceptance, the interview."""
    row.update(orientation_target="CAF", referent_structure=f"CAF{index % 2}", caf_saisine_mode=f"M{index % 3 + 1}")
    if stage is Stage.CAF_SAISINE:
        transmission = today - timedelta(days=rng.randint(0, 25))
        saisine = transmission + timedelta(days=rng.randint(0, (today - transmission).days))
    else:
        accepted = today - timedelta(days=rng.randint(0, 50))
        saisine = accepted - timedelta(days=rng.randint(0, 10))
        transmission = saisine - timedelta(days=rng.randint(0, 15))
        row["orientation_notified_on"] = _d(accepted)
        if stage is Stage.CER_DRAFTING:
            row["first_appointment_on"] = _d(accepted + timedelta(days=rng.randint(0, (today - accepted).days)))
    row.update(caf_transmission_date=_d(transmission), caf_saisine_on=_d(saisine))
    return row


def _day(text: str) -> date:
    day, month, year = text.split("/")
    return date(int(year), int(month), int(day))


def _between(first: date, today: date, rng: random.Random) -> date:
    return first + timedelta(days=rng.randint(0, max(0, (today - first).days)))


def _hold(stage: Stage, index: int, today: date, rng: random.Random) -> dict[str, str]:
    """A hold over one of its bases in turn, opened after the base's own dates and before any clock fell due."""
    bases = HOLD_BASES[stage]
    base = bases[(index // len(ADOPTABLE_STAGES)) % len(bases)]
    if base is Stage.DETECTED:  # never subject: the first flow said « non soumis »
        row = _row(Stage.AWAITING_ORIENTATION, index, today, rng)
        row.update(stage=stage.value, not_subject_since=row["caf_transmission_date"])
        return row
    row = caseload_row(base, index, today, rng, extras=False)
    row.update(stage=stage.value, held_stage=base.value)
    dates = [_day(row[n]) for n in _BASE_DATES if row.get(n)]
    if row.get("first_appointment_on") and base is not Stage.PLATFORM_FIRST_APPOINTMENT:
        dates.append(_day(row["first_appointment_on"]))
    if base is Stage.BILAN:
        dates.append(_day(row["cer_end"]))  # a same-sphere reason, at the CER's end (§3.5)
    day = _between(max(dates), today, rng)
    if stage is Stage.REORIENTATION_REQUESTED:
        reason = "EPUISEMENT" if base is Stage.BILAN else "REPRISE_VIE_MARITALE"
        row.update(reorientation_requested_on=_d(day), reorientation_reason=reason,
                   reorientation_kind="EXIT" if index % 2 and base is not Stage.BILAN else "REORIENTATION")
    elif stage is Stage.NOT_SUBJECT:
        row["not_subject_since"] = _d(day)
    else:
        row.update(non_compliance_kind="UNEXCUSED_ABSENCE" if index % 2 else "NON_ADHESION", ep_referral_on=_d(day))
        if stage is Stage.SANCTION_PROCEDURE:
            row["ep_decided_on"] = _d(_between(day, today, rng))
    return row


def _closed(index: int, today: date, rng: random.Random) -> dict[str, str]:
    """Closed after leaving RSA, within the 6 months a re-entry keeps the referent (T25): the referent chose to close,
    or did not choose within 15 days, or the person left before being oriented."""
    kind = (index // len(ADOPTABLE_STAGES)) % 3
    if kind == 2:
        row = _row(Stage.AWAITING_ORIENTATION, index, today, rng)
        left = _between(_day(row["caf_transmission_date"]), today, rng)
        row.update(stage=Stage.CLOSED.value, end_of_payment=_d(left))
        return row
    row = _row(Stage.EXIT_CHOICE_PENDING, index, today, rng)
    exit_on = today - timedelta(days=rng.randint(16, 150))
    row.update(stage=Stage.CLOSED.value, end_of_payment=_d(exit_on),
               orientation_notified_on=_d(exit_on - timedelta(days=rng.randint(30, 300))))
    row["caf_transmission_date"] = _d(_day(row["orientation_notified_on"]) - timedelta(days=rng.randint(0, 25)))
    if kind == 0:
        row.update(exit_choice="CLOSE", exit_choice_on=_d(exit_on + timedelta(days=rng.randint(0, 14))))
    return row


def _caf_before_cer(row: dict[str, str], index: int, rng: random.Random) -> None:
    """A CER on the CAF route (§3.2): the saisine accepted within the month, the first interview held, the CER."""
    start = _day(row["cer_start"])
    accepted = start - timedelta(days=rng.randint(0, 50))
    saisine = accepted - timedelta(days=rng.randint(0, 10))
    row.update(orientation_target="CAF", referent_structure=f"CAF{index % 2}", caf_saisine_mode=f"M{index % 3 + 1}",
               orientation_notified_on=_d(accepted), caf_saisine_on=_d(saisine),
               caf_transmission_date=_d(saisine - timedelta(days=rng.randint(0, 15))))
    if index % 2:
        row["first_appointment_on"] = _d(accepted + timedelta(days=rng.randint(0, (start - accepted).days)))


def _sanction(row: dict[str, str], today: date, rng: random.Random, index: int) -> None:
    """A reduction or suspension decided after an EP referral during the current CER (G-B14); every other
    suspension on a 2025 case, a suspension-remobilisation (§8.3), half of them with the remobilisation, some
    repeated (after a first one)."""
    referral = _between(_day(row["cer_start"]), today, rng)
    reduction = index % 2 == 0
    decided = _between(referral, today, rng)
    row.update(non_compliance_kind="NON_ADHESION", ep_referral_on=_d(referral), sanction_decided_on=_d(decided),
               sanction_outcome="REDUCTION" if reduction else "SUSPENSION",
               sanction_share_percent="30" if reduction else "100", sanction_months=str(rng.randint(1, 4)))
    if reduction or index % 4 != 1 or _day(row["caf_transmission_date"]) < RULESET_2025.effective_from \
            or decided < RULESET_2025.suspension_remobilisation_from:
        return
    row.update(rule_set=RULESET_2025.version, sanction_outcome="SUSPENSION_REMOBILISATION", sanction_failure="FIRST",
               sanction_share_percent=str(rng.choice((30, 50, 100))), sanction_months=str(rng.randint(1, 2)))
    cer_start = _day(row["cer_start"])
    if index % 8 == 5 and referral > cer_start:  # a repeated failure, after a first one during the same CER
        row.update(sanction_failure="REPEATED", sanction_months=str(rng.randint(1, 4)),
                   first_sanction_decided_on=_d(_between(cer_start, referral - timedelta(days=1), rng)),
                   first_sanction_share_percent="30", first_sanction_months=str(rng.randint(1, 2)))
    if index % 8 == 1:
        row.update(remobilised_on=_d(_between(decided, today, rng)),
                   remobilisation="REPAYMENT" if index % 16 == 1 else "SUPPRESSION")


def caseload_rows(count: int, today: date, seed: int = 19) -> list[dict[str, str]]:
    """``count`` rows, the adoptable stages in turn."""
    rng = random.Random(seed)
    return [caseload_row(ADOPTABLE_STAGES[i % len(ADOPTABLE_STAGES)], i, today, rng) for i in range(count)]


def write_caseload_csv(path: str | Path, rows: list[dict[str, str]]) -> Path:
    """Write rows with the example mapping's headers, ``;``-separated (docs/caseload.md)."""
    path = Path(path)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow([HEADERS[f] for f in CASELOAD_FIELDS])
        for row in rows:
            writer.writerow([row.get(f, "") for f in CASELOAD_FIELDS])
    return path
