"""Streaming reader of CNAF "flux bénéficiaires" XML files (domain.md §8.1).

The file is read with ``lxml.etree.iterparse`` and every household element is freed (with the elements
before it) once read, so memory stays flat whatever the size of the file. ``IdentificationFlux`` and
``InfosFoyerRSA`` are found by name wherever they sit and whatever their namespace, since the root and the
wrappers change between flow types and versions.

The bytes go through a decoder before reaching lxml: bytes invalid in the declared encoding become U+FFFD
and only the records holding them are rejected (``wrong_encoding``), instead of the whole rest of the file.
A file that ends early yields the complete households before the cut and a ``truncated_file`` rejection
at the position of the first household not read. A file that cannot be read at all (missing, empty, not
XML, no CNAF element) raises :class:`FluxUnreadable`.

Rules live in :mod:`domain.flux`; this module only extracts raw strings.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from pathlib import Path
from typing import BinaryIO, Iterator

from lxml import etree

from domain.flux import (
    DuplicateGuard,
    FluxHeader,
    Issue,
    ParsedRecord,
    RawHousehold,
    RawPerson,
    RejectionCode,
    judge,
    validate_header,
)

HOUSEHOLD = "InfosFoyerRSA"
HEADER = "IdentificationFlux"
_CHUNK = 1 << 16
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_ERROR_NAMES = {value: name for name, value in vars(etree.ErrorTypes).items() if name.startswith("ERR_")}


class FluxUnreadable(Exception):
    """The file cannot be read at all; the message is one line, without personal data."""


def file_digest(path: str | Path) -> str:
    """SHA-256 of the file's bytes: with the position, the idempotency key of each record's import."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sniff_encoding(head: bytes) -> str:
    """The encoding a byte-order mark or the XML declaration names; UTF-8 by default (XML 1.0 §4.3.3)."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    match = _DECLARED.match(head)
    name = match.group(1).decode("ascii") if match else "utf-8"
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise FluxUnreadable(f"unsupported encoding {name!r} declared in the XML prolog") from None


class _Utf8Stream:
    """File-like object handing lxml UTF-8 bytes, with invalid input replaced by U+FFFD.

    It also keeps what the truncation check needs: raw bytes read, whether the end was reached, the
    number of lines and the length (in characters) of the last line.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        head = raw.read(1024)
        self._decoder = codecs.getincrementaldecoder(sniff_encoding(head))(errors="replace")
        self._pending = head
        self.raw_bytes = 0
        self.eof = False
        self.lines = 1
        self.last_line_chars = 0

    def read(self, size: int = _CHUNK) -> bytes:
        if self.eof:
            return b""
        data = self._pending or self._raw.read(max(size, _CHUNK))
        self._pending = b""
        self.raw_bytes += len(data)
        text = self._decoder.decode(data, final=not data)
        if not data:
            self.eof = True
        newlines = text.count("\n")
        if newlines:
            self.lines += newlines
            self.last_line_chars = len(text) - text.rfind("\n") - 1
        else:
            self.last_line_chars += len(text)
        if not text and not self.eof:
            return self.read(size)  # the decoder kept a partial character; read on
        return text.encode("utf-8")


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _first(element: etree._Element, path: str) -> str | None:
    node = element.find(path)
    return None if node is None else (node.text or "")


_HOUSEHOLD_LEAVES = {
    ("Organisme", "MATRICULE"): "matricule",
    ("EtatDossierRSA", "ETATDOSRSA"): "right_state",
    ("SuspensionVersement", "MOTISUSVERSRSA"): "suspension_reason",
    ("SuspensionVersement", "DDSUSVERSRSA"): "suspension_date",
    ("FinDroit", "MOTICLORSA"): "closure_reason",
    ("FinDroit", "DTCLORSA"): "closure_date",
    ("FinDroitMoisAnterieur", "MOTICLORSA"): "earlier_closure_reason",
    ("FinDroitMoisAnterieur", "DTCLORSA"): "earlier_closure_date",
    ("TroncCommunDroitRSA", "TOPSANSDOMFIXE"): "no_fixed_abode",
}
_PERSON_LEAVES = {
    ("Identification", "NIR"): "nir",
    ("Identification", "NOMNAI"): "last_name",
    ("Identification", "PRENOM"): "first_name",
    ("Identification", "DTNAI"): "birth_date",
    ("MontantCalculDroitRSAPersonne", "TOPPERSDRODEVORSA"): "subject_to_duties",
}


_LOCAL_NAMES: dict[str, str] = {}


def _name(tag: str) -> str:
    """Local name of a tag, cached (a file uses a few dozen tags; the cache is capped all the same)."""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = tag[tag.rfind("}") + 1:]
        if len(_LOCAL_NAMES) < 4096:
            _LOCAL_NAMES[tag] = name
    return name


def extract_household(element: etree._Element) -> RawHousehold:
    """The raw strings of an ``InfosFoyerRSA`` element (any namespace), in one walk over its leaves.

    A leaf is recognised by its name and its parent's (``Organisme/MATRICULE``, ``FinDroit/DTCLORSA``…);
    a person's leaves must sit inside that ``Personne``. The first occurrence of a single-valued field wins.
    """
    raw = RawHousehold()
    found: dict[str, str] = {}
    person: RawPerson | None = None
    person_element: etree._Element | None = None
    for node in element.iter():
        tag = node.tag
        if not isinstance(tag, str):
            continue  # comments and processing instructions
        name = _name(tag)
        if name == "Personne":
            person, person_element = RawPerson(), node
            raw.persons.append(person)
            continue
        if len(node):
            continue  # only leaves hold values
        parent = node.getparent()
        key = (_name(parent.tag), name)
        text = node.text or ""
        if person is not None and (name == "ROLEPERS" or key in _PERSON_LEAVES):
            if person_element not in node.iterancestors():
                continue
            attribute = "role" if name == "ROLEPERS" else _PERSON_LEAVES[key]
            if getattr(person, attribute) is None:
                setattr(person, attribute, text)
            continue
        field = _HOUSEHOLD_LEAVES.get(key)
        if field is None:
            continue
        if field == "right_state":
            raw.right_states.append(text)
        elif field == "suspension_reason":
            raw.suspension_reasons.append(text)
        elif field == "matricule":
            grand = parent.getparent()
            if grand is not None and _name(grand.tag) == "IdentificationRSA":
                found.setdefault(field, text)
        else:
            found.setdefault(field, text)
    raw.matricule = found.get("matricule")
    raw.suspension_date = found.get("suspension_date")
    raw.no_fixed_abode = found.get("no_fixed_abode")
    if "closure_reason" in found or "closure_date" in found:
        raw.closure_reason, raw.closure_date = found.get("closure_reason"), found.get("closure_date")
    elif "earlier_closure_reason" in found or "earlier_closure_date" in found:
        raw.closure_reason, raw.closure_date = found.get("earlier_closure_reason"), found.get("earlier_closure_date")
        raw.closure_earlier_month = True
    return raw


def _free(element: etree._Element) -> None:
    """Drop the element's content and everything before it, up the tree: what keeps memory flat."""
    element.clear(keep_tail=False)
    node = element
    while node is not None:
        parent = node.getparent()
        if parent is None:
            break
        while node.getprevious() is not None:
            del parent[0]
        node = parent


class CnafFluxReader:
    """Iterate over a CNAF flow file's households as :class:`ParsedRecord`, in file order.

    ``header`` is set once ``IdentificationFlux`` has been read; ``raw_bytes`` / ``total_bytes`` give
    the progress. Iteration raises :class:`FluxUnreadable` when the file cannot be read at all.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.header: FluxHeader | None = None
        self.households_seen = 0
        self._stream: _Utf8Stream | None = None
        self._root: etree._Element | None = None
        try:
            self.total_bytes = self.path.stat().st_size
        except OSError as exc:
            raise FluxUnreadable(f"cannot open {self.path.name}: {exc.strerror or exc}") from None
        if not self.path.is_file():
            raise FluxUnreadable(f"{self.path.name} is not a regular file")

    @property
    def raw_bytes(self) -> int:
        return self._stream.raw_bytes if self._stream else 0

    def live_elements(self) -> int:
        """Elements still held in memory (diagnostic: stays small however many households were read)."""
        return 0 if self._root is None else sum(1 for _ in self._root.iter())

    def __iter__(self) -> Iterator[ParsedRecord]:
        try:
            handle = open(self.path, "rb")
        except OSError as exc:
            raise FluxUnreadable(f"cannot open {self.path.name}: {exc.strerror or exc}") from None
        with handle:
            yield from self._records(handle)

    def _records(self, handle: BinaryIO) -> Iterator[ParsedRecord]:
        stream = self._stream = _Utf8Stream(handle)
        events = etree.iterparse(
            stream, events=("start", "end"), tag=(f"{{*}}{HOUSEHOLD}", f"{{*}}{HEADER}"), encoding="utf-8",
            huge_tree=True, resolve_entities=False, no_network=True, load_dtd=False,
        )
        guard = DuplicateGuard()
        inside = False
        header_seen = False
        iterator = iter(events)
        while True:
            try:
                event, element = next(iterator)
            except StopIteration:
                break
            except etree.XMLSyntaxError as exc:
                if not header_seen and self.households_seen == 0 and not inside:
                    raise FluxUnreadable(_unreadable_message(exc, stream)) from None
                position = self.households_seen + 1
                yield ParsedRecord(position=position, record_hash="", issues=(_stream_issue(exc, stream, inside),))
                break
            if self._root is None:
                self._root = element.getroottree().getroot()
            name = _local(element.tag)
            if event == "start":
                if name == HOUSEHOLD:
                    inside = True
                continue
            if name == HEADER:
                header_seen = True
                self.header, issues = validate_header(_first(element, "{*}DTCREAFLUX"), _first(element, "{*}TYPEFLUX"))
                if issues:
                    canonical = etree.tostring(element, method="c14n")
                    yield ParsedRecord(position=0, record_hash=hashlib.sha256(canonical).hexdigest(),
                                       issues=tuple(issues))
                if not inside:
                    _free(element)
                continue
            inside = False
            self.households_seen += 1
            canonical = etree.tostring(element, method="c14n")
            yield judge(extract_household(element), self.households_seen, hashlib.sha256(canonical).hexdigest(),
                        guard, extra=_encoding_issues(canonical))
            _free(element)
        if self._root is None:
            raise FluxUnreadable(f"{self.path.name} holds no {HEADER} nor {HOUSEHOLD} element: not a CNAF beneficiaries flow")
        if not header_seen:
            yield ParsedRecord(position=0, record_hash="",
                               issues=(Issue(RejectionCode.MISSING_HEADER, f"no {HEADER} element in the file"),))


_REPLACED = "\ufffd".encode("utf-8")
_MOJIBAKE = re.compile(rb"\xc3[\x82\x83]\xc2[\x80-\xbf]")  # "Ã©", "Â°": UTF-8 read as ISO-8859-1, in UTF-8


def _encoding_issues(canonical: bytes) -> tuple[Issue, ...]:
    """Encoding problems anywhere in the record, including fields this reader does not extract."""
    if _REPLACED in canonical:
        return (Issue(RejectionCode.WRONG_ENCODING, "bytes not valid in the file's declared encoding"),)
    if _MOJIBAKE.search(canonical):
        return (Issue(RejectionCode.WRONG_ENCODING, "text looks like UTF-8 read as ISO-8859-1"),)
    return ()


def _is_truncation(exc: etree.XMLSyntaxError, stream: _Utf8Stream) -> bool:
    line, column = exc.position
    return stream.eof and line >= stream.lines and column >= stream.last_line_chars - 1


def _stream_issue(exc: etree.XMLSyntaxError, stream: _Utf8Stream, inside: bool) -> Issue:
    """The rejection for a file that stops being readable; libxml2's message is left out (it may quote data)."""
    line = exc.position[0]
    if _is_truncation(exc, stream):
        where = "inside this household" if inside else "after the previous household"
        return Issue(RejectionCode.TRUNCATED_FILE, f"the file ends {where} (line {line}); the rest is missing")
    kind = _ERROR_NAMES.get(exc.code, f"code {exc.code}")
    return Issue(RejectionCode.MALFORMED_FILE, f"XML error {kind} at line {line}; the rest of the file was not read")


def _unreadable_message(exc: etree.XMLSyntaxError, stream: _Utf8Stream) -> str:
    if stream.raw_bytes == 0:
        return "the file is empty"
    if _is_truncation(exc, stream):
        return f"the file ends before its first household (line {exc.position[0]})"
    kind = _ERROR_NAMES.get(exc.code, f"code {exc.code}")
    return f"not a readable XML file (XML error {kind} at line {exc.position[0]})"


def read_flux(path: str | Path) -> Iterator[ParsedRecord]:
    """Shorthand for ``iter(CnafFluxReader(path))``."""
    return iter(CnafFluxReader(path))
