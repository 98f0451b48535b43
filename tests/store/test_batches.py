"""The IN-list batches every query of many ids goes through (monitor/store/batches.py)."""

from __future__ import annotations

import pytest

from monitor.store.batches import IN_LIST, batches, by_columns


@pytest.mark.parametrize("n", [0, 1, IN_LIST - 1, IN_LIST, IN_LIST + 1, 3 * IN_LIST])
def test_batches_keep_every_item_once_in_order_and_none_over_the_limit(n: int) -> None:
    items = list(range(n))
    parts = list(batches(items))
    assert [x for part in parts for x in part] == items
    assert all(1 <= len(part) <= IN_LIST for part in parts)
    assert len(parts) == -(-n // IN_LIST)  # the fewest statements that hold them


def test_a_size_of_its_own_and_none_below_one() -> None:
    assert [list(p) for p in batches("abcde", 2)] == [["a", "b"], ["c", "d"], ["e"]]
    with pytest.raises(ValueError, match="at least one"):
        list(batches([1], 0))


def test_rows_go_by_the_columns_they_name_in_order() -> None:
    rows = [{"id": 1, "a": 1}, {"id": 2, "b": 2}, {"a": 3, "id": 3}, {"id": 4}, {"b": 5, "id": 5}]
    assert by_columns(rows) == [
        [{"id": 1, "a": 1}, {"a": 3, "id": 3}],
        [{"id": 2, "b": 2}, {"b": 5, "id": 5}],
        [{"id": 4}],
    ]
    assert by_columns([]) == []
