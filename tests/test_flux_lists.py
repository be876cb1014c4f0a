"""CSV and .xlsx lists of new entrants as rdv-insertion users export them: blank rows, loose headers,
translated values, workbooks read directly, and a clear refusal of anything else."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from activities.csv_import import ColumnMapping, CsvNewEntrants, load_mapping
from activities.list_rows import normalise_label
from domain.flux import RightState

LISTS = Path(__file__).parent / "fixtures" / "lists"
REPO = Path(__file__).resolve().parent.parent
MAPPING = LISTS / "rdv_insertion_mapping.toml"


def dry_run(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workers.cli", "flux", "import", str(path), "--mapping", str(MAPPING),
                           "--dry-run", "--format", "json"], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_labels_match_whatever_case_accents_line_breaks_and_spaces():
    assert normalise_label("Date\nd'entrée") == normalise_label("DATE  D'ENTREE ") == "date d'entree"
    assert normalise_label("N°\u00a0allocataire") == normalise_label("n° ALLOCATAIRE")


def test_csv_list_blank_rows_ignored_headers_loose_values_translated():
    records = list(CsvNewEntrants(LISTS / "rdv_insertion_list.csv", load_mapping(MAPPING)))
    assert [r.position for r in records] == [1, 3, 5]  # rows 4, 6, 7 and 8 are blank
    couple, single, unknown = records
    assert couple.accepted and couple.household.right_state is RightState.OPEN_PAYABLE  # "RSA_Droit_Ouvert_Versable"
    assert [p.first_name for p in couple.household.persons] == ["Cécile", "Éric"]
    assert couple.household.entry_date == date(2025, 3, 3) and couple.household.commune == "62041"
    assert single.household.right_state is RightState.NEW_REQUEST and single.household.subject_count == 0
    assert unknown.reason_codes[0].value == "unknown_etatdosrsa"  # "rsa_inconnu" is in no table: rejected
    done = dry_run(LISTS / "rdv_insertion_list.csv")
    assert done.returncode == 0 and "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    assert (summary["households"], summary["persons"], summary["subject_to_duties"]) == (2, 3, 2)
    assert [r["position"] for r in summary["rejected"]] == [5]


def _workbook(path: Path) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = "Liste"
    sheet.append(["Numéro CAF", "NIR", "NOM", "Prénom", "Date de\nnaissance", "Soumis aux droits et devoirs",
                  "statut du droit rsa", "Date d’entrée".replace("’", "'"), "Code INSEE"])
    sheet.append(["0412345", 2850862041123, "DUPONT", "Cécile", datetime(1985, 8, 14), "oui",
                  "rsa_droit_ouvert_versable", datetime(2025, 3, 3), 62041])
    sheet.append(["0412345", 1830862041456, "DUPONT", "Éric", datetime(1983, 8, 2), 1,
                  "rsa_droit_ouvert_versable", datetime(2025, 3, 3), 62041])
    sheet.append([None] * 9)
    sheet.append(["0412346", "1900159123789", "LEFEBVRE", "Noël", "21/01/1990", "non", "rsa_demande_en_attente",
                  "03/03/2025", "59350"])
    for _ in range(5):
        sheet.append(["", None, " ", None, None, None, None, None, None])  # what Excel leaves after the data
    book.save(path)
    return path


def test_xlsx_list_is_read_directly_with_the_same_rules(tmp_path):
    path = _workbook(tmp_path / "liste.xlsx")
    records = list(CsvNewEntrants(path, load_mapping(MAPPING)))
    assert [(r.position, r.accepted) for r in records] == [(1, True), (4, True)]
    couple = records[0].household
    assert [p.nir for p in couple.persons] == ["2850862041123", "1830862041456"]  # numbers written as text
    assert couple.persons[0].birth_date == date(1985, 8, 14) and couple.entry_date == date(2025, 3, 3)
    assert couple.commune == "62041" and [p.subject_to_duties for p in couple.persons] == [True, True]
    done = dry_run(path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["households"] == 2


def test_a_named_sheet_is_read_and_a_missing_one_named(tmp_path):
    path = _workbook(tmp_path / "liste.xlsx")
    mapping = load_mapping(MAPPING).model_copy(update={"sheet": "Liste"})
    assert len(list(CsvNewEntrants(path, mapping))) == 2
    with pytest.raises(Exception, match="no sheet 'Autre'"):
        list(CsvNewEntrants(path, mapping.model_copy(update={"sheet": "Autre"})))


def _zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a workbook")
    return path


@pytest.mark.parametrize(("name", "content", "message"), [
    ("liste.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "is a PDF document, neither a CSV nor an .xlsx list"),
    ("liste.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old Excel .xls"),
    ("liste.bin", b"\x00\x01\x02\x03binary", "binary file, neither a CSV nor an .xlsx list"),
    ("liste.zip", None, "zip archive but not an .xlsx workbook"),
    ("vide.csv", b"\r\n;;;\r\n\r\n", "empty or has no header line"),
    ("autre.csv", "Matricule;Nom\r\n1;A\r\n".encode(), "not in the header"),
])
def test_a_file_that_is_neither_csv_nor_xlsx_is_refused_in_one_clear_line(tmp_path, name, content, message):
    path = tmp_path / name
    if content is None:
        _zip(path)
    else:
        path.write_bytes(content)
    done = dry_run(path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr


def test_mapping_values_must_translate_a_mapped_field():
    with pytest.raises(ValueError, match="not in \\[columns\\]"):
        ColumnMapping(columns={"matricule": "M"}, values={"right_state": {"ouvert": "2"}})
    with pytest.raises(ValueError, match="differ only by case"):
        ColumnMapping(columns={"matricule": "M", "right_state": "E"},
                      values={"right_state": {"Ouvert": "2", "ouvert": "3"}})


def test_a_list_without_its_mapping_is_told_so(tmp_path):
    path = _workbook(tmp_path / "liste.xlsx")
    done = subprocess.run([sys.executable, "-m", "workers.cli", "flux", "import", str(path), "--dry-run"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--mapping" in done.stderr and "Traceback" not in done.stderr
