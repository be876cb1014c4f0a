"""CAF route rules (domain.md §3): saisine modes M1–M3, exclusions, GESICA lexicon, quota counters.

The GESICA lexicon (§3.8) ships as data in ``domain/data/gesica.json``; bilans recorded on the CAF route are
validated against it so reporting uses the CAF's own vocabulary.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from domain.pathway import CafSaisine, CafSaisineMode, GesicaOutcome, PathwayRuleError
from domain.rules import RuleSet


@dataclass(frozen=True)
class GesicaDomain:
    name: str
    objectives: frozenset[str]
    steps: frozenset[str]
    outcomes: frozenset[str]


@dataclass(frozen=True)
class GesicaLexicon:
    version: str
    global_outcomes: frozenset[str]
    domains: dict[str, GesicaDomain]


def _load_lexicon() -> GesicaLexicon:
    raw = json.loads(resources.files("domain").joinpath("data/gesica.json").read_text(encoding="utf-8"))
    domains = {
        name: GesicaDomain(name, frozenset(d["objectives"]), frozenset(d["steps"]), frozenset(d["outcomes"]))
        for name, d in raw["domains"].items()
    }
    return GesicaLexicon(raw["version"], frozenset(raw["global_outcomes"]), domains)


#: Loaded once at import (outside the workflow sandbox, domain modules are passed through).
GESICA = _load_lexicon()


def validate_gesica_bilan(global_outcome: str | None, domain_outcomes: list[GesicaOutcome], *, required: bool) -> None:
    """Refuse a bilan whose entries are not in the GESICA lexicon (§3.8); on the CAF route it is required."""
    if global_outcome is None:
        if required:
            raise PathwayRuleError(
                "GESICA_GLOBAL_OUTCOME_REQUIRED",
                "GESICA: a CAF bilan needs a global outcome from the lexicon (Annexe 2) [000:320-322]",
            )
    elif global_outcome not in GESICA.global_outcomes:
        raise PathwayRuleError(
            "GESICA_UNKNOWN_GLOBAL_OUTCOME",
            f"GESICA: global outcome {global_outcome!r} is not in the lexicon (Annexe 2) [000:320-322]",
        )
    for entry in domain_outcomes:
        domain = GESICA.domains.get(entry.domain)
        if domain is None:
            raise PathwayRuleError("GESICA_UNKNOWN_DOMAIN", f"GESICA: unknown domain {entry.domain!r} (Annexe 2)")
        if entry.outcome not in domain.outcomes:
            raise PathwayRuleError(
                "GESICA_UNKNOWN_OUTCOME",
                f"GESICA: {entry.outcome!r} is not a bilan outcome of domain {entry.domain} (Annexe 2)",
            )


def validate_gesica_cer(domain_name: str | None, objectives: list[str], *, required: bool) -> None:
    """§3.8, [000:222]: a CER signed on the CAF route names its GESICA entry domain and at least one of that
    domain's objectives; elsewhere, entries given are still checked against the lexicon."""
    if domain_name is None:
        if required:
            raise PathwayRuleError("GESICA_CER_DOMAIN_REQUIRED",
                                   "GESICA: a CER signed by the CAF names its entry domain (Annexe 2) [000:222]")
        if objectives:
            raise PathwayRuleError("GESICA_CER_DOMAIN_REQUIRED", "GESICA: objectives belong to an entry domain")
        return
    domain = GESICA.domains.get(domain_name)
    if domain is None:
        raise PathwayRuleError("GESICA_UNKNOWN_DOMAIN", f"GESICA: unknown domain {domain_name!r} (Annexe 2)")
    if not objectives:
        raise PathwayRuleError("GESICA_CER_OBJECTIVE_REQUIRED",
                               f"GESICA: a CER in domain {domain_name} names at least one of its objectives (Annexe 2)")
    unknown = [o for o in objectives if o not in domain.objectives]
    if unknown:
        raise PathwayRuleError("GESICA_UNKNOWN_OBJECTIVE",
                               f"GESICA: {unknown[0]!r} is not an objective of domain {domain_name} (Annexe 2)")


# ---------------------------------------------------------------- saisine and exclusions


def check_caf_exclusions(msg: CafSaisine, rules: RuleSet) -> None:
    """§3.3: publics the CAF does not accompany under the RSA scheme; the refusal names the exclusion."""
    if msg.age is not None and msg.age < rules.caf_min_age:
        raise PathwayRuleError(
            "CAF_EXCLUSION_MINOR",
            f"CAF exclusion §3.3: persons under {rules.caf_min_age} are accompanied by the PMI, not the CAF "
            "[000:218] (G-C2)",
        )
    if msg.gens_du_voyage:
        raise PathwayRuleError(
            "CAF_EXCLUSION_GENS_DU_VOYAGE",
            "CAF exclusion §3.3: gens du voyage are accompanied by the Association La Sauvegarde du Nord [000:219]",
        )
    if msg.accompanied_by_departement_service:
        raise PathwayRuleError(
            "CAF_EXCLUSION_ALREADY_ACCOMPANIED",
            "CAF exclusion §3.3: the family is already accompanied by a Département service [000:220]",
        )
    if msg.hosted_in_structure:
        raise PathwayRuleError(
            "CAF_EXCLUSION_HOSTED_IN_STRUCTURE",
            "CAF exclusion §3.3: families hosted in a structure (CHRS, foyer maternel…) are excluded [000:220]",
        )


def check_caf_saisine(msg: CafSaisine, rules: RuleSet) -> None:
    """§3.2 eligibility of the saisine mode, then the §3.3 exclusions."""
    if not msg.rsa_majore:
        raise PathwayRuleError(
            "CAF_SAISINE_NOT_RSA_MAJORE", "CAF saisine §3.2: the CAF route is for families receiving the RSA majoré [000:204]"
        )
    if msg.mode is CafSaisineMode.M1:
        if not msg.followed_by_caf_social_worker:
            raise PathwayRuleError(
                "CAF_SAISINE_M1_NOT_FOLLOWED",
                "CAF saisine M1: the family must already be accompanied by a CAF social worker [000:204]",
            )
        if msg.has_referent_solidarite:
            raise PathwayRuleError(
                "CAF_SAISINE_M1_HAS_REFERENT",
                "CAF saisine M1: only families with no référent solidarité named [000:204]",
            )
    elif msg.mode is CafSaisineMode.M2:
        if msg.family_event is None:
            raise PathwayRuleError(
                "CAF_SAISINE_M2_NO_FAMILY_EVENT",
                "CAF orientation M2: needs a separation, a death of the spouse, or a pregnancy/birth declared by a "
                "single parent [000:206-210]",
            )
    elif msg.mode is CafSaisineMode.M3:
        if not msg.widening_authorised_by_slai:
            raise PathwayRuleError(
                "CAF_SAISINE_M3_NOT_AUTHORISED",
                f"CAF widening M3: only when the SLAI decided to widen because CAF social workers are below "
                f"{rules.caf_per_etp} accompaniments per ETP [000:212] (G-C3)",
            )
    check_caf_exclusions(msg, rules)


# ---------------------------------------------------------------- quota (§3.7)


@dataclass(frozen=True)
class CafQuotaStatus:
    """CAF volumes against the convention (≥ 20 per ETP, 1 300 per year)."""

    year: int
    accompaniments: int
    etp: int
    per_etp: float
    per_etp_target: int
    year_target: int
    per_etp_reached: bool
    year_reached: bool
    widening_possible: bool  # M3 may be opened by the SLAI


def caf_quota_status(year: int, accompaniments: int, rules: RuleSet, etp: int | None = None) -> CafQuotaStatus:
    """``etp`` defaults to 1 300 / 20 = 65 (G-C3)."""
    etp = etp or max(1, rules.caf_per_year // rules.caf_per_etp)
    per_etp = accompaniments / etp
    return CafQuotaStatus(
        year=year,
        accompaniments=accompaniments,
        etp=etp,
        per_etp=round(per_etp, 2),
        per_etp_target=rules.caf_per_etp,
        year_target=rules.caf_per_year,
        per_etp_reached=per_etp >= rules.caf_per_etp,
        year_reached=accompaniments >= rules.caf_per_year,
        widening_possible=per_etp < rules.caf_per_etp,
    )
