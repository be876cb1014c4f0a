"""Who keeps protobuf (upb) messages alive in a worker (issue 20, a probe of ``bench.memory_bench``; not a test).

A upb message object keeps its whole arena alive (the activation or completion it was parsed into or built in),
so one small ``Payload`` kept by a cached run can hold tens of KiB. ``census`` counts the live upb objects
(messages, repeated fields, maps: their type's module is ``google._upb._message``) and groups the *roots* (those
no other upb object refers to) by who refers to them: the referrer's type, and for a dict its key and the type of
the object whose ``__dict__`` it is, so an attribute reads as ``Info.headers`` or ``_WorkflowInstanceImpl._info``.
"""

from __future__ import annotations

import gc
from collections import Counter

from google.protobuf.message import Message

UPB = "google._upb._message"


def _is_upb(obj: object) -> bool:
    """A message, repeated field or map (descriptors and message classes are per process: left out)."""
    kind = type(obj)  # never ``isinstance``: it reads ``__class__``, which the sandbox's proxies refuse
    if issubclass(kind, type) or kind.__qualname__.endswith(("Descriptor", "DescriptorPool")):
        return False
    return issubclass(kind, Message) or kind.__module__ == UPB


def _describe(holder: object, target_id: int, owners: dict[int, object]) -> str:
    kind = type(holder).__qualname__
    if issubclass(type(holder), dict):
        keys = [k for k, v in holder.items() if id(v) == target_id]
        key = keys[0] if keys else "?"
        owner = owners.get(id(holder))
        return f"{type(owner).__qualname__}.{key}" if owner is not None else f"dict[{key!r}]"
    attrs = _slot(holder, "__dict__")  # an instance whose attributes are stored inline (no dict object yet)
    names = [k for k, v in attrs.items() if id(v) == target_id] if issubclass(type(attrs), dict) else []
    names += [name for cls in type(holder).__mro__ for name in getattr(cls, "__slots__", ())
              if isinstance(name, str) and id(_slot(holder, name)) == target_id]
    return f"{kind}.{names[0]}" if names else kind


def _slot(holder: object, name: str) -> object:
    try:  # sandbox proxies and pydantic mocks raise on attribute access
        return object.__getattribute__(holder, name)
    except Exception:
        return None


def census(top: int = 25) -> dict:
    """Live upb objects, and the referrers of the root ones (``{"objects", "roots", "by_type", "held_by"}``)."""
    gc.collect()
    objects = gc.get_objects()
    upb = {id(o): o for o in objects if _is_upb(o)}
    inner: set[int] = set()
    holders: dict[int, list[object]] = {}
    for obj in objects:  # attributes are not read here: reading ``__dict__`` would create dicts mid-walk
        if id(obj) in upb:
            inner.update(id(r) for r in gc.get_referents(obj) if id(r) in upb)
            continue
        for ref in gc.get_referents(obj):
            if id(ref) in upb or _is_upb(ref):  # repeated fields and maps are not tracked by the collector
                upb.setdefault(id(ref), ref)
                holders.setdefault(id(ref), []).append(obj)
    holder_dicts = {id(h) for refs in holders.values() for h in refs if issubclass(type(h), dict)}
    dict_owner: dict[int, object] = {}
    for obj in objects if holder_dicts else ():
        attrs = _slot(obj, "__dict__")
        if id(attrs) in holder_dicts:
            dict_owner[id(attrs)] = obj
    roots = [o for i, o in upb.items() if i not in inner]
    held_by: Counter[str] = Counter()
    for root in roots:
        refs = [h for h in holders.get(id(root), []) if h is not objects]
        if not refs:
            held_by["(no Python referrer: a sub-message or field of it refers to it from C)"] += 1
        for holder in refs:
            held_by[f"{_describe(holder, id(root), dict_owner)} -> {type(root).__qualname__}"] += 1
    by_type = Counter(type(o).__qualname__ for o in upb.values())
    encoded: Counter[str] = Counter()  # serialised size: the arena holding a message is at least this large
    for message in (o for o in upb.values() if issubclass(type(o), Message)):
        encoded[type(message).__qualname__] += message.ByteSize()
    del objects
    return {"objects": len(upb), "roots": len(roots), "by_type": dict(by_type.most_common(top)),
            "held_by": dict(held_by.most_common(top)), "encoded_bytes": dict(encoded.most_common(top))}
