"""Households read by their shape (activities/cnaf_shapes.py) give exactly the records of the strict path.

Each file is read twice: as the reader does (households of a known shape read without a tree) and with no
shape ever kept (every household parsed by libxml2, hashed by C14N, walked). Records, hashes and hidden
fields must be the same, whatever the households hold: generated flows with invalid records, texts a
shape cannot vouch for (``&``, ``>``, CR LF, CDATA, comments, attributes, empty-element tags), namespaces.
"""

from __future__ import annotations

import random
import re
from datetime import date
from pathlib import Path

import pytest

from activities import cnaf_parser
from activities.cnaf_parser import CnafFluxReader
from activities.cnaf_shapes import HouseholdShapes
from activities.flux_generator import generate_flux


def _records(path: Path, shapes: bool) -> tuple[list[tuple], int]:
    reader = CnafFluxReader(path)
    if not shapes:
        reader._shapes = HouseholdShapes(max_shapes=0)
    read = 0
    original = reader._shapes.read

    def counting(text, namespaces):
        nonlocal read
        result = original(text, namespaces)
        read += result is not None
        return result

    reader._shapes.read = counting  # type: ignore[method-assign]
    records = [(r.position, r.record_hash, r.household.model_dump() if r.household else None,
                [(i.code, i.detail) for i in r.issues]) for r in reader]
    return records, read


def _same(path: Path) -> int:
    """Assert both reads agree; the number of households the shapes read."""
    by_shape, read = _records(path, shapes=True)
    strict, none_read = _records(path, shapes=False)
    assert none_read == 0
    assert by_shape == strict
    return read


def generated_flow(directory: Path, households: int, seed: int) -> str:
    """A generated flow's text (30 % invalid households), its bytes invalid in UTF-8 kept as surrogates."""
    path = directory / "flow.xml"
    generate_flux(path, households=households, seed=seed, flow_date=date(2024, 3, 15), invalid_share=0.3)
    return path.read_bytes().decode("utf-8", "surrogateescape")


@pytest.fixture(scope="module")
def flow(tmp_path_factory) -> str:
    return generated_flow(tmp_path_factory.mktemp("shapes"), households=1500, seed=11)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flow.xml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return path


def test_a_generated_flow_reads_the_same_and_mostly_by_shape(tmp_path, flow):
    read = _same(_write(tmp_path, flow))
    assert read > 1000  # 1500 households of a few dozen shapes: most are read without a tree


def test_crlf_line_ends_are_read_by_shape_with_the_same_hashes(tmp_path, flow):
    assert _same(_write(tmp_path, flow.replace("\n", "\r\n"))) > 1000


@pytest.mark.parametrize("damage", ["&amp;", "&#62;", ">", "\r", "<![CDATA[x]]>", "<!-- c -->", "<?pi x?>",
                                    '<NOMNAI a="1">', "<NOMNAI/>", "\ufffe", "\x01", "é", "<x:NOMNAI>"])
def test_households_a_shape_cannot_vouch_for_read_the_same(tmp_path, flow, damage):
    rng = random.Random(damage)
    text = flow
    for _ in range(40):  # inside texts and tags of households of known shapes
        at = text.index("<NOMNAI>", rng.randrange(len(text) // 2, len(text) - 2000))
        at += rng.choice([len("<NOMNAI>"), len("<NOMNAI>") + 1, 0])
        text = text[:at] + damage + text[at:]
    _same(_write(tmp_path, text))


def test_namespaces_in_scope_read_the_same(tmp_path, flow):
    default = flow.replace("<FluxBeneficiairesRSA>", '<FluxBeneficiairesRSA xmlns="urn:rsa" xmlns:x="urn:x">', 1)
    _same(_write(tmp_path, default))
    prefixed = flow.replace("<FluxBeneficiairesRSA>", '<FluxBeneficiairesRSA xmlns:x="urn:x">', 1)
    assert _same(_write(tmp_path, prefixed)) > 1000


def test_the_shapes_kept_are_bounded(tmp_path, flow, monkeypatch):
    monkeypatch.setattr(cnaf_parser, "HouseholdShapes", lambda: HouseholdShapes(max_shapes=3))
    reader = CnafFluxReader(_write(tmp_path, flow))
    list(reader)
    assert len(reader._shapes._plans) == 3


REAL = Path(__file__).parent / "fixtures" / "real"
_PERTURBATIONS = (
    ("<NATPREST>RSA</NATPREST>", "<NATPREST>PFA</NATPREST>"),  # no RSA block: no role
    ("<NATPREST>PFA</NATPREST>", "<NATPREST> RSA </NATPREST>"),  # two RSA blocks, the first wins
    ("<NATPREST>RSA</NATPREST>", "<NATPREST></NATPREST>"),
    ("<ETATDOSRSA>2</ETATDOSRSA>", "<ETATDOSRSA>9</ETATDOSRSA>"),  # unknown code
    ("<MOTISUSVERSRSA>", "<MOTISUSVERSRSA>Z"),  # unknown open-list code
    ("<TOPPERSDRODEVORSA>1<", "<TOPPERSDRODEVORSA>2<"),
    ("<DTNAI>", "<DTNAI>x"),
    ("<NOMNAI>", "<NOMNAI>Ã©"),  # mojibake
    ("<PRENOM>", "<PRENOM>\udcff"),  # a byte invalid in the file's encoding (written back as is)
)


def _real_flow(name: str, seed: int) -> bytes:
    """Households of a real-shaped fixture repeated with varied values: 13-character NIRs, keys made wrong,
    optional blocks dropped, codes unknown, invalid bytes (the fixtures are windows-1252 or UTF-8)."""
    data = (REAL / name).read_bytes()
    encoding = "cp1252" if b"windows-1252" in data[:200] else "utf-8"
    text = data.decode(encoding)
    found = list(re.finditer(r"<InfosFoyerRSA>.*?</InfosFoyerRSA>", text, re.S))
    rng = random.Random(seed)
    households = []
    for number in range(300):
        household = re.sub(r"<MATRICULE>(\d+)", lambda m: f"<MATRICULE>{int(m.group(1)) + number}",
                           found[rng.randrange(len(found))].group(0))
        for old, new in rng.sample(_PERTURBATIONS, rng.randrange(3)):
            household = household.replace(old, new, 1)
        if rng.random() < 0.2:
            household = re.sub(r"<NIR>(\d{13})\d\d</NIR>", r"<NIR>\1</NIR>", household)  # 13 characters
        if rng.random() < 0.1:
            household = re.sub(r"<NIR>(\d{13})(\d\d)</NIR>", lambda m: f"<NIR>{m.group(1)}{(int(m.group(2)) + 1) % 100:02d}</NIR>", household, count=1)
        if rng.random() < 0.2:  # an optional block dropped
            household = re.sub(r"\s*<(MontantCalculDroitRSAPersonne|CalculDroitRSAPersonne|SuspensionVersement"
                               r"|FinDroit|DonneesAdministratives)>.*?</\1>", "", household, count=1, flags=re.S)
        households.append(household)
    text = text[:found[0].start()] + "\n\t".join(households) + text[found[-1].end():]
    return text.encode(encoding, "surrogateescape")


@pytest.mark.parametrize("name", ["caf_monthly_nir13.xml", "vrsd0301.xml", "msa_daily_without_montant.xml",
                                  "codes_19_78.xml"])
def test_real_layouts_read_by_shape_give_the_strict_records(tmp_path, name):
    """Two ``Prestations`` blocks naming their benefit (the role read from a NATPREST text), vrsd0301's
    ``FonctionPersonneRSA``, MSA households without ``MontantCalculDroitRSAPersonne``, CAF 13-character NIRs."""
    path = tmp_path / name
    path.write_bytes(_real_flow(name, seed=len(name)))
    assert _same(path) > 100
