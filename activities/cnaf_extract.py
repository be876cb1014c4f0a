"""The raw strings of one ``InfosFoyerRSA`` element (domain.md §8.1), in one walk over its elements.

A leaf is recognised by its name and its parent's (``Organisme/MATRICULE``, ``FinDroit/DTCLORSA``…), so
both layouts are read: vrsb0801 (``MontantCalculDroitRSAPersonne/TOPPERSDRODEVORSA``, two ``Prestations``
blocks per person) and vrsd0301 (``CalculDroitRSAPersonne/TOPPERSDRODEVORSA``, ``FonctionPersonnePFA`` /
``FonctionPersonneRSA``, ``RessourcesTropElevees/MOTISUSVERSRSA``). A person's role is the ``ROLEPERS`` of
the block about the RSA (``NATPREST`` ``RSA``, or ``FonctionPersonneRSA``); a block without ``NATPREST``
counts when it is the only one. The first occurrence of a single-valued field wins.

The walk gives a :class:`HouseholdPlan`: which leaf holds which field, decided by the elements' names and
nesting only. Its :meth:`~HouseholdPlan.read` then takes the leaves' texts. The split lets the reader keep
a plan for households of the same shape (:mod:`activities.cnaf_shapes`), leaves being then token numbers.

Only strings are extracted here; every rule deciding whether they make a valid household is in
:mod:`domain.flux_validation`.
"""

from __future__ import annotations

from datetime import date
from operator import itemgetter
from typing import Callable, Generic, NamedTuple, TypeVar

from lxml import etree

from domain.flux import Household, RawHousehold, RawPerson
from domain.flux_plain import PersonFields, plain_fields

_HOUSEHOLD_LEAVES = {
    ("Organisme", "MATRICULE"): "matricule",
    ("EtatDossierRSA", "ETATDOSRSA"): "right_state",
    ("SuspensionVersement", "MOTISUSVERSRSA"): "suspension_reason",
    ("RessourcesTropElevees", "MOTISUSVERSRSA"): "suspension_reason",
    ("SuspensionVersement", "DDSUSVERSRSA"): "suspension_date",
    ("FinDroit", "MOTICLORSA"): "closure_reason",
    ("FinDroit", "DTCLORSA"): "closure_date",
    ("FinDroitMoisAnterieur", "MOTICLORSA"): "earlier_closure_reason",
    ("FinDroitMoisAnterieur", "DTCLORSA"): "earlier_closure_date",
    ("TroncCommunDroitRSA", "TOPSANSDOMFIXE"): "no_fixed_abode",
    ("AdresseDetailleeFrance", "NUMCOM"): "commune",
}
_PERSON_LEAVES = {
    ("Identification", "NIR"): "nir",
    ("Identification", "NOMNAI"): "last_name",
    ("Identification", "PRENOM"): "first_name",
    ("Identification", "DTNAI"): "birth_date",
    ("MontantCalculDroitRSAPersonne", "TOPPERSDRODEVORSA"): "subject_to_duties",
    ("CalculDroitRSAPersonne", "TOPPERSDRODEVORSA"): "subject_to_duties",
}
#: Blocks holding a person's role for one benefit, and the benefit when the block's name says it.
_ROLE_BLOCKS = {"Prestations": None, "FonctionPersonnePFA": "PFA", "FonctionPersonneRSA": "RSA"}

#: The elements the walk stops at (any namespace), the rest being skipped by libxml2's side of lxml.
_WANTED = tuple(f"{{*}}{name}" for name in sorted(
    {"Personne", "NATPREST", "ROLEPERS"} | {leaf for _, leaf in (*_HOUSEHOLD_LEAVES, *_PERSON_LEAVES)}))

_LOCAL_NAMES: dict[str, str] = {}


def _name(tag: str) -> str:
    """Local name of a tag, cached (a file uses a few dozen tags; the cache is capped all the same)."""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = tag[tag.rfind("}") + 1:]
        if len(_LOCAL_NAMES) < 4096:
            _LOCAL_NAMES[tag] = name
    return name


#: (parent tag, leaf tag) -> (role block: its benefit, True when unnamed, else None; person attribute;
#: household field), by full tag so that a leaf's local names are looked up once per file, not per leaf.
_KINDS: dict[tuple[str, str], tuple[str | bool | None, str | None, str | None]] = {}


def _kind(parent_tag: str, tag: str) -> tuple[str | bool | None, str | None, str | None]:
    parent, name = _name(parent_tag), _name(tag)
    role_block: str | bool | None = None
    if parent in _ROLE_BLOCKS and name in ("NATPREST", "ROLEPERS"):
        role_block = _ROLE_BLOCKS[parent] or True
    kind = (role_block, _PERSON_LEAVES.get((parent, name)), _HOUSEHOLD_LEAVES.get((parent, name)))
    if len(_KINDS) < 4096:
        _KINDS[(parent_tag, tag)] = kind
    return kind


L = TypeVar("L")  # how a plan names a leaf: the element itself, or its tag's number in the household text
M = TypeVar("M")


class RoleBlock(NamedTuple, Generic[L]):
    """A ``Prestations`` / ``FonctionPersonne*`` block: its NATPREST leaf, or the benefit its name says."""

    benefit: L | str | None
    named: bool  # ``benefit`` is the block's name's benefit, not a leaf
    role: L | None


class PersonPlan(NamedTuple, Generic[L]):
    nir: L | None
    last_name: L | None
    first_name: L | None
    birth_date: L | None
    subject_to_duties: L | None
    blocks: tuple[RoleBlock[L], ...]


class HouseholdPlan(NamedTuple, Generic[L]):
    """Which leaf holds which field of a household; :meth:`read` makes the :class:`RawHousehold`."""

    matricule: L | None
    right_states: tuple[L, ...]
    suspension_reasons: tuple[L, ...]
    suspension_date: L | None
    closure_reason: L | None
    closure_date: L | None
    closure_earlier_month: bool
    no_fixed_abode: L | None
    commune: L | None
    persons: tuple[PersonPlan[L], ...]

    def read(self, text: Callable[[L], str]) -> RawHousehold:
        """The household's raw strings, ``text`` giving a leaf's text ("" when empty)."""
        persons = [RawPerson(
            None if p.nir is None else text(p.nir), None if p.last_name is None else text(p.last_name),
            None if p.first_name is None else text(p.first_name),
            None if p.birth_date is None else text(p.birth_date), _rsa_role(p.blocks, text) if p.blocks else None,
            None if p.subject_to_duties is None else text(p.subject_to_duties)) for p in self.persons]
        return RawHousehold(
            None if self.matricule is None else text(self.matricule), [text(leaf) for leaf in self.right_states],
            [text(leaf) for leaf in self.suspension_reasons],
            None if self.suspension_date is None else text(self.suspension_date),
            None if self.closure_reason is None else text(self.closure_reason),
            None if self.closure_date is None else text(self.closure_date), self.closure_earlier_month,
            None if self.no_fixed_abode is None else text(self.no_fixed_abode), None,
            None if self.commune is None else text(self.commune), persons)

    def renamed(self, rename: Callable[[L], M]) -> HouseholdPlan[M]:
        """The same plan, each leaf named by ``rename(leaf)``."""
        def new(leaf: L | None) -> M | None:
            return None if leaf is None else rename(leaf)
        persons = tuple(PersonPlan(
            new(p.nir), new(p.last_name), new(p.first_name), new(p.birth_date), new(p.subject_to_duties),
            tuple(RoleBlock(b.benefit if b.named else new(b.benefit), b.named, new(b.role)) for b in p.blocks))
            for p in self.persons)
        return HouseholdPlan(
            new(self.matricule), tuple(map(rename, self.right_states)), tuple(map(rename, self.suspension_reasons)),
            new(self.suspension_date), new(self.closure_reason), new(self.closure_date), self.closure_earlier_month,
            new(self.no_fixed_abode), new(self.commune), persons)


#: an :class:`IndexedPlan`'s reading of one household: the leaves' texts, then each person's six
IndexedFields = tuple[tuple[str | None, ...], list[PersonFields]]


class IndexedPlan:
    """A plan whose leaves are places in a list of texts, read with one ``itemgetter`` (the shape path).

    Every field's place comes first in one tuple, so a household is read by one C call and a few slices;
    a person whose role depends on a ``NATPREST`` text keeps its blocks and reads them as :meth:`read` does.
    """

    __slots__ = ("_get", "_states", "_reasons", "_persons", "_earlier")

    def __init__(self, plan: HouseholdPlan[int]) -> None:
        absent = -1  # the None that :meth:`read` appends to the texts

        def at(leaf: int | None) -> int:
            return absent if leaf is None else leaf

        places = [at(plan.matricule), at(plan.suspension_date), at(plan.closure_reason), at(plan.closure_date),
                  at(plan.no_fixed_abode), at(plan.commune), *plan.right_states, *plan.suspension_reasons]
        self._states = slice(6, 6 + len(plan.right_states))
        self._reasons = slice(self._states.stop, len(places))
        persons: list[tuple[int, tuple[RoleBlock[int], ...] | None]] = []
        for person in plan.persons:
            role, blocks = _fixed_role(person.blocks)
            persons.append((len(places), blocks))
            places += [at(person.nir), at(person.last_name), at(person.first_name), at(person.birth_date),
                       at(role), at(person.subject_to_duties)]
        self._get = itemgetter(*places, absent)  # never a single place: always a tuple
        self._persons = tuple(persons)
        self._earlier = plan.closure_earlier_month

    def fields(self, texts: list[str | None]) -> IndexedFields:
        """The leaves' texts of ``texts`` (appends a None to it: the absent leaves' text): the household's,
        then each person's in :class:`RawPerson`'s order."""
        texts.append(None)
        values = self._get(texts)
        return values, [values[at:at + 6] if blocks is None else (
            *values[at:at + 4], _rsa_role(blocks, texts.__getitem__), values[at + 5]) for at, blocks in self._persons]

    def read(self, fields: IndexedFields) -> RawHousehold:
        """The raw household of :meth:`fields`."""
        values, persons = fields
        return RawHousehold(values[0], list(values[self._states]), list(values[self._reasons]), values[1], values[2],
                            values[3], self._earlier, values[4], None, values[5],
                            [RawPerson(*person) for person in persons])

    def plain(self, fields: IndexedFields, reference: date | None) -> Household | None:
        """:func:`domain.flux_plain.plain_household` of :meth:`read`'s household, without building it."""
        values, persons = fields
        return plain_fields(values[0], values[self._states], values[self._reasons], values[1], values[2], values[3],
                            self._earlier, values[4], None, values[5], persons, reference)


def _fixed_role(blocks: tuple[RoleBlock[int], ...]) -> tuple[int | None, tuple[RoleBlock[int], ...] | None]:
    """The leaf :func:`_rsa_role` picks when no block's benefit is a text to read (else None and the blocks)."""
    if any(not block.named and block.benefit is not None for block in blocks):
        return None, blocks
    for block in blocks:
        if block.role is not None and (block.benefit or "").strip() == "RSA":  # type: ignore[union-attr]
            return block.role, None
    if len(blocks) == 1 and blocks[0].benefit is None:
        return blocks[0].role, None
    return None, None


def _rsa_role(blocks: tuple[RoleBlock[L], ...], text: Callable[[L], str]) -> str | None:
    """The ROLEPERS of the RSA block; of the only block when no block names its benefit."""
    for block in blocks:
        benefit = block.benefit if block.named or block.benefit is None else text(block.benefit)
        if block.role is not None and (benefit or "").strip() == "RSA":
            return text(block.role)
    if len(blocks) == 1 and blocks[0].benefit is None:
        return None if blocks[0].role is None else text(blocks[0].role)
    return None


class _Person:
    """A person's leaves while the walk is inside it; the first occurrence of each wins."""

    def __init__(self, element: etree._Element) -> None:
        self.element = element
        self.leaves: dict[str, etree._Element] = {}
        self.blocks: dict[etree._Element, dict[str, etree._Element | str]] = {}

    def plan(self) -> PersonPlan[etree._Element]:
        leaves = self.leaves.get
        blocks = tuple(RoleBlock(block.get("NATPREST"), isinstance(block.get("NATPREST"), str),
                                 block.get("ROLEPERS")) for block in self.blocks.values())
        return PersonPlan(leaves("nir"), leaves("last_name"), leaves("first_name"), leaves("birth_date"),
                          leaves("subject_to_duties"), blocks)  # type: ignore[arg-type]


def plan_household(element: etree._Element) -> HouseholdPlan[etree._Element]:
    """The plan of an ``InfosFoyerRSA`` element (any namespace), its leaves being elements.

    A person's leaves are the grandchildren of its ``Personne`` (``Personne/Identification/NIR``…), so one
    walk over the elements is enough; it stops only at the names that matter, and reads only leaves.
    """
    found: dict[str, etree._Element] = {}
    right_states: list[etree._Element] = []
    suspension_reasons: list[etree._Element] = []
    persons: list[_Person] = []
    person: _Person | None = None
    for node in element.iter(*_WANTED):
        tag = node.tag
        name = _LOCAL_NAMES.get(tag) or _name(tag)
        if name == "Personne":
            person = _Person(node)
            persons.append(person)
            continue
        if len(node):
            continue  # only leaves hold values
        parent_element = node.getparent()
        parent_tag = parent_element.tag
        kind = _KINDS.get((parent_tag, tag)) or _kind(parent_tag, tag)
        role_block, attribute, field = kind
        if person is not None and (role_block or attribute) and parent_element.getparent() is person.element:
            if role_block:
                block = person.blocks.setdefault(parent_element, {} if role_block is True else {"NATPREST": role_block})
                block.setdefault(name, node)
            else:
                person.leaves.setdefault(attribute, node)  # type: ignore[arg-type]
            continue
        if field is None:
            continue
        if field == "right_state":
            right_states.append(node)
        elif field == "suspension_reason":
            suspension_reasons.append(node)
        elif field == "matricule":
            grand = parent_element.getparent()
            if grand is not None and _name(grand.tag) == "IdentificationRSA":
                found.setdefault(field, node)
        else:
            found.setdefault(field, node)
    if "closure_reason" in found or "closure_date" in found:
        closure, earlier = (found.get("closure_reason"), found.get("closure_date")), False
    elif "earlier_closure_reason" in found or "earlier_closure_date" in found:
        closure, earlier = (found.get("earlier_closure_reason"), found.get("earlier_closure_date")), True
    else:
        closure, earlier = (None, None), False
    return HouseholdPlan(found.get("matricule"), tuple(right_states), tuple(suspension_reasons),
                         found.get("suspension_date"), closure[0], closure[1], earlier, found.get("no_fixed_abode"),
                         found.get("commune"), tuple(p.plan() for p in persons))


def leaf_text(node: etree._Element) -> str:
    return node.text or ""


def extract_household(element: etree._Element) -> RawHousehold:
    """The raw strings of an ``InfosFoyerRSA`` element (any namespace)."""
    return plan_household(element).read(leaf_text)
