"""Household boundaries of a CNAF flow, found by this module rather than by libxml2's error recovery.

A flow is a list of ``InfosFoyerRSA`` elements inside a few wrappers. :func:`split` scans the decoded text
for the household open and close tags (skipping comments and CDATA sections) and hands back, in file order,
the text between households (``Outer``) and each household's own text (``Household``), which the reader
then parses strictly, one at a time. A damaged household can thus never cost the households around it,
whatever libxml2 version recovers (or not) from the damage; memory holds one household at most, and a
household longer than ``max_chars`` is skipped to its close tag without being kept (``Oversized``).

The decoding stream (:class:`TextStream`) turns the file's bytes into text in the declared encoding, bytes
invalid in it becoming U+FFFD so that only the records holding them are rejected.
"""

from __future__ import annotations

import codecs
import re
from typing import BinaryIO, Iterable, Iterator, NamedTuple

HOUSEHOLD = "InfosFoyerRSA"
_CHUNK = 1 << 16
_KEEP = 160  # characters kept unscanned at the end of the buffer: a tag may straddle two chunks

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_NO_BOM = ((b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
           (b"\x00<\x00?", "utf-16-be"), (b"<\x00?\x00", "utf-16-le"))  # XML 1.0 appendix F
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


class FluxUnreadable(Exception):
    """The file cannot be read at all; the message is one line, without personal data."""


class FluxRefused(FluxUnreadable):
    """The file is another CNAF flow (instruction, financier): refused as a whole, naming the flow found."""


def sniff_encoding(head: bytes) -> str:
    """The encoding a byte-order mark, the first bytes (appendix F) or the XML declaration name; UTF-8 by default.

    A declaration naming a 16- or 32-bit encoding in a file whose first bytes are 8-bit is unreadable:
    decoding it as declared would turn the whole file into noise.
    """
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    for start, name in _NO_BOM:
        if head.startswith(start):
            return name
    match = _DECLARED.match(head)
    name = match.group(1).decode("ascii") if match else "utf-8"
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise FluxUnreadable(f"unsupported encoding {name!r} declared in the XML prolog") from None
    if codec.startswith(("utf-16", "utf-32")):
        raise FluxUnreadable(f"the XML prolog declares {name} but the file has no byte-order mark and its "
                             "first bytes are 8-bit: the declared encoding does not match the bytes")
    return codec


class TextStream:
    """The file's text in chunks, decoded as :func:`sniff_encoding` says; ``raw_bytes`` counts bytes read."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._head = raw.read(1024)
        self.encoding = sniff_encoding(self._head)
        self.raw_bytes = 0

    def chunks(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")
        data = self._head
        while data:
            self.raw_bytes += len(data)
            text = decoder.decode(data)
            if text:
                yield text
            data = self._raw.read(_CHUNK)
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail


class Outer(NamedTuple):
    """Text outside any household (prolog, wrappers, header, trailer)."""

    text: str


class Household(NamedTuple):
    """One household's text, from its open tag to its close tag; ``line`` is the line it starts on."""

    text: str
    line: int
    prefix: str  # namespace prefix with its colon, or ""
    newlines: int


class Oversized(NamedTuple):
    """A household longer than the limit, skipped; ``element`` names where the limit was crossed."""

    line: int
    prefix: str
    newlines: int
    element: str | None


class Cut(NamedTuple):
    """The file ends inside a household that starts at ``line``."""

    line: int


Piece = Outer | Household | Oversized | Cut


class _Next(NamedTuple):
    lead: str  # the text before the household (outer: no tag in it)
    household: Household


_NAME = r"[A-Za-z_][\w.-]{0,63}"
_OUTSIDE = re.compile(rf"<!--|<!\[CDATA\[|<({_NAME}:)?{HOUSEHOLD}(?=[\s/>])")
_INSIDE = re.compile(rf"<!--|<!\[CDATA\[|</(?:{_NAME}:)?{HOUSEHOLD}\s{{0,32}}>|<(?:{_NAME}:)?{HOUSEHOLD}(?=[\s/>])")
_START_TAG_REST = re.compile(r"""(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*(/?)>""")
_START_TAG_NAME = re.compile(rf"<((?:{_NAME}:)?{_NAME})")
_ENDS = {"<!--": "-->", "<![CDATA[": "]]>"}


def _declaration_in(text: str, start: int, end: int) -> bool:
    """Whether ``<!`` (a comment or a CDATA section) starts in ``text[start:end]``; a text seldom holds a
    ``!`` at all, which one ``memchr`` tells (``str.find`` of two characters is twenty times slower)."""
    return text.find("!", start, end) >= 0 and text.find("<!", start, end) >= 0


def split(chunks: Iterable[str], max_chars: int) -> Iterator[Piece]:
    """The pieces of a flow's text, in order; see the module docstring."""
    return _Splitter(max_chars).run(chunks)


class _Splitter:
    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.buf = ""
        self.pos = 0  # what is before it in ``buf`` was handed on already
        self.line = 1  # line number at the start of ``buf``
        self.skip_until: str | None = None  # the end of the comment or CDATA section being crossed
        self.inside = False
        self.parts: list[str] = []
        self.size = 0
        self.start_line = 0
        self.prefix = ""
        self.oversized_at: str | None | bool = False  # False while under the limit, else the element named
        self.open_tag = self.close_tag = ""

    def run(self, chunks: Iterable[str]) -> Iterator[Piece]:
        for chunk in chunks:
            self.buf, self.pos = self.buf[self.pos:] + chunk, 0
            yield from self._scan(final=False)
        yield from self._scan(final=True)
        if self.inside:
            yield Cut(self.start_line)
        elif self.left:
            yield Outer(self._take(self.left))

    def _take(self, end: int) -> str:
        """Consume and return the next ``end`` characters, keeping the line count."""
        text = self.buf[self.pos:self.pos + end]
        self.pos += end
        self.line += text.count("\n")
        return text

    @property
    def left(self) -> int:
        return len(self.buf) - self.pos

    def _keep(self, text: str) -> None:
        """Add text to the household being read, unless it went past the limit."""
        if self.oversized_at is not False:
            return
        self.parts.append(text)
        self.size += len(text)
        if self.size > self.max_chars:
            text = "".join(self.parts)
            match = _START_TAG_NAME.match(text, max(0, text.rfind("<")))
            self.oversized_at = match.group(1) if match else None
            self.parts, self.size = [], 0

    def _scan(self, final: bool) -> Iterator[Piece]:
        keep = 0 if final else _KEEP
        while True:
            if self.skip_until is not None:
                terminator = self.skip_until
                end = self.buf.find(terminator, self.pos)
                if end < 0:
                    yield from self._pass(self.left if final else self.left - len(terminator) + 1)
                    return
                self.skip_until = None
                yield from self._pass(end + len(terminator) - self.pos)
                continue
            if self.inside:
                if self._fast_close():
                    yield self._close()
                    continue
            elif self.open_tag and (found := self._next_household(keep, final)) is not None:
                if found.lead:
                    yield Outer(found.lead)
                yield found.household
                continue
            elif self.open_tag and self._next_is_household(keep, final):
                yield from self._pass(self.buf.find("<", self.pos) - self.pos)
                self._open(self.prefix)
                self._keep(self._take(len(self.open_tag)))
                continue
            match = (_INSIDE if self.inside else _OUTSIDE).search(self.buf, self.pos)
            if match is None or (match.end() > len(self.buf) - keep and not final):
                yield from self._pass(max(0, self.left - keep) if match is None else match.start() - self.pos)
                return
            token = match.group(0)
            if token in _ENDS:
                yield from self._pass(match.end() - self.pos)
                self.skip_until = _ENDS[token]
                continue
            if not self.inside:
                yield from self._pass(match.start() - self.pos)
                rest = _START_TAG_REST.match(self.buf, match.end())
                if rest is None and not final and self.left < 8192:
                    return  # the start tag may go on in the next chunk
                self._open(match.group(1) or "")
                if rest is not None and rest.group(1):  # <InfosFoyerRSA/>: an empty household
                    self._keep(self._take(rest.end() - self.pos))
                    yield self._close()
                else:
                    self._keep(self._take(len(token)))
                continue
            if token.startswith("</"):
                self._keep(self._take(match.end() - self.pos))
                yield self._close()
                continue
            yield from self._pass(match.start() - self.pos)
            yield self._close()  # another household opens before this one closed: the strict parse says why

    def _fast_close(self) -> bool:
        """The household's close tag found with ``str.find`` when nothing unusual comes before it (the
        common case, several times faster than the general pattern); False to take the general path."""
        close = self.buf.find(self.close_tag, self.pos)
        if close < 0:
            return False
        end = self.buf.find(">", close)
        if end < 0 or end > close + len(self.close_tag) + 32 or self.buf[close + len(self.close_tag):end].strip():
            return False
        if _declaration_in(self.buf, self.pos, close) or self.buf.find(self.open_tag, self.pos, close) >= 0:
            return False
        self._keep(self._take(end + 1 - self.pos))
        return True

    def _next_household(self, keep: int, final: bool) -> _Next | None:
        """The text up to the next household and that household, when the next tag opens a household like
        the last one (``<InfosFoyerRSA>`` with its prefix) and its close tag follows with nothing unusual
        before it, all in the buffer: the common case, in a few ``str.find`` (what :meth:`_next_is_household`,
        :meth:`_fast_close` and the steps between them would find); None to take those steps."""
        buf, pos, open_tag, close_tag = self.buf, self.pos, self.open_tag, self.close_tag
        start = buf.find("<", pos)
        body = start + len(open_tag)  # where the open tag's ">" must be
        if start < 0 or not buf.startswith(open_tag, start) or not buf.startswith(">", body) \
                or not (final or body <= len(buf) - keep):
            return None
        close = buf.find(close_tag, body)
        if close < 0:
            return None
        end = buf.find(">", close)
        if end < 0 or end > close + len(close_tag) + 32 or buf[close + len(close_tag):end].strip() \
                or end + 1 - start > self.max_chars or _declaration_in(buf, body, close) \
                or buf.find(open_tag, body, close) >= 0:
            return None
        lead, text = buf[pos:start], buf[start:end + 1]
        line = self.line + lead.count("\n")
        newlines = text.count("\n")
        self.pos, self.line = end + 1, line + newlines
        return _Next(lead, Household(text, line, self.prefix, newlines))

    def _next_is_household(self, keep: int, final: bool) -> bool:
        """Whether the next tag opens a household like the last one, ``<InfosFoyerRSA>`` with its prefix:
        the common case, where the general pattern would find that same tag, read with ``str.find``."""
        start = self.buf.find("<", self.pos)
        end = start + len(self.open_tag)
        return start >= 0 and self.buf.startswith(self.open_tag, start) and self.buf.startswith(">", end) \
            and (final or end <= len(self.buf) - keep)

    def _pass(self, end: int) -> Iterator[Piece]:
        """Hand on ``buf[:end]``: outer text, or the current household's."""
        if end <= 0:
            return
        text = self._take(end)
        if self.inside:
            self._keep(text)
        else:
            yield Outer(text)

    def _open(self, prefix: str) -> None:
        self.inside, self.prefix, self.start_line = True, prefix, self.line
        self.open_tag, self.close_tag = f"<{prefix}{HOUSEHOLD}", f"</{prefix}{HOUSEHOLD}"
        self.parts, self.size, self.oversized_at = [], 0, False

    def _close(self) -> Piece:
        self.inside = False
        if self.oversized_at is not False:
            element = self.oversized_at if isinstance(self.oversized_at, str) else None
            return Oversized(self.start_line, self.prefix, self.line - self.start_line, element)
        text, self.parts = "".join(self.parts), []
        return Household(text, self.start_line, self.prefix, self.line - self.start_line)
