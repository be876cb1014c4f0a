"""The raw strings of one ``InfosFoyerRSA`` element (domain.md §8.1), in one walk over its elements.

A leaf is recognised by its name and its parent's (``Organisme/MATRICULE``, ``FinDroit/DTCLORSA``…), so
both layouts are read: vrsb0801 (``MontantCalculDroitRSAPersonne/TOPPERSDRODEVORSA``, two ``Prestations``
blocks per person) and vrsd0301 (``CalculDroitRSAPersonne/TOPPERSDRODEVORSA``, ``FonctionPersonnePFA`` /
``FonctionPersonneRSA``, ``RessourcesTropElevees/MOTISUSVERSRSA``). A person's role is the ``ROLEPERS`` of
the block about the RSA (``NATPREST`` ``RSA``, or ``FonctionPersonneRSA``); a block without ``NATPREST``
counts when it is the only one. The first occurrence of a single-valued field wins.

Only strings are extracted here; every rule deciding whether they make a valid household is in
:mod:`domain.flux_validation`.
"""

from __future__ import annotations

from lxml import etree

from domain.flux import RawHousehold, RawPerson

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


def _rsa_role(blocks: list[dict[str, str]]) -> str | None:
    """The ROLEPERS of the RSA block; of the only block when no block names its benefit."""
    for block in blocks:
        if block.get("NATPREST", "").strip() == "RSA" and "ROLEPERS" in block:
            return block["ROLEPERS"]
    if len(blocks) == 1 and "NATPREST" not in blocks[0]:
        return blocks[0].get("ROLEPERS")
    return None


def extract_household(element: etree._Element) -> RawHousehold:
    """The raw strings of an ``InfosFoyerRSA`` element (any namespace).

    A person's leaves are the grandchildren of its ``Personne`` (``Personne/Identification/NIR``…), so one
    walk over the elements is enough; it stops only at the names that matter, and reads only leaves.
    """
    raw = RawHousehold()
    found: dict[str, str] = {}
    person: RawPerson | None = None
    person_element: etree._Element | None = None
    blocks: dict[etree._Element, dict[str, str]] = {}
    for node in element.iter(*_WANTED):
        tag = node.tag
        name = _LOCAL_NAMES.get(tag) or _name(tag)
        if name == "Personne":
            if person is not None:
                person.role = _rsa_role(list(blocks.values()))
            person, person_element, blocks = RawPerson(), node, {}
            raw.persons.append(person)
            continue
        if len(node):
            continue  # only leaves hold values
        parent_element = node.getparent()
        parent_tag = parent_element.tag
        kind = _KINDS.get((parent_tag, tag)) or _kind(parent_tag, tag)
        role_block, attribute, field = kind
        text = node.text or ""
        if person is not None and (role_block or attribute) and parent_element.getparent() is person_element:
            if role_block:
                block = blocks.setdefault(parent_element, {} if role_block is True else {"NATPREST": role_block})
                block.setdefault(name, text)
                continue
            if getattr(person, attribute) is None:
                setattr(person, attribute, text)
            continue
        if field is None:
            continue
        if field == "right_state":
            raw.right_states.append(text)
        elif field == "suspension_reason":
            raw.suspension_reasons.append(text)
        elif field == "matricule":
            grand = parent_element.getparent()
            if grand is not None and _name(grand.tag) == "IdentificationRSA":
                found.setdefault(field, text)
        else:
            found.setdefault(field, text)
    if person is not None:
        person.role = _rsa_role(list(blocks.values()))
    raw.matricule = found.get("matricule")
    raw.suspension_date = found.get("suspension_date")
    raw.no_fixed_abode = found.get("no_fixed_abode")
    raw.commune = found.get("commune")
    if "closure_reason" in found or "closure_date" in found:
        raw.closure_reason, raw.closure_date = found.get("closure_reason"), found.get("closure_date")
    elif "earlier_closure_reason" in found or "earlier_closure_date" in found:
        raw.closure_reason, raw.closure_date = found.get("earlier_closure_reason"), found.get("earlier_closure_date")
        raw.closure_earlier_month = True
    return raw
