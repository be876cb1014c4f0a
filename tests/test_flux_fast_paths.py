"""The reader's shortcuts give what the general steps give, on inputs chosen to tell them apart.

* the splitter reads a household following the last one in a few ``str.find`` (``_next_household``);
* a household's placeholder is not fed to the skeleton when it would only repeat its sibling's;
* a text read by shape is checked for encoding damage on its UTF-8 bytes first;
* plain households are built by the cheap checks (``plain_household``), the usual NIR checked at once;
* a household read by shape is checked from its leaves' texts, without its raw household (``IndexedPlan.plain``);
* ``FluxSummary.add`` counts without pydantic's setattr.
"""

from __future__ import annotations

import random
import re
from datetime import date
from pathlib import Path

import pytest

from activities import cnaf_parser, cnaf_split
from activities.cnaf_parser import CnafFluxReader
from activities.cnaf_split import TextStream, split
from activities.flux_generator import generate_flux
from domain import flux_validation
from domain.flux import FluxSummary, RawHousehold, RawPerson
from domain.flux_plain import plain_household
from domain.flux_validation import _SUSPECT, text_encoding_issue, utf8_may_be_suspect, validate_household
from domain.identity import nir_key, validate_nir
from tests.test_cnaf_shapes import generated_flow

# what may stand between two households: whitespace XML allows or not, markup, text, other wrappers
_BETWEEN = ["\n ", "\r\n", "\r", "\x0b", "\x0c", "\u2028", "\x85", " x ", "<!-- c -->", "<?pi x?>", "<![CDATA[x]]>",
            "</FluxBeneficiairesRSA><FluxBeneficiairesRSA>", "<Autre/>", "<Autre>", "</InfosFoyerRSA>", "&amp;", "\t\t"]

_INSIDE = ["<InfosFoyerRSA>", "<!-- </InfosFoyerRSA> -->", "<![CDATA[</InfosFoyerRSA>]]>", "</InfosFoyerRSA >",
           "</InfosFoyerRSA\n\n>", "<InfosFoyerRSA/>", "!", "<!DOCTYPE x>"]


@pytest.fixture(scope="module")
def flow(tmp_path_factory) -> str:
    return generated_flow(tmp_path_factory.mktemp("fast"), households=300, seed=5)


def _damaged(flow: str, seed: int) -> str:
    rng = random.Random(seed)
    text = flow
    for _ in range(rng.randrange(1, 6)):
        at = text.index("<InfosFoyerRSA>", rng.randrange(len(text) // 4, len(text) - 5000))
        text = text[:at] + rng.choice(_BETWEEN) + text[at:]
    for _ in range(rng.randrange(0, 4)):  # inside a household
        at = text.index("<NOMNAI>", rng.randrange(len(text) // 4, len(text) - 5000))
        text = text[:at] + rng.choice(_INSIDE) + text[at:]
    if seed % 5 == 0:  # prefixed households, some with a prefix of their own
        text = text.replace("<FluxBeneficiairesRSA>", '<FluxBeneficiairesRSA xmlns:p="urn:p" xmlns:q="urn:q">', 1)
        text = re.sub("(</?)InfosFoyerRSA>", lambda m: m.group(1) + "p:InfosFoyerRSA>", text)
        at = text.index("<p:InfosFoyerRSA>", len(text) // 2)
        end = text.index("</p:InfosFoyerRSA>", at)
        text = text[:at] + "<q:InfosFoyerRSA>" + text[at + 17:end] + "</q:InfosFoyerRSA>" + text[end + 18:]
    if seed % 7 == 0:
        text = text[:rng.randrange(len(text) // 2, len(text))]  # cut
    return text


def _pieces(text: str, tmp_path: Path) -> list:
    path = tmp_path / "pieces.xml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with open(path, "rb") as handle:
        return list(split(TextStream(handle).chunks(), 1 << 20))


def _records(text: str, tmp_path: Path) -> list:
    path = tmp_path / "flow.xml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    reader = CnafFluxReader(path)
    try:
        records = [(r.position, r.record_hash, r.household, r.issues) for r in reader]
    except Exception as exc:  # refused or unreadable: the same message either way
        records = [(type(exc).__name__, str(exc))]
    return [records, reader.header, reader.layout, reader.announced, reader.households_seen]


@pytest.mark.parametrize("seed", range(24))
def test_the_splitter_shortcut_cuts_as_the_general_steps(tmp_path, flow, seed, monkeypatch):
    text = _damaged(flow, seed)
    fast = _pieces(text, tmp_path)
    monkeypatch.setattr(cnaf_split._Splitter, "_next_household", lambda self, keep, final: None)
    assert _pieces(text, tmp_path) == fast
    if seed % 7:
        assert sum(isinstance(piece, cnaf_split.Household) for piece in fast) >= 290


@pytest.mark.parametrize("seed", range(24))
def test_placeholders_not_fed_change_no_record_nor_error_line(tmp_path, flow, seed, monkeypatch):
    text = _damaged(flow, seed)
    skipping = _records(text, tmp_path)
    monkeypatch.setattr(CnafFluxReader, "_placeholder_closed", lambda self, events: False)  # every one fed
    assert _records(text, tmp_path) == skipping


def test_a_long_run_of_households_holds_back_bounded_whitespace(tmp_path, monkeypatch):
    path = tmp_path / "long.xml"
    generate_flux(path, households=2000, seed=3, flow_date=date(2024, 3, 15))
    text = path.read_text("utf-8").replace("</InfosFoyerRSA>", "</InfosFoyerRSA>" + "\n" * 80)
    fed: list[int] = []
    feed = cnaf_parser._Skeleton.feed

    tails: list[int] = []

    def counting(self, piece):
        fed.append(len(piece))
        events = feed(self, piece)
        tails.append(sum(len(element.tail or "") for element in self.root.iter()) if self.root is not None else 0)
        return events

    monkeypatch.setattr(cnaf_parser._Skeleton, "feed", counting)
    records = _records(text.replace("<InfosFoyerRSA>", "\n\n<InfosFoyerRSA>", 1), tmp_path)
    assert records[-1] == 2000 and all(r[2] is not None or r[3] for r in records[0])
    assert len(fed) < 2000 // 10 and max(fed) <= cnaf_parser._MAX_BLANK + 1000
    assert max(tails) <= 2 * cnaf_parser._MAX_BLANK  # the whitespace fed is freed with its element: flat memory


def test_every_suspect_character_leaves_one_of_the_bytes_looked_for():
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        if _SUSPECT.match(char):
            assert utf8_may_be_suspect(char.encode("utf-8")), hex(code)
    for text in ("Frédéric Aïcha Œuvre ’ «»", "Ã©", "â€™", "\x85", "\ufffd", "abc"):
        if text_encoding_issue((text,)) is not None:
            assert utf8_may_be_suspect(text.encode("utf-8"))
    assert not utf8_may_be_suspect("Frédéric Hélène Noël Çà".encode("utf-8"))


@pytest.mark.parametrize("seed", range(40))
def test_the_usual_nir_checked_at_once_as_in_full(seed):
    """A leading space sends a NIR through the full normalisation: same result, same error."""
    rng = random.Random(seed)
    for _ in range(200):
        body = rng.choice("0123456789") + "".join(rng.choice("0123456789") for _ in range(12))
        key = nir_key(body) if rng.random() < 0.5 else rng.randrange(100)
        nir = f"{body}{key:02d}" if rng.random() < 0.9 else body + rng.choice(["2A", "٣4", "1", "123"])
        outcomes = []
        for raw in (nir, " " + nir):
            try:
                outcomes.append(validate_nir(raw))
            except ValueError as exc:
                outcomes.append(str(exc))
        assert outcomes[0] == outcomes[1]


def _pick(rng: random.Random, usual: list, others: list):
    """Mostly a usual value (so that some households are plain), else anything."""
    return rng.choice(usual if rng.random() < 0.85 else others)


def _raw_person(rng: random.Random) -> RawPerson:
    body = rng.choice("12") + "".join(rng.choice("0123456789") for _ in range(12))
    return RawPerson(
        nir=_pick(rng, [f"{body}{nir_key(body):02d}", body, None], [f" {body} ", f"{body}00", "", "x" * 20]),
        last_name=_pick(rng, ["DUPONT", None], [" DUPONT ", "", "X" * 40]),
        first_name=_pick(rng, ["Zoé", None], ["", " Zoé", "Y" * 40]),
        birth_date=_pick(rng, ["1980-01-31", None], [" 1980-01-31", "1980-02-30", "31/01/1980", "", "1899-12-31"]),
        role=_pick(rng, ["DEM", "CJT"], [" ENF ", None, "", "ROLEPERSX"]),
        subject_to_duties=_pick(rng, ["0", None, "false"], ["1", "true", " 1 ", "", "2", "vrai"]))


@pytest.mark.parametrize("seed", range(30))
def test_plain_households_are_what_the_full_rules_make(seed, monkeypatch):
    rng = random.Random(seed)
    raws = [RawHousehold(
        matricule=_pick(rng, ["1234567"], [" 1234567 ", "", None, "9" * 30]),
        right_states=_pick(rng, [["2"], ["5"], ["6"]], [[" 2 "], ["2", "3"], [], ["9"], [""]]),
        suspension_reasons=_pick(rng, [[], ["01"]], [[" 06 "], ["ZZ"], ["0" * 20]]),
        suspension_date=_pick(rng, [None, "2024-02-01"], ["", "2001-01-01", "2099-01-01"]),
        closure_reason=_pick(rng, [None, "PCG"], ["", "ZZZ"]),
        closure_date=_pick(rng, [None, "2024-01-31"], ["2024-13-01", " 2024-01-31"]),
        closure_earlier_month=rng.random() < 0.2,
        no_fixed_abode=_pick(rng, [None, "0", "1"], [" false ", "", "oui"]),
        entry_date=_pick(rng, [None], ["2024-03-01", "bad"]),
        commune=_pick(rng, [None, "62041", "2A004"], [" 62041 ", "6204", "", "x" * 9]),
        persons=[_raw_person(rng) for _ in range(rng.choice([0, 1, 1, 2, 3]))]) for _ in range(300)]
    reference = date(2024, 3, 15)
    plain = [plain_household(raw, reference) for raw in raws]
    monkeypatch.setattr(flux_validation, "plain_household", lambda raw, reference: None)
    for raw, shortcut in zip(raws, plain):
        full, issues = validate_household(raw, reference)
        if shortcut is not None:
            assert not issues and shortcut == full and shortcut.persons == full.persons
            assert [p.model_dump() for p in shortcut.persons] == [p.model_dump() for p in full.persons]
    assert sum(p is not None for p in plain) > 5


def test_a_household_read_by_shape_is_checked_as_its_raw_household(tmp_path, flow):
    path = tmp_path / "flow.xml"
    path.write_bytes(flow.encode("utf-8", "surrogateescape"))
    reader = CnafFluxReader(path)
    original, outcomes = reader._shapes.read, []

    def compared(text, namespaces):
        known = original(text, namespaces)
        if known is not None:
            plan, fields, _, _ = known
            for reference in (date(2024, 3, 15), date(2009, 7, 1), None):  # dates in the window, and not
                shortcut = plan.plain(fields, reference)
                assert shortcut == plain_household(plan.read(fields), reference)
                outcomes.append(shortcut is not None)
        return known

    reader._shapes.read = compared  # type: ignore[method-assign]
    assert sum(1 for _ in reader) == 300
    assert any(outcomes) and not all(outcomes)


def test_the_summary_counts_as_the_fields_say(tmp_path, flow):
    path = tmp_path / "flow.xml"
    path.write_bytes(flow.encode("utf-8", "surrogateescape"))
    records = list(CnafFluxReader(path))
    summary = FluxSummary(keep_rejected=0)
    for record in records:
        summary.add(record)
    accepted = [r.household for r in records if r.accepted]
    persons = [p for h in accepted for p in h.persons]
    assert (summary.households, summary.persons, summary.subject_to_duties, summary.subject_to_duties_unknown) == (
        len(accepted), len(persons), sum(p.subject_to_duties is True for p in persons),
        sum(p.subject_to_duties is None for p in persons))
    assert summary.rejected_count == len(records) - len(accepted) > 0
    assert {"households", "persons", "subject_to_duties", "subject_to_duties_unknown"} <= summary.model_fields_set
    assert FluxSummary.model_validate(summary.model_dump()).households == summary.households
