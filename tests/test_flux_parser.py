"""Streaming CNAF flow parser on fixtures: valid files, each rejection reason, truncation, encoding, duplicates."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from activities.cnaf_parser import CnafFluxReader, FluxUnreadable, file_digest, read_flux, sniff_encoding
from activities.csv_import import ColumnMapping, CsvNewEntrants, load_mapping
from activities.flux_generator import INJECTED_DEFECTS, generate_flux
from domain.flux import FluxSummary, RejectionCode, RightState

FIXTURES = Path(__file__).parent / "fixtures" / "flux"


def summary_of(records) -> FluxSummary:
    summary = FluxSummary()
    for record in records:
        summary.add(record)
    return summary


def rejected_codes(path: Path) -> dict[int, list[str]]:
    return {r.position: [c.value for c in r.reason_codes] for r in read_flux(path) if not r.accepted}


def test_valid_file_is_read_whole_and_typed():
    reader = CnafFluxReader(FIXTURES / "valid.xml")
    records = list(reader)
    assert [r.position for r in records] == [1, 2, 3, 4]
    assert all(r.accepted for r in records)
    assert reader.header.creation_date == date(2024, 3, 15) and reader.header.flow_type == "Q"
    first, new_request, suspended, closed = (r.household for r in records)
    assert first.matricule == "1234501" and first.right_state is RightState.OPEN_PAYABLE
    assert [p.role for p in first.persons] == ["DEM", "CJT", "ENF"]
    assert [p.subject_to_duties for p in first.persons] == [True, True, False]
    assert first.persons[0].last_name == "LEFÈVRE" and first.persons[1].first_name == "Hélène"
    assert first.persons[2].nir is None
    assert new_request.right_state is RightState.NEW_REQUEST
    assert suspended.suspension_reasons == ("06",) and suspended.suspension_date == date(2024, 2, 1)
    assert suspended.no_fixed_abode is True
    assert closed.closure_reason == "PCG" and closed.closure_date == date(2024, 2, 29)
    assert not closed.closure_earlier_month
    assert summary_of(records).model_dump() == {"households": 4, "persons": 6, "subject_to_duties": 4,
                                                "subject_to_duties_unknown": 0, "rejected": [], "warnings": []}
    assert len({r.record_hash for r in records}) == 4


def test_elements_are_found_by_name_in_any_namespace_wrapper_and_encoding():
    reader = CnafFluxReader(FIXTURES / "valid_latin1_namespaced.xml")  # ISO-8859-1, prefixed, header between lots
    records = list(reader)
    assert all(r.accepted for r in records), [r.reason for r in records]
    assert reader.header.creation_date == date(2024, 3, 16)
    suspended, closed_earlier = (r.household for r in records)
    assert suspended.persons[0].last_name == "GÉRARD" and suspended.persons[0].first_name == "Maëlle"
    assert suspended.right_state is RightState.OPEN_RIGHT_SUSPENDED and suspended.suspension_reasons == ("CV",)
    assert closed_earlier.right_state is RightState.CLOSED_EARLIER_MONTH
    assert closed_earlier.closure_earlier_month and closed_earlier.closure_reason == "ECH"


def test_each_rejection_reason_at_its_position_and_good_records_unblocked():
    found = rejected_codes(FIXTURES / "rejections.xml")
    assert found == {
        2: ["bad_nir"],
        3: ["missing_matricule"],
        4: ["unknown_etatdosrsa"],
        5: ["unknown_toppersdrodevorsa"],
        8: ["bad_date"],
        9: ["duplicate_person"],
        10: ["no_person"],
        11: ["bad_nir"],
        12: ["unknown_topsansdomfixe"],
        13: ["bad_nir"],
        14: ["bad_date"],
    }
    records = list(read_flux(FIXTURES / "rejections.xml"))
    assert [r.position for r in records if r.accepted] == [1, 6, 7, 15]  # unknown MOTISUSVERSRSA, MOTICLORSA: kept
    assert records[5].household.suspension_reasons == ("ZZ",) and records[6].household.closure_reason == "XYZ"
    assert [w.split(":")[0] for r in records for w in (r.household.warnings if r.household else ())] == [
        "unknown_motisusversrsa", "unknown_moticlorsa"]


def test_duplicate_households_keep_the_first():
    records = list(read_flux(FIXTURES / "duplicates.xml"))
    assert [r.accepted for r in records] == [True, True, False, False, True]
    assert "position 1" in records[2].reason and "position 2" in records[3].reason


def test_truncated_file_keeps_complete_households_and_flags_the_cut():
    records = list(read_flux(FIXTURES / "truncated.xml"))
    assert [r.position for r in records] == [1, 2, 3]
    assert records[0].accepted and records[1].accepted
    assert records[2].reason_codes == (RejectionCode.TRUNCATED_FILE,)
    assert "inside this household" in records[2].reason


def test_a_cut_between_two_households_is_a_truncation_too(tmp_path):
    data = (FIXTURES / "valid.xml").read_bytes()
    cut = data.index(b"</InfosFoyerRSA>") + len(b"</InfosFoyerRSA>\n")
    path = tmp_path / "cut.xml"
    path.write_bytes(data[:cut])
    records = list(read_flux(path))
    assert [r.accepted for r in records] == [True, False]
    assert records[1].position == 2 and records[1].reason_codes == (RejectionCode.TRUNCATED_FILE,)
    assert "after the previous household" in records[1].reason


def test_malformed_middle_is_not_called_a_truncation(tmp_path):
    data = (FIXTURES / "valid.xml").read_bytes().replace(b"<ETATDOSRSA>0</ETATDOSRSA>", b"<ETATDOSRSA>0</ETAT>", 1)
    path = tmp_path / "broken.xml"
    path.write_bytes(data)
    records = list(read_flux(path))
    assert [r.position for r in records] == [1, 2]
    assert records[1].reason_codes == (RejectionCode.MALFORMED_FILE,)
    assert "MARTIN" not in records[1].reason


def test_wrong_encoding_rejects_only_the_records_concerned():
    records = list(read_flux(FIXTURES / "wrong_encoding.xml"))  # declared UTF-8, written in ISO-8859-1
    assert [r.accepted for r in records] == [True, False, True]
    assert records[1].reason_codes == (RejectionCode.WRONG_ENCODING,)


def test_utf8_declared_as_latin1_is_caught(tmp_path):
    text = (FIXTURES / "valid.xml").read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    path = tmp_path / "mojibake.xml"
    path.write_bytes(text.encode("utf-8"))
    found = rejected_codes(path)
    assert found == {1: ["wrong_encoding"], 3: ["wrong_encoding"], 4: ["wrong_encoding"]}  # accented names


def test_missing_header_is_reported_at_position_zero(tmp_path):
    text = (FIXTURES / "valid.xml").read_text(encoding="utf-8")
    start = text.index("  <IdentificationFlux>")
    end = text.index("</IdentificationFlux>\n") + len("</IdentificationFlux>\n")
    path = tmp_path / "no_header.xml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    records = list(read_flux(path))
    assert sum(r.accepted for r in records) == 4
    assert records[-1].position == 0 and records[-1].reason_codes == (RejectionCode.MISSING_HEADER,)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"this is not XML at all\n", "not a readable XML file"),
        (b"<?xml version='1.0'?>\n<Other><Thing/></Other>\n", "not a CNAF beneficiaries flow"),
        (b"<?xml version='1.0' encoding='X-NOPE'?>\n<R/>", "unsupported encoding"),
        (b"<?xml version='1.0'?>\n<R>\n<Identification", "ends before its first household"),
    ],
)
def test_unreadable_files_raise(tmp_path, content, message):
    path = tmp_path / "bad.xml"
    path.write_bytes(content)
    with pytest.raises(FluxUnreadable, match=message):
        list(read_flux(path))


def test_missing_file_raises(tmp_path):
    with pytest.raises(FluxUnreadable, match="cannot open"):
        CnafFluxReader(tmp_path / "nope.xml")
    with pytest.raises(FluxUnreadable, match="not a regular file"):
        CnafFluxReader(tmp_path)


def test_encoding_sniffing():
    assert sniff_encoding(b"\xef\xbb\xbf<?xml version='1.0'?>") == "utf-8-sig"
    assert sniff_encoding(b"<?xml version='1.0' encoding='iso-8859-1'?>") == "iso8859-1"
    assert sniff_encoding(b"<R/>") == "utf-8"
    assert sniff_encoding("<R/>".encode("utf-16")) == "utf-16"


def test_utf16_with_bom_is_read(tmp_path):
    text = (FIXTURES / "valid.xml").read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    path = tmp_path / "utf16.xml"
    path.write_bytes(text.encode("utf-16"))
    assert summary_of(read_flux(path)).households == 4


def _peak_live_elements(path: Path) -> tuple[int, int]:
    reader = CnafFluxReader(path)
    peak = 0
    for record in reader:
        if record.position % 50 == 0:
            peak = max(peak, reader.live_elements())
    return peak, reader.households_seen


def test_memory_stays_flat_the_tree_is_freed_as_it_goes(tmp_path):
    small, big = tmp_path / "small.xml", tmp_path / "big.xml"
    generate_flux(small, households=400, seed=11, flow_date=date(2024, 3, 15))
    generate_flux(big, households=4000, seed=11, flow_date=date(2024, 3, 15))
    peak_small, seen_small = _peak_live_elements(small)
    peak_big, seen_big = _peak_live_elements(big)
    assert (seen_small, seen_big) == (400, 4000)
    # lxml builds one read chunk ahead; what is held depends on that chunk, not on the file's size
    assert 0 < peak_big <= peak_small * 1.5 + 100
    assert peak_big < 4000 * 25 / 20  # well under 5 % of the ~25 elements per household of the file


def test_generated_file_round_trips_with_every_injected_reason(tmp_path):
    path = tmp_path / "gen.xml"
    report = generate_flux(path, households=120, seed=5, flow_date=date(2024, 3, 15), invalid_share=0.25)
    summary = summary_of(read_flux(path))
    assert summary.households == report.valid_households
    assert summary.persons == report.valid_persons
    assert summary.subject_to_duties == report.valid_subject_to_duties
    found: dict[str, int] = {}
    for item in summary.rejected:
        codes = [part.split(":")[0] for part in item.reason.split("; ")]
        assert len(codes) == 1, item.reason  # each injected defect breaks exactly one rule
        found[codes[0]] = found.get(codes[0], 0) + 1
    assert found == report.injected
    assert set(found) == {code.value for code in INJECTED_DEFECTS}


def test_generation_is_reproducible_and_seeded(tmp_path):
    a, b, c = tmp_path / "a.xml", tmp_path / "b.xml", tmp_path / "c.xml"
    for path, seed in ((a, 1), (b, 1), (c, 2)):
        generate_flux(path, households=40, seed=seed, flow_date=date(2024, 3, 15), invalid_share=0.2)
    assert file_digest(a) == file_digest(b)
    assert file_digest(a) != file_digest(c)


def test_csv_list_through_a_mapping():
    mapping = load_mapping(FIXTURES / "new_entrants_mapping.toml")
    records = list(CsvNewEntrants(FIXTURES / "new_entrants.csv", mapping))
    assert [r.position for r in records] == [1, 3, 4, 5, 6, 7, 8]  # data rows where households start
    couple, single = records[0].household, records[1].household
    assert [p.subject_to_duties for p in couple.persons] == [True, False]
    assert couple.entry_date == date(2024, 3, 14) and couple.persons[0].birth_date == date(1985, 5, 12)
    assert single.right_state is RightState.OPEN_PAYABLE  # empty column: the mapping's default
    assert {r.position: r.reason_codes[0].value for r in records if not r.accepted} == {
        4: "bad_nir", 5: "missing_matricule", 6: "bad_date", 7: "duplicate_household",
        8: "unknown_toppersdrodevorsa",
    }


def test_csv_mapping_errors_are_unreadable(tmp_path):
    with pytest.raises(ValueError):
        ColumnMapping(columns={"nir": "NIR"})  # no matricule
    mapping = ColumnMapping(columns={"matricule": "Matricule", "nir": "Absent column"})
    path = tmp_path / "list.csv"
    path.write_text("Matricule;NIR\n1;2\n", encoding="utf-8")
    with pytest.raises(FluxUnreadable, match="Absent column"):
        list(CsvNewEntrants(path, mapping))
    bad = tmp_path / "mapping.toml"
    bad.write_text("delimiter = \n", encoding="utf-8")
    with pytest.raises(FluxUnreadable, match="not valid"):
        load_mapping(bad)


def test_bad_bytes_in_a_field_not_extracted_still_reject_the_record(tmp_path):
    data = (FIXTURES / "valid.xml").read_bytes().replace(
        b"<TOPSANSDOMFIXE>0</TOPSANSDOMFIXE></TroncCommunDroitRSA>",
        b"<TOPSANSDOMFIXE>0</TOPSANSDOMFIXE><LIBADR>ALL\xc9E DES ROSES</LIBADR></TroncCommunDroitRSA>", 1)
    path = tmp_path / "address.xml"
    path.write_bytes(data)
    records = list(read_flux(path))
    assert [r.accepted for r in records] == [False, True, True, True]
    assert records[0].reason_codes == (RejectionCode.WRONG_ENCODING,)


def test_a_broken_tag_deep_in_a_big_file_keeps_every_household_before_it(tmp_path):
    """libxml2 2.14 recovered by dropping households before the damage; boundaries are now found by us."""
    path = tmp_path / "big.xml"
    generate_flux(path, households=2000, seed=3, flow_date=date(2024, 3, 15))
    data = path.read_bytes()
    before = list(read_flux(path))
    starts = [i for i in range(len(data)) if data.startswith(b"<InfosFoyerRSA>", i)]
    at = data.index(b"</ETATDOSRSA>", starts[999])
    path.write_bytes(data[:at] + b"</ETAT>" + data[at + len(b"</ETATDOSRSA>"):])
    after = list(read_flux(path))
    assert after[:999] == before[:999]
    assert after[999].position == 1000 and after[999].reason_codes == (RejectionCode.MALFORMED_FILE,)
    assert len(after) == 1000


def test_households_are_split_whatever_comments_cdata_and_self_closed_ones_hold(tmp_path):
    text = (FIXTURES / "valid.xml").read_text(encoding="utf-8")
    first_end = text.index("</InfosFoyerRSA>") + len("</InfosFoyerRSA>")
    text = (text[:first_end] + "\n<!-- <InfosFoyerRSA> in a comment </InfosFoyerRSA> -->\n<InfosFoyerRSA />"
            + text[first_end:])
    text = text.replace("<MATRICULE>1234501</MATRICULE>",
                        "<MATRICULE>1234501</MATRICULE><!-- </InfosFoyerRSA> --><X><![CDATA[</InfosFoyerRSA>]]></X>")
    path = tmp_path / "tricky.xml"
    path.write_text(text, encoding="utf-8")
    records = list(read_flux(path))
    assert [r.position for r in records] == [1, 2, 3, 4, 5]
    assert records[0].accepted and RejectionCode.NO_PERSON in records[1].reason_codes
    assert all(r.accepted for r in records[2:])


def test_what_surrounds_the_households_is_not_kept_either(tmp_path):
    path = tmp_path / "padded.xml"
    with open(path, "w", encoding="utf-8") as out:
        text = (FIXTURES / "valid.xml").read_text(encoding="utf-8")
        head, tail = text.split("  <InfosFoyerRSA>", 1)
        out.write(head)
        for index in range(20000):
            out.write(f"  <Annexe><Ligne>{index}</Ligne></Annexe>\n")
        out.write("  <InfosFoyerRSA>" + tail)
    reader = CnafFluxReader(path)
    records = list(reader)
    assert [r.accepted for r in records] == [True] * 4
    assert reader.live_elements() < 100
