"""NIR validation and the opaque person id used everywhere outside encrypted payloads.

The NIR (numéro d'inscription au répertoire) has 13 characters and a 2-digit key,
key = 97 − (number mod 97). For people born in Corsica the department "2A" / "2B" is replaced by
19 / 18 for the computation (public INSEE rule). CAF files carry the 13 characters without the key, MSA
files and the API usually the 15 (domain.md §8.1): both are valid, and both give the same person id.
"""

from __future__ import annotations

import hashlib
import hmac
import re


class NirError(ValueError):
    """The NIR is malformed; the message names what is wrong (never the NIR itself)."""


_NIR_SHAPE = re.compile(r"^[12378][0-9]{4}([0-9]{2}|2A|2B)[0-9]{6}$")
_STATUS_DIGITS = "12378"


_CORSICA = {"2A": "19", "2B": "18"}


def _numeric_value(first13: str) -> int:
    corsica = _CORSICA.get(first13[5:7])
    if corsica:
        return int(first13[:5] + corsica + first13[7:])
    return int(first13)


def nir_key(first13: str) -> int:
    """The control key of the 13 first characters of a NIR."""
    return 97 - (_numeric_value(first13) % 97)


_SEPARATORS = re.compile(r"[\s.\-]")


def normalize_nir(raw: str) -> str:
    """Strip spaces and upper-case; does not validate."""
    if raw and raw.isalnum():
        return raw.upper()  # the usual case, without the substitution
    return _SEPARATORS.sub("", raw or "").upper()


def _is_ascii_digits(text: str) -> bool:
    """``str.isdigit`` alone accepts "²" or Arabic-Indic digits, which ``int`` or ASCII encoding reject."""
    return text.isascii() and text.isdigit()


def _check_body(body: str) -> None:
    """Shape of the 13 first characters; raises :class:`NirError` naming the problem."""
    if _NIR_SHAPE.match(body):
        return
    if body[5:7].isalpha() and body[5:7] not in ("2A", "2B"):
        raise NirError("NIR department must be digits, or 2A/2B for Corsica")
    if body[0] not in "12378":
        raise NirError("NIR must start with 1, 2, 3, 7 or 8 (sex/status digit)")
    raise NirError("NIR must contain only digits (apart from 2A/2B)")


def validate_nir(raw: str) -> str:
    """Return the normalised NIR (13 characters without key, or 15 with a key that must match) or raise
    :class:`NirError` naming the problem."""
    if len(raw) == 15 and raw.isdigit() and raw.isascii() and raw[0] in _STATUS_DIGITS:  # the usual form
        if int(raw[13:]) == 97 - int(raw[:13]) % 97:  # nir_key of digits (no 2A/2B), one call less
            return raw
    nir = normalize_nir(raw)
    if len(nir) not in (13, 15):
        raise NirError(f"NIR must have 13 characters (or 15 with its 2-digit key), got {len(nir)}")
    body, key = nir[:13], nir[13:]
    if not key:
        _check_body(body)
        return nir
    if not _is_ascii_digits(key):
        raise NirError("NIR key must be 2 digits")
    _check_body(body)
    expected = nir_key(body)
    if int(key) != expected:
        raise NirError("NIR key does not match the number (key = 97 - number mod 97)")
    return nir


def person_id(nir: str, secret: bytes | str) -> str:
    """Opaque, stable person id: HMAC-SHA256 of the NIR's first 13 characters, keyed by ``secret``.

    Peers match people on the first 13 characters, so the key is left out: a 13-character NIR and the
    same NIR with its key give the same id (validate the key at intake with :func:`validate_nir`). The
    secret comes from configuration and must never be committed.
    """
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not secret:
        raise ValueError("person id secret is empty")
    normalised = normalize_nir(nir)
    if len(normalised) not in (13, 15):
        raise NirError(f"NIR must have 13 characters (or 15 with its key), got {len(normalised)}")
    if len(normalised) == 15 and not _is_ascii_digits(normalised[13:]):
        raise NirError("NIR key must be 2 digits")
    body = normalised[:13]
    _check_body(body)
    return hmac.new(secret, body.encode("ascii"), hashlib.sha256).hexdigest()[:32]


_MATRICULE = re.compile(r"^[0-9A-Za-z]{1,15}$")


def caf_person_id(matricule: str, rank: str | int, secret: bytes | str) -> str:
    """Opaque id of a person known by CAF matricule and rank in the household (docs/caseload.md, « Identity »).

    A person a département's former tool knows without NIR is adopted under this id; the first CAF flow that
    carries the NIR at that matricule and rank links the NIR's :func:`person_id` to it (one person, one pathway).
    The flow gives the same key for that person (``domain.flux_events.FlowObservation.caf_key``): matricule upper
    -cased, rank as a number. Raises ``ValueError`` on a matricule or rank of another shape."""
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not secret:
        raise ValueError("person id secret is empty")
    number = int(rank)
    if not _MATRICULE.match(matricule or "") or not 0 < number < 100:
        raise ValueError("a CAF matricule has 1–15 letters or digits and a rank 1–99")
    return hmac.new(secret, f"CAF:{matricule.upper()}:{number}".encode("ascii"), hashlib.sha256).hexdigest()[:32]
