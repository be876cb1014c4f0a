"""NIR validation and the opaque person id.

Keys below are computed by hand (key = 97 − (number mod 97)):

* 1 85 01 78 006 048: 1850178006048 = 97 × 19074000062 (= 1850178006014) + 34, key 97 − 34 = 63.
* 1 85 01 78 006 014: 1850178006014 = 97 × 19074000062 + 0, key 97 − 0 = 97 (never 00).
* 2 85 02 2A 004 123 (Ajaccio): 2A counts as 19 → 2850219004123 = 97 × 29383701073 (= 2850219004081) + 42,
  key 55. Reading 2A as 20 would give 2850220004123 mod 97 = 69, key 28: that key must be refused.
* 1 91 02 2B 033 456 (Bastia): 2B counts as 18 → 1910218033456 = 97 × 19692969417 (= 1910218033449) + 7,
  key 90. Reading 2B as 20 would give key 36: refused.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from domain.identity import NirError, nir_key, normalize_nir, person_id, validate_nir

VALID = "185017800604863"
KEY_97 = "185017800601497"
CORSE_DU_SUD = "285022A00412355"
HAUTE_CORSE = "191022B03345690"
SECRET = b"test-secret-not-for-production"


@pytest.mark.parametrize("nir", [VALID, KEY_97, CORSE_DU_SUD, HAUTE_CORSE])
def test_valid_nirs(nir):
    assert validate_nir(nir) == nir


def test_keys_computed_by_hand():
    assert nir_key("1850178006048") == 63
    assert nir_key("1850178006014") == 97
    assert nir_key("285022A004123") == 55
    assert nir_key("191022B033456") == 90


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("1 85 01 78 006 048 63", VALID),
        ("  1850178006048 63 ", VALID),
        ("1.85.01.78.006.048-63", VALID),
        ("1\u00a085\u00a001 78 006 048 63", VALID),  # non-breaking spaces from a spreadsheet
        ("2 85 02 2a 004 123 55", CORSE_DU_SUD),  # lower-case Corsica letter
    ],
)
def test_spaces_and_case_are_normalised(raw, normalised):
    assert normalize_nir(raw) == normalised
    assert validate_nir(raw) == normalised


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("185017800604864", "key does not match"),  # wrong key (63 expected)
        ("185017800604836", "key does not match"),  # swapped key digits
        ("285022A00412328", "key does not match"),  # Corsica 2A read as 20
        ("191022B03345636", "key does not match"),  # Corsica 2B read as 20
        ("185017800601400", "key does not match"),  # 00 is never a key (97 instead)
        ("18501780060486", "13 characters"),  # one character short of 15
        ("1850178006048633", "13 characters"),  # one character too many
        ("185017800604", "13 characters"),  # one character short of 13
        ("", "13 characters"),
        ("1850178O06048", "only digits"),  # 13 characters: no key, the body is still checked
        ("585017800604", "13 characters"),
        ("18501780060486A", "key must be 2 digits"),  # letter in the key
        ("1850178006048²³", "key must be 2 digits"),  # superscripts pass str.isdigit, not the rule
        ("1850178O0604863", "only digits"),  # letter O instead of zero in the body
        ("18501780060\u0664863", "only digits"),  # Arabic-Indic digit
        ("185012C00604863", "only digits"),  # 2C is not a Corsica department
        ("18501AB00604863", "department"),
        ("585017800604863", "start with"),  # 5 is not a sex/status digit
        ("085017800604863", "start with"),
    ],
)
def test_invalid_nirs_name_the_problem(raw, message):
    with pytest.raises(NirError, match=message) as excinfo:
        validate_nir(raw)
    assert raw[:13] not in str(excinfo.value) or not raw  # the error never repeats the NIR


@pytest.mark.parametrize("nir", ["1850178006048", "285022A004123", "1 85 01 78 006 048"])
def test_13_characters_without_key_are_valid(nir):
    assert validate_nir(nir) == normalize_nir(nir) and len(validate_nir(nir)) == 13


def test_same_person_same_id_from_13_and_15_characters():
    """A CAF file (13), an MSA file (15) and the API (either) give one person, so one pathway."""
    assert person_id(validate_nir("1850178006048"), SECRET) == person_id(validate_nir(VALID), SECRET)
    assert person_id(validate_nir("285022A004123"), SECRET) == person_id(validate_nir(CORSE_DU_SUD), SECRET)
    assert person_id("1850178006048", SECRET) != person_id("1850178006014", SECRET)


def test_nir_error_is_a_value_error():
    assert issubclass(NirError, ValueError)


# --- person id --------------------------------------------------------------------------------------------------


def test_person_id_is_stable_and_opaque():
    pid = person_id(VALID, SECRET)
    assert pid == person_id(VALID, SECRET)
    assert pid == person_id("1 85 01 78 006 048 63", SECRET)
    assert len(pid) == 32 and all(c in "0123456789abcdef" for c in pid)
    assert "1850178006048" not in pid and VALID not in pid


def test_person_id_is_the_hmac_sha256_of_the_first_13_characters():
    expected = hmac.new(SECRET, b"1850178006048", hashlib.sha256).hexdigest()[:32]
    assert person_id(VALID, SECRET) == expected
    assert person_id(VALID, SECRET) != hashlib.sha256(b"1850178006048").hexdigest()[:32]  # keyed, not a bare hash


def test_person_id_is_keyed():
    assert person_id(VALID, SECRET) != person_id(VALID, b"another-secret")
    assert person_id(VALID, "text-secret") == person_id(VALID, b"text-secret")
    with pytest.raises(ValueError):
        person_id(VALID, b"")


def test_person_id_ignores_the_key_digits():
    # Sources that send the NIR with or without its key (or with a mistyped key) meet on the same id.
    assert person_id("1850178006048", SECRET) == person_id(VALID, SECRET)
    assert person_id("185017800604800", SECRET) == person_id(VALID, SECRET)


def test_person_ids_differ_between_people_and_corsica_is_case_insensitive():
    ids = {person_id(n, SECRET) for n in (VALID, KEY_97, CORSE_DU_SUD, HAUTE_CORSE)}
    assert len(ids) == 4
    assert person_id("285022a00412355", SECRET) == person_id(CORSE_DU_SUD, SECRET)


@pytest.mark.parametrize("raw", ["18501780060", "18501780060486", "1850178O06048", "58501780060486 3", "18501780060486A"])
def test_person_id_refuses_what_is_not_a_nir(raw):
    with pytest.raises(NirError):
        person_id(raw, SECRET)
