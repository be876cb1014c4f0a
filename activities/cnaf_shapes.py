"""Households of a shape already seen, read without building a tree (the flow reader's common case).

A household's *shape* is its sequence of tags. When a household's text is *simple* — tags of the form
``<Name>`` / ``</Name>`` only (ASCII names, no prefix, no attribute, no comment, CDATA, processing
instruction nor empty-element tag) and, between them, characters that XML allows in text and that
canonical XML writes unchanged (no ``&``, ``<``, ``>``, control character, U+FFFE nor U+FFFF; line ends
are normalised first, as the parser does) — three things follow from its shape alone:

* it is well-formed exactly when its shape is: texts of those characters cannot change how tags nest;
* which tag holds which field (the :class:`~activities.cnaf_extract.HouseholdPlan`): names and nesting;
* its canonical form (C14N, hashed into ``record_hash``) is its own text after the start tag, behind the
  start tag libxml2 writes for the element with the namespaces in scope.

So a household of a new shape goes through the strict path (libxml2 parses it on its own, C14N hashes
it, the tree is walked); when it was accepted and is simple, its plan is kept under its shape, and the
canonical start tag under the namespaces in scope, both checked against libxml2's canonical form. A later
simple household of a known shape is then read by splitting its text at the tags: same record, same
hash, no tree. Any other household takes the strict path. The shapes kept per file are bounded.
"""

from __future__ import annotations

import hashlib
import re
import sys

from lxml import etree

from activities.cnaf_extract import HouseholdPlan, IndexedFields, IndexedPlan
from activities.cnaf_split import HOUSEHOLD

MAX_SHAPES = 512
_FREE_ATTEMPTS = 64  # households tried before one shape in four tried must be new and kept
_MARKUP = frozenset(b"<>&\r") | frozenset(range(0x09)) | {0x0B, 0x0C} | frozenset(range(0x0E, 0x20))
#: every byte but the tag delimiters and those a simple text cannot hold: what remains must be "<><>…"
_NOT_MARKUP = bytes(byte for byte in range(256) if byte not in _MARKUP)
_SIMPLE_TAG = re.compile(r"/?(?![Xx][Mm][Ll])[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_OPEN_TAG = f"<{HOUSEHOLD}>"
Namespaces = tuple[tuple[str | None, str], ...]


def _split(text: str) -> tuple[list[str], bytes] | None:
    """The text cut at ``<`` and ``>`` (texts at even places, tag names at odd ones) and its UTF-8 bytes,
    when the tags alternate with texts of simple characters; else None. Line ends are first normalised
    as the XML parser does (XML 1.0 §2.11), so that files written with CR LF are read alike."""
    if "\ufffe" in text or "\uffff" in text:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not XML text
        return None
    parts = text.replace("<", ">").split(">")
    if parts[0] or parts[-1] or data.translate(None, _NOT_MARKUP) != b"<>" * (len(parts) >> 1):
        return None
    return parts, data


class HouseholdShapes:
    """The plans of the simple shapes met in one file, and the canonical start tag per namespace context."""

    def __init__(self, max_shapes: int = MAX_SHAPES) -> None:
        self._plans: dict[str, IndexedPlan] = {}  # by the tags joined with ">" (which no tag holds): one string
        # to hash, where a tuple of the household's tags hashed each of its ~65 new strings
        self._start_tags: dict[Namespaces, bytes] = {}
        self._max = max_shapes
        self._attempts = 0

    def read(self, text: str, namespaces: Namespaces) -> tuple[IndexedPlan, IndexedFields, str, bytes] | None:
        """The plan and leaves' texts (:meth:`IndexedPlan.fields`), the record hash and the UTF-8 text of a
        simple household of a known shape, else None."""
        start_tag = self._start_tags.get(namespaces)
        if start_tag is None:
            return None
        split = _split(text)
        if split is None:
            return None
        parts, data = split
        plan = self._plans.get(">".join(parts[1::2]))
        if plan is None:
            return None
        return plan, plan.fields(parts), hashlib.sha256(start_tag + data[len(_OPEN_TAG):]).hexdigest(), data

    def learn(self, text: str, namespaces: Namespaces, plan: HouseholdPlan[etree._Element],
              element: etree._Element, canonical: bytes) -> None:
        """Keep the plan of a household libxml2 parsed strictly (``element``, its C14N ``canonical``) when
        it is simple, its shape new, and its canonical form its text as the module docstring says."""
        if len(self._plans) >= self._max or self._attempts >= _FREE_ATTEMPTS + 4 * len(self._plans):
            return
        self._attempts += 1  # a file whose households are seldom simple soon stops paying for the attempts
        split = _split(text)
        if split is None:
            return
        parts, data = split
        tags = tuple(map(sys.intern, parts[1::2]))  # interned: shapes share their tag names
        shape = ">".join(tags)
        if tags[0] != HOUSEHOLD or shape in self._plans or not all(map(_SIMPLE_TAG.fullmatch, tags)):
            return
        rest = data[len(_OPEN_TAG):]
        start_tag = self._start_tags.get(namespaces, canonical[:-len(rest)])
        if start_tag + rest != canonical:
            return  # not its canonical form after all: this shape stays on the strict path
        opens = [number for number, tag in enumerate(tags) if tag[0] != "/"]
        nodes = list(element.iter())
        if len(nodes) != len(opens):
            return
        text_after = {node: 2 * opens[rank] + 2 for rank, node in enumerate(nodes)}  # its place in the parts
        self._start_tags[namespaces] = start_tag
        self._plans[shape] = IndexedPlan(plan.renamed(text_after.__getitem__))
