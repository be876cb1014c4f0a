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
from tests.flux_import_harness import enc_client  # noqa: F401  (session fixture)
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
    from workers.api.pathways import NirBody

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


# ---------------------------------------------------------------- hostile inputs: never a traceback

_CAF = flow_text(FILES["caf_monthly_nir13.xml"])
_PROLOG = '<?xml version="1.0" encoding="windows-1252"?>\n'
_DOCTYPE_INTERNAL = '<!DOCTYPE Racine [<!ENTITY boom "DUPONT">]>\n'
_DOCTYPE_EXTERNAL = '<!DOCTYPE Racine [<!ENTITY ext SYSTEM "file:///etc/passwd">]>\n'
_LAUGHS = ('<!DOCTYPE Racine [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
           '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>\n')


_ASCII = _CAF
for _accented, _plain in (("BÉTHUNE", "BETHUNE"), ("ÉCOLES", "ECOLES"), ("Éric", "Eric"), ("Cécile", "Cecile"),
                          ("Françoise", "Francoise"), ("Léa", "Lea"), ("Noël", "Noel"), ("Loïc", "Loic")):
    _ASCII = _ASCII.replace(_accented, _plain)


def _with_doctype(doctype: str, entity: str) -> bytes:
    text = _CAF.replace(_PROLOG, _PROLOG + doctype, 1).replace("<NOMNAI>DUPONT</NOMNAI>", f"<NOMNAI>{entity}</NOMNAI>", 1)
    return text.encode("cp1252")


def _first_household_expected(code: str):
    return {"exit": 0, "rejected": {1: code}, "households": 3}


HOSTILE = {
    "internal_entity": (_with_doctype(_DOCTYPE_INTERNAL, "&boom;"), _first_household_expected("unreadable_record")),
    "external_entity": (_with_doctype(_DOCTYPE_EXTERNAL, "&ext;"), _first_household_expected("unreadable_record")),
    "undeclared_entity": (_CAF.replace("<NOMNAI>DUPONT</NOMNAI>", "<NOMNAI>&nope;</NOMNAI>", 1).encode("cp1252"),
                          _first_household_expected("unreadable_record")),
    "billion_laughs": (_with_doctype(_LAUGHS, "&d;"), _first_household_expected("unreadable_record")),
    "entity_in_the_header": (_CAF.replace(_PROLOG, _PROLOG + _DOCTYPE_INTERNAL, 1).replace(
        "<DTCREAFLUX>2025-03-05</DTCREAFLUX>", "<DTCREAFLUX>&boom;</DTCREAFLUX>").encode("cp1252"),
        {"exit": 0, "rejected": {0: "bad_date"}, "households": 4}),
    "c14n_relative_namespace": (_CAF.replace("<InfosFoyerRSA>", '<InfosFoyerRSA xmlns:r="relative/uri">', 1)
                                .encode("cp1252"), _first_household_expected("unreadable_record")),
    "utf16_declared_8bit_bytes": (_CAF.replace("windows-1252", "UTF-16").encode("cp1252"), {"exit": 2}),
    "utf16_le_without_bom": (_CAF.replace("windows-1252", "UTF-16").encode("utf-16-le"),
                             {"exit": 0, "rejected": {}, "households": 4}),
    "utf8_declared_windows1252_upper_case": (_ASCII.replace("Eric", "ÉRIC ÀÇÈÊÎÔÙŒ").encode("utf-8"),
                                             {"exit": 0, "rejected": {1: "wrong_encoding"}, "households": 3}),
    "utf8_declared_windows1252_lower_case": (_ASCII.replace("Noel", "Noël àçéèêîôùœ’").encode("utf-8"),
                                             {"exit": 0, "rejected": {2: "wrong_encoding"}, "households": 3}),
    "cp1252_declared_iso8859_1": (_CAF.replace("windows-1252", "ISO-8859-1").replace("MARTIN", "MARTIN’Œ")
                                  .encode("cp1252"), {"exit": 0, "rejected": {3: "wrong_encoding"}, "households": 3}),
    "binary_junk": (b"\x00\x01\x02 binary junk \xff\xfe", {"exit": 2}),
    "unknown_encoding": (_CAF.replace("windows-1252", "X-NOPE").encode("ascii", "replace"), {"exit": 2}),
    "not_xml": (b"MATRICULE;NIR\n0412345;2850862041123\n", {"exit": 2}),
    "nul_in_a_household": (_CAF.replace("<NOMNAI>DUPONT</NOMNAI>", "<NOMNAI>DU\x00PONT</NOMNAI>", 1).encode("cp1252"),
                           {"exit": 0, "rejected": {1: "malformed_file"}, "households": 0}),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_inputs_never_print_a_traceback(tmp_path, case):
    data, expected = HOSTILE[case]
    path = tmp_path / f"{case}.xml"
    path.write_bytes(data)
    done = cli("flux", "import", str(path), "--dry-run", "--format", "json")
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert done.returncode == expected["exit"], done.stderr
    if expected["exit"] == 2:
        assert done.stdout == "" and done.stderr.count("\n") == 1 and done.stderr.startswith("parcours flux import: ")
        return
    summary = json.loads(done.stdout)
    assert {r["position"]: r["reason"].split(":")[0] for r in summary["rejected"]} == expected["rejected"]
    assert summary["households"] == expected["households"]
    assert "root:" not in done.stdout  # /etc/passwd never read


def test_a_50_mb_matricule_is_a_rejection_and_memory_stays_flat(tmp_path):
    huge, small = tmp_path / "huge.xml", tmp_path / "small.xml"
    small.write_bytes(_CAF.encode("cp1252"))
    head, tail = _CAF.split("<MATRICULE>0412346</MATRICULE>")
    with open(huge, "wb") as out:
        out.write((head + "<MATRICULE>").encode("cp1252"))
        for _ in range(50):
            out.write(b"7" * (1 << 20))
        out.write(("</MATRICULE>" + tail).encode("cp1252"))
    probe = ("import json, resource, sys; from activities.cnaf_parser import CnafFluxReader; "
             "records = [(r.position, r.reason) for r in CnafFluxReader(sys.argv[1]) if not r.accepted]; "
             "print(json.dumps([records, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss]))")
    runs = {}
    for path in (small, huge):
        done = subprocess.run([sys.executable, "-c", probe, str(path)], cwd=REPO, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        runs[path.name] = json.loads(done.stdout)
    rejected, peak_kib = runs["huge.xml"]
    assert [(p, reason.split(":")[0]) for p, reason in rejected] == [(2, "field_too_long")]
    assert "MATRICULE" in rejected[0][1]
    assert peak_kib - runs["small.xml"][1] < 30 * 1024  # a 50 MB text node adds well under 30 MB


# ---------------------------------------------------------------- inside FluxImport: refused once, not retried


async def test_another_flow_fails_the_import_once_non_retryable_recorded_with_its_reason(
        enc_client, db_pool, task_queue, unique_id, tmp_path):
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import WorkflowFailureError

    from tests.flux_import_harness import build_worker, import_input, secret_for
    from workflows.flux_import import start_flux_import

    path = tmp_path / "instruction.xml"
    path.write_bytes((OUT / "instruction.xml").read_bytes() + f"<!-- {unique_id} -->\n".encode())
    inp = import_input(path)
    async with build_worker(enc_client, task_queue, db_pool, secret_for(unique_id)):
        handle = await start_flux_import(enc_client, inp, task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert failure.value.cause.cause.type == "FLUX_REFUSED"
    attempts = [e.activity_task_started_event_attributes.attempt async for e in handle.fetch_history_events()
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
    assert attempts == [1]  # not a retry loop
    row = await db_pool.fetchrow("SELECT status, failure FROM flux_files WHERE file_digest = $1", inp.file_digest)
    assert row["status"] == "refused" and "instruction flow" in row["failure"]
