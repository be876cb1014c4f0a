"""Streaming reader of CNAF "flux bénéficiaires" XML files (domain.md §8.1).

Household boundaries are found by :mod:`activities.cnaf_split`, not by libxml2's error recovery (which
changed with libxml2 2.14 and lost valid households before a damaged one). Each household's text is then
parsed on its own, strictly, in a wrapper that re-declares the namespaces in scope; the text around the
households (prolog, wrappers, header, trailer) goes through a strict pull parser where each household
stands as an empty placeholder, so that the file's structure is checked too (a household that follows
its sibling with only XML whitespace between is not fed: its placeholder would repeat the last one's
events). Memory holds one household.
A household of a shape already parsed that way is read without a tree (:mod:`activities.cnaf_shapes`):
same record, same hash.
``IdentificationFlux`` and ``InfosFoyerRSA`` are found by name wherever they sit and whatever their
namespace, since the root and the wrappers change between flow types and versions.

A household that is not well-formed stops the read there (``malformed_file``: what follows is not trusted);
a file that ends early yields the complete households before the cut and a ``truncated_file`` rejection
at the position of the first household not read. A file that cannot be read at all (missing, empty, not
XML, no CNAF element) raises :class:`FluxUnreadable`.

Rules live in :mod:`domain.flux_validation`; this module only extracts raw strings.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from itertools import chain
from pathlib import Path
from typing import BinaryIO, Iterator
from xml.sax.saxutils import quoteattr

from lxml import etree

from activities.cnaf_split import HOUSEHOLD, Cut, FluxRefused, FluxUnreadable, Household, Outer, Oversized, \
    TextStream, sniff_encoding, split
from activities.cnaf_extract import extract_household, leaf_text, plan_household
from activities.cnaf_shapes import HouseholdShapes
from domain.flux import FluxHeader, Issue, ParsedRecord, RejectionCode
from domain.flux_validation import DuplicateGuard, judge, text_encoding_issue, trailer_issue, utf8_may_be_suspect, \
    validate_header, verdict
from domain.flux_codes import OTHER_FLOWS, VRSD0301_ELEMENTS, detect_layout, other_flow_of_schema

__all__ = ["CnafFluxReader", "FluxRefused", "FluxUnreadable", "HOUSEHOLD", "HEADER", "extract_household", "file_digest",
           "read_flux", "sniff_encoding"]

HEADER = "IdentificationFlux"
TRAILER = "NBTOTDOSRSATRANSM"
_SCHEMA_LOCATION = "{http://www.w3.org/2001/XMLSchema-instance}noNamespaceSchemaLocation"
# "&" not starting one of the five predefined entities or a character reference
_ENTITY = re.compile(r"&(?!(?:lt|gt|amp|apos|quot|#[0-9]+|#x[0-9A-Fa-f]+);)")
MAX_HOUSEHOLD_CHARS = 1 << 20  # a household of ten persons with every block is about 20 kB
_XML_SPACE = " \t\r\n"
_MAX_BLANK = 1 << 16  # whitespace held back between placeholders not fed; then one is fed, freeing the last
_ERROR_NAMES = {value: name for name, value in vars(etree.ErrorTypes).items() if name.startswith("ERR_")}
_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                       recover=False, collect_ids=False)


def file_digest(path: str | Path) -> str:
    """SHA-256 of the file's bytes: with the position, the idempotency key of each record's import."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _first(element: etree._Element, path: str) -> str | None:
    node = element.find(path)
    return None if node is None else (node.text or "")


class _Skeleton:
    """The text around the households, each household standing as an empty placeholder, parsed strictly.

    Placeholders keep the household's line count, so line numbers in errors are the file's.
    """

    def __init__(self) -> None:
        self._parser = etree.XMLPullParser(events=("start", "end"), encoding="utf-8", **_PARSER_OPTIONS)
        self.root: etree._Element | None = None
        self.fed = 0

    def feed(self, text: str) -> list[tuple[str, etree._Element]]:
        """Feed text; the events it produced. Raises ``XMLSyntaxError`` (events before it are kept in ``pending``)."""
        self.fed += len(text)
        try:
            self._parser.feed(text.encode("utf-8"))
        finally:
            self.pending = list(self._parser.read_events())
        return self.pending

    def close(self) -> list[tuple[str, etree._Element]]:
        try:
            self._parser.close()
        finally:
            self.pending = list(self._parser.read_events())
        return self.pending

    pending: list[tuple[str, etree._Element]] = []


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


def _wrapped(text: str, nsmap: dict[str | None, str]) -> bytes:
    """A household's text inside a wrapper declaring the namespaces in scope where it sits."""
    declarations = "".join(f" xmlns{':' + prefix if prefix else ''}={quoteattr(uri)}" for prefix, uri in nsmap.items())
    return f"<_{declarations}>{text}</_>".encode("utf-8")


class CnafFluxReader:
    """Iterate over a CNAF flow file's households as :class:`ParsedRecord`, in file order.

    ``header`` is set once ``IdentificationFlux`` has been read; ``raw_bytes`` / ``total_bytes`` give
    the progress. Iteration raises :class:`FluxUnreadable` when the file cannot be read at all.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.header: FluxHeader | None = None
        self.households_seen = 0
        self._stream: TextStream | None = None
        self._skeleton: _Skeleton | None = None
        self._header_seen = False
        self._nsmap: dict[str | None, str] = {}
        self._namespaces: tuple[tuple[str | None, str], ...] = ()
        self._shapes = HouseholdShapes()
        self._parser = etree.XMLParser(**_PARSER_OPTIONS)
        self._reference = date.today()  # DTCREAFLUX once read: bounds the case dates
        self.layout: str | None = None  # "vrsb0801" or "vrsd0301"
        self.announced: str | None = None  # the trailer's NBTOTDOSRSATRANSM, as read
        self._refusal: str | None = None
        self._in_header = False
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
        root = self._skeleton.root if self._skeleton else None
        return 0 if root is None else sum(1 for _ in root.iter())

    def __iter__(self) -> Iterator[ParsedRecord]:
        try:
            handle = open(self.path, "rb")
        except OSError as exc:
            raise FluxUnreadable(f"cannot open {self.path.name}: {exc.strerror or exc}") from None
        with handle:
            try:
                yield from self._records(handle)
            except FluxUnreadable:
                raise
            except OSError as exc:
                raise FluxUnreadable(f"cannot read {self.path.name}: {exc.strerror or exc}") from None
            except (ValueError, LookupError, etree.Error) as exc:  # a case no rule above foresaw: still one line
                raise FluxUnreadable(f"{self.path.name} cannot be read ({type(exc).__name__})") from None

    def _records(self, handle: BinaryIO) -> Iterator[ParsedRecord]:
        stream = self._stream = TextStream(handle)
        skeleton = self._skeleton = _Skeleton()
        guard = DuplicateGuard()
        blank = ""  # whitespace between households inside the root, fed with the next piece (one feed less each)
        sibling: str | None = None  # the prefix of the last placeholder, while a like one needs no feed
        held = ""  # XML whitespace (and line ends of placeholders not fed) held back for the next feed
        for piece in chain(split(stream.chunks(), MAX_HOUSEHOLD_CHARS), (Outer(""),)):
            if isinstance(piece, Cut):
                if not self._header_seen and self.households_seen == 0:
                    raise FluxUnreadable(f"the file ends before its first household is complete (line {piece.line})")
                yield ParsedRecord(position=self.households_seen + 1, record_hash="", issues=(Issue(
                    RejectionCode.TRUNCATED_FILE,
                    f"the file ends inside this household (line {piece.line}); the rest is missing"),))
                return
            if isinstance(piece, Outer):
                if skeleton.root is not None and piece.text.isspace():
                    blank += piece.text
                    continue
                text, blank, held, sibling = held + blank + piece.text, "", "", None
                if not text:
                    continue
            elif piece.prefix == sibling and len(held) < _MAX_BLANK and not blank.strip(_XML_SPACE):
                held += blank + "\n" * piece.newlines  # its placeholder would only repeat the last one's events
                blank = text = ""
            else:
                text, blank, held = f"{held}{blank}<{piece.prefix}{HOUSEHOLD}/>" + "\n" * piece.newlines, "", ""
            if text:
                try:
                    events = skeleton.feed(text)
                except etree.XMLSyntaxError as exc:
                    yield from self._outer_events(skeleton.pending)
                    yield self._malformed(exc, self.households_seen + 1)
                    return
                yield from self._outer_events(events)
                if isinstance(piece, Outer):
                    continue
                sibling = piece.prefix if self._placeholder_closed(events) else None
            if self._refusal:
                raise FluxRefused(self._refusal)
            self.households_seen += 1
            if isinstance(piece, Oversized):
                where = f" (inside {piece.element})" if piece.element else ""
                yield ParsedRecord(position=self.households_seen, record_hash="", issues=(Issue(
                    RejectionCode.FIELD_TOO_LONG,
                    f"household longer than {MAX_HOUSEHOLD_CHARS} characters{where}: a field far beyond its "
                    "maximum length"),))
                continue
            record = self._household(piece, guard)
            yield record
            if record.issues and RejectionCode.MALFORMED_FILE in record.reason_codes:
                return
        try:
            events = skeleton.close()
        except etree.XMLSyntaxError as exc:
            yield from self._outer_events(skeleton.pending)
            if not self._header_seen and self.households_seen == 0:
                if stream.raw_bytes == 0:
                    raise FluxUnreadable("the file is empty") from None
                if skeleton.fed and skeleton.root is not None:
                    raise FluxUnreadable(f"the file ends before its first household (line {exc.position[0]})") from None
                raise FluxUnreadable(_unreadable_message(exc)) from None
            yield ParsedRecord(position=self.households_seen + 1, record_hash="", issues=(Issue(
                RejectionCode.TRUNCATED_FILE,
                f"the file ends after the previous household (line {exc.position[0]}); the rest is missing"),))
            return
        yield from self._outer_events(events)
        if self._refusal:
            raise FluxRefused(self._refusal)
        if not self._header_seen and self.households_seen == 0:
            raise FluxUnreadable(f"{self.path.name} holds no {HEADER} nor {HOUSEHOLD} element: not a CNAF beneficiaries flow")
        if not self._header_seen:
            yield ParsedRecord(position=0, record_hash="",
                               issues=(Issue(RejectionCode.MISSING_HEADER, f"no {HEADER} element in the file"),))

    def _outer_events(self, events: list[tuple[str, etree._Element]]) -> Iterator[ParsedRecord]:
        """Header records from the skeleton's events; remembers the namespaces in scope of each placeholder.

        Raises :class:`FluxRefused` on the first sign of another CNAF flow.
        """
        skeleton = self._skeleton
        assert skeleton is not None
        for event, element in events:
            name = _local(element.tag)
            if skeleton.root is None:
                skeleton.root = element
                other = other_flow_of_schema(element.get(_SCHEMA_LOCATION))
                if other is not None:  # said once the elements had their chance to name the flow
                    self._refusal = (f"{self.path.name} names the schema of another CNAF flow ({other}), "
                                     "not a beneficiaries flow: refused")
            if event == "start":
                if name == HOUSEHOLD:
                    self._nsmap = element.nsmap  # a new dict each time
                    self._namespaces = tuple(self._nsmap.items())
                elif name == HEADER:
                    self._in_header = True
                elif name in OTHER_FLOWS:
                    raise FluxRefused(f"{self.path.name} is a CNAF {OTHER_FLOWS[name]} flow ({name} elements), "
                                      "not a beneficiaries flow: refused")
                continue
            if name == HEADER:
                self._in_header = False
                yield from self._header(element)
            elif name == TRAILER:
                self.announced = element.text or ""
            if not self._in_header and element is not skeleton.root:
                _free(element)  # whatever else the file holds around the households is not kept

    def _placeholder_closed(self, events: list[tuple[str, etree._Element]]) -> bool:
        """Whether the events fed last end with a household placeholder closed outside the header: then the
        next household, when only XML whitespace comes between, is its sibling and its placeholder would add
        nothing (same namespaces in scope, no error possible), so it is not fed."""
        if not events or self._in_header:
            return False
        event, element = events[-1]
        return event == "end" and element is not self._skeleton.root and _local(element.tag) == HOUSEHOLD

    def _header(self, element: etree._Element) -> Iterator[ParsedRecord]:
        self._header_seen = True
        self.layout = detect_layout(_first(element, "{*}NUMVERSIONAPPLIEME"))
        self.header, issues = validate_header(_first(element, "{*}DTCREAFLUX"), _first(element, "{*}TYPEFLUX"))
        self._reference = self.header.creation_date or self._reference
        if issues:
            try:
                canonical = etree.tostring(element, method="c14n")
            except etree.C14NError:
                canonical = b""
            yield ParsedRecord(position=0, record_hash=hashlib.sha256(canonical).hexdigest(), issues=tuple(issues))

    def _malformed(self, exc: etree.XMLSyntaxError, position: int, line_offset: int | None = None) -> ParsedRecord:
        """The rejection for a file that stops being readable; libxml2's message is left out (it may quote data)."""
        if line_offset is None and not self._header_seen and position == 1:
            raise FluxUnreadable(_unreadable_message(exc))  # nothing of a CNAF flow was seen
        kind = _ERROR_NAMES.get(exc.code, f"code {exc.code}")
        line = exc.position[0] + (line_offset or 0)
        return ParsedRecord(position=position, record_hash="", issues=(Issue(
            RejectionCode.MALFORMED_FILE, f"XML error {kind} at line {line}; the rest of the file was not read"),))

    def _household(self, piece: Household, guard: DuplicateGuard) -> ParsedRecord:
        position = self.households_seen
        known = self._shapes.read(piece.text, self._namespaces) if self.layout is not None else None
        if known is not None:  # its text holds no "&": no entity reference
            plan, fields, record_hash, data = known
            encoding = text_encoding_issue((piece.text,)) if utf8_may_be_suspect(data) else None
            if encoding is None and (household := plan.plain(fields, self._reference)) is not None:
                return verdict(household, [], fields[0][0], position, record_hash, guard)  # no raw household
            raw = plan.read(fields)
        elif _ENTITY.search(piece.text) is not None:
            return ParsedRecord(position=position, record_hash=_text_hash(piece.text), issues=(Issue(
                RejectionCode.UNREADABLE_RECORD, "entity reference in the household: entities are never resolved"),))
        else:
            try:
                wrapper = etree.fromstring(_wrapped(piece.text, self._nsmap), self._parser)
            except etree.XMLSyntaxError as exc:
                return self._malformed(exc, position, piece.line - 1)
            element = wrapper[0]
            try:
                canonical = etree.tostring(element, method="c14n")
            except (etree.C14NError, ValueError) as exc:
                return ParsedRecord(position=position, record_hash=_text_hash(piece.text), issues=(Issue(
                    RejectionCode.UNREADABLE_RECORD, f"cannot be canonicalised ({type(exc).__name__})"),))
            plan = plan_household(element)
            raw, record_hash = plan.read(leaf_text), hashlib.sha256(canonical).hexdigest()
            if self.layout is None:
                vrsd = next(element.iter(*(f"{{*}}{name}" for name in VRSD0301_ELEMENTS)), None) is not None
                self.layout = "vrsd0301" if vrsd else "vrsb0801"
            self._shapes.learn(piece.text, self._namespaces, plan, element, canonical)
            encoding = text_encoding_issue((piece.text,))
        return judge(raw, position, record_hash, guard,
                     extra=() if encoding is None else (encoding,), reference=self._reference, encoding_checked=True)

    def file_warnings(self) -> list[tuple[int, str]]:
        """Warnings about the file as a whole, once read: the trailer's count against the households read."""
        if self.announced is None:
            return []
        issue = trailer_issue(self.announced, self.households_seen)
        return [] if issue is None else [(0, str(issue))]


def _text_hash(text: str) -> str:
    """The hash of a household that cannot be canonicalised: its text as read (computed only then)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _unreadable_message(exc: etree.XMLSyntaxError) -> str:
    kind = _ERROR_NAMES.get(exc.code, f"code {exc.code}")
    return f"not a readable XML file (XML error {kind} at line {exc.position[0]})"


def read_flux(path: str | Path) -> Iterator[ParsedRecord]:
    """Shorthand for ``iter(CnafFluxReader(path))``."""
    return iter(CnafFluxReader(path))
