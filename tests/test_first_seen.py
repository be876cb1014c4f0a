"""FirstSeenTable: the compact key → first position map behind duplicate detection."""

from __future__ import annotations

import random

import pytest

from domain.first_seen import FirstSeenTable


def test_a_key_keeps_its_first_position():
    table = FirstSeenTable()
    assert table.first_seen(42, 1) == 1
    assert table.first_seen(7, 2) == 2
    assert table.first_seen(42, 3) == 1
    assert table.get(42) == 1 and table.get(7) == 2 and table.get(8) is None
    assert len(table) == 2


def test_extreme_keys_and_positions():
    table = FirstSeenTable()
    top = (1 << 64) - 1
    assert table.first_seen(top, 0) == 0
    assert table.first_seen(1, (1 << 32) - 1) == (1 << 32) - 1
    assert table.get(top) == 0 and table.get(1) == (1 << 32) - 1


@pytest.mark.parametrize("key", [0, -1, 1 << 64])
def test_keys_outside_non_zero_64_bits_are_refused(key):
    with pytest.raises(ValueError):
        FirstSeenTable().first_seen(key, 1)


def test_a_position_over_32_bits_changes_nothing():
    table = FirstSeenTable()
    with pytest.raises(OverflowError):
        table.first_seen(5, 1 << 32)
    assert len(table) == 0 and table.get(5) is None


def test_growth_keeps_every_entry_and_stays_compact():
    table = FirstSeenTable(capacity=1)
    start = table.nbytes
    keys = [(i * 7919 + 13) << 5 | 7 for i in range(1, 50_001)]  # shaped like packed 7-digit matricules
    for position, key in enumerate(keys, start=1):
        assert table.first_seen(key, position) == position
    assert len(table) == len(keys) and table.nbytes > start
    assert all(table.get(key) == position for position, key in enumerate(keys, start=1))
    assert table.nbytes / len(keys) <= 32  # a dict of bytes digests took ~120 B per key


def test_no_false_positive_against_a_dict_on_300k_keys():
    """Random 64-bit keys with repeats, small keys, and keys sharing their low or high bits."""
    rng = random.Random(2024)
    fresh = [rng.getrandbits(64) or 1 for _ in range(200_000)]
    fresh += list(range(1, 50_001)) + [i << 40 for i in range(1, 25_001)] + [(i << 48) | 1 for i in range(1, 25_001)]
    stream = fresh + rng.sample(fresh, 30_000)
    rng.shuffle(stream)
    table, oracle = FirstSeenTable(capacity=16), {}
    for position, key in enumerate(stream, start=1):
        assert table.first_seen(key, position) == oracle.setdefault(key, position)
    assert len(table) == len(oracle) == len(set(fresh))
    absent = {rng.getrandbits(64) or 1 for _ in range(20_000)} - oracle.keys()
    assert all(table.get(key) is None for key in absent)


def test_small_tables_wrap_around_when_probing():
    rng = random.Random(7)
    for _ in range(200):
        table, oracle = FirstSeenTable(capacity=1), {}
        for position in range(1, 40):
            key = rng.getrandbits(64) or 1
            assert table.first_seen(key, position) == oracle.setdefault(key, position)
        assert all(table.get(key) == position for key, position in oracle.items())
