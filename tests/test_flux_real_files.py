"""Real-shaped CAF/MSA files (tests/fixtures/real, written by tests/real_flux_files.py from domain.md §8.1):
each imports with the counts a user expects; other CNAF flows are refused; hostile inputs never print a
traceback, through the CLI as a user runs it (subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from activities.cnaf_parser import CnafFluxReader, FluxRefused
from domain.flux import FluxHeader, RightState
from domain.flux_events import observations_for_household, starts_pathway
from domain.identity import person_id
from tests.real_flux_files import FILES, OUT, SAME_PERSON, Flow, flow_text, with_key

REPO = Path(__file__).resolve().parent.parent
SECRET = b"real-files-secret"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workers.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def dry_run(path: Path) -> dict:
    done = cli("flux", "import", str(path), "--dry-run", "--format", "json")
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)


def read(name: str) -> tuple[CnafFluxReader, list]:
    reader = CnafFluxReader(OUT / name)
    return reader, list(reader)


def test_the_fixture_files_are_the_ones_the_builder_writes():
    for name, flow in FILES.items():
        assert (OUT / name).read_bytes() == flow_text(flow).replace("\n", "\r\n").encode("cp1252"), name


def test_caf_monthly_file_with_13_character_nirs():
    summary = dry_run(OUT / "caf_monthly_nir13.xml")
    assert summary == {"households": 4, "persons": 6, "subject_to_duties": 4, "subject_to_duties_unknown": 0,
                       "rejected": [], "warnings": []}
    reader, records = read("caf_monthly_nir13.xml")
    couple = records[0].household
    assert [p.nir for p in couple.persons] == [SAME_PERSON, "1830862041456", None]
    assert [p.role for p in couple.persons] == ["DEM", "CJT", "ENF"]  # the RSA block's role, not the PFA one
    assert couple.persons[1].first_name == "Éric" and couple.no_fixed_abode is False  # windows-1252, "false"
    assert [r.household.commune for r in records] == ["62041", "59350", "62041", "62999"]
    assert reader.layout == "vrsb0801" and reader.header.creation_date == date(2025, 3, 5)
    assert reader.file_warnings() == []


def test_msa_daily_file_without_montant_calcul():
    summary = dry_run(OUT / "msa_daily_without_montant.xml")
    assert (summary["households"], summary["persons"], summary["subject_to_duties"],
            summary["subject_to_duties_unknown"], summary["rejected"]) == (2, 3, 0, 3, [])
    assert summary["warnings"] == [{"position": 0, "reason": "trailer_mismatch: NBTOTDOSRSATRANSM announces 1 "
                                                              "households, the file holds 2"}]
    _, records = read("msa_daily_without_montant.xml")
    observations = observations_for_household(records[0].household, FluxHeader(creation_date=date(2025, 3, 5)),
                                              secret=SECRET, source="MSA")
    assert [o.subject_to_duties for o in observations] == [None] and not starts_pathway(observations[0])


def test_same_person_same_id_from_the_caf_file_the_msa_file_and_the_api():
    from workers.api import NirBody

    _, caf = read("caf_monthly_nir13.xml")
    _, msa = read("msa_daily_without_montant.xml")
    caf_nir, msa_nir = caf[0].household.persons[0].nir, msa[0].household.persons[0].nir
    assert (len(caf_nir), len(msa_nir)) == (13, 15) and msa_nir == with_key(SAME_PERSON)
    header = FluxHeader(creation_date=date(2025, 3, 5))
    from_caf = observations_for_household(caf[0].household, header, secret=SECRET)[0].person_id
    from_msa = observations_for_household(msa[0].household, header, secret=SECRET, source="MSA")[0].person_id
    for typed in (SAME_PERSON, with_key(SAME_PERSON), "2 85 08 62 041 123"):
        assert person_id(NirBody(nir=typed).nir.get_secret_value(), SECRET) == from_caf == from_msa


def test_vrsd0301_layout():
    summary = dry_run(OUT / "vrsd0301.xml")
    assert (summary["households"], summary["persons"], summary["subject_to_duties"],
            summary["subject_to_duties_unknown"], summary["rejected"]) == (3, 4, 3, 0, [])
    assert [(w["position"], w["reason"].split(":")[0]) for w in summary["warnings"]] == [(3, "unknown_moticlorsa")]
    reader, records = read("vrsd0301.xml")
    assert reader.layout == "vrsd0301"
    first, suspended, closed = (r.household for r in records)
    assert [p.role for p in first.persons] == ["BEN", "CJT"] and [p.subject_to_duties for p in first.persons] == [
        True, False]
    assert suspended.right_state is RightState.OPEN_PAYMENT_SUSPENDED and suspended.suspension_reasons == ("01",)
    assert closed.closure_reason == "CCG" and closed.closure_date == date(2025, 2, 28)


def test_vrsd0301_is_recognised_by_its_elements_when_the_version_says_nothing(tmp_path):
    from tests.real_flux_files import VRSD0301

    path = tmp_path / "v.xml"
    path.write_bytes(flow_text(Flow(foyers=VRSD0301.foyers[:1], version="6200", vrsd=True)).encode("cp1252"))
    reader = CnafFluxReader(path)
    assert [r.accepted for r in reader] == [True] and reader.layout == "vrsd0301"


def test_suspension_codes_19_and_78_are_kept_and_warned():
    summary = dry_run(OUT / "codes_19_78.xml")
    assert (summary["households"], summary["persons"], summary["subject_to_duties"], summary["rejected"]) == (
        3, 3, 3, [])
    assert [(w["position"], w["reason"]) for w in summary["warnings"]] == [
        (1, "unknown_motisusversrsa: MOTISUSVERSRSA code '19' not in the known list (kept as read)"),
        (2, "unknown_motisusversrsa: MOTISUSVERSRSA code '78' not in the known list (kept as read)")]
    _, records = read("codes_19_78.xml")
    assert [r.household.suspension_reasons for r in records] == [("19",), ("78",), ("06",)]


@pytest.mark.parametrize(("name", "flow"), [("instruction.xml", "instruction"), ("financier.xml", "financier"),
                                           ("instruction_without_schema.xml", "instruction")])
def test_other_cnaf_flows_are_refused_with_exit_2_naming_the_flow(name, flow):
    done = cli("flux", "import", str(OUT / name), "--dry-run", "--format", "json")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and f"{flow} flow" in done.stderr and "refused" in done.stderr
    with pytest.raises(FluxRefused, match=flow):
        list(CnafFluxReader(OUT / name))


def test_a_schema_of_another_flow_is_refused_even_without_its_elements(tmp_path):
    path = tmp_path / "other.xml"
    path.write_bytes(flow_text(Flow(foyers=[], schema="vrsf0501.xsd", announced=0)).encode("cp1252"))
    with pytest.raises(FluxRefused, match="vrsf0501.xsd"):
        list(CnafFluxReader(path))
