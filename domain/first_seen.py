"""Exact, compact map from 64-bit keys to the position each key was first seen at.

Duplicate detection must remember every key of a file, so its memory is the one part of a read that grows
with the file. A ``dict`` costs about 120 B per key (key object, value object, hash table); this table takes
12 B per slot in two flat arrays (open addressing, linear probing, at most 3/4 full: 16–32 B per key).
Keys are compared whole: no false positive, unlike a Bloom filter or a truncated digest.
"""

from __future__ import annotations

from array import array

_MASK64 = (1 << 64) - 1
_FIBONACCI = 0x9E3779B97F4A7C15  # 2**64 / golden ratio: spreads consecutive keys over the whole table
_MIN_BITS = 4


class FirstSeenTable:
    """``first_seen(key, position)`` returns the position ``key`` was first recorded with.

    Keys are non-zero unsigned 64-bit integers (0 marks an empty slot); positions fit in 32 bits.
    """

    __slots__ = ("_keys", "_positions", "_shift", "_mask", "_limit", "_size")

    def __init__(self, capacity: int = 1024) -> None:
        self._size = 0
        self._allocate(max(_MIN_BITS, (max(capacity, 1) * 4 // 3).bit_length()))

    def _allocate(self, bits: int) -> None:
        slots = 1 << bits
        self._keys = array("Q", (0,)) * slots  # repetition allocates exactly; building from bytes adds 1/16
        self._positions = array("I", (0,)) * slots
        self._shift = 64 - bits
        self._mask = slots - 1
        self._limit = slots * 3 // 4

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        """Bytes held by the two arrays (what the table costs beyond a fixed ~200 B)."""
        return len(self._keys) * self._keys.itemsize + len(self._positions) * self._positions.itemsize

    def _slot(self, key: int) -> int:
        """The slot holding ``key``, or the empty slot where it would go."""
        if not 0 < key <= _MASK64:
            raise ValueError("keys are non-zero unsigned 64-bit integers")
        keys, mask = self._keys, self._mask
        slot = ((key * _FIBONACCI) & _MASK64) >> self._shift
        while True:
            found = keys[slot]
            if found == key or found == 0:
                return slot
            slot = (slot + 1) & mask

    def get(self, key: int) -> int | None:
        slot = self._slot(key)
        return self._positions[slot] if self._keys[slot] == key else None

    def first_seen(self, key: int, position: int) -> int:
        """The position recorded for ``key``; ``position`` is recorded when the key is new."""
        slot = self._slot(key)
        if self._keys[slot] == key:
            return self._positions[slot]
        if self._size >= self._limit:
            self._grow()
            slot = self._slot(key)
        self._positions[slot] = position  # first: an out-of-range position raises before anything changes
        self._keys[slot] = key
        self._size += 1
        return position

    def _grow(self) -> None:
        old_keys, old_positions = self._keys, self._positions
        self._allocate(64 - self._shift + 1)
        keys, positions = self._keys, self._positions
        for index, key in enumerate(old_keys):
            if key:
                slot = self._slot(key)
                keys[slot] = key
                positions[slot] = old_positions[index]
