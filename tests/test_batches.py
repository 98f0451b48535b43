"""The IN-list batches every query of many ids goes through (monitor/store/batches.py)."""

from __future__ import annotations

import pytest

from monitor.store.batches import IN_LIST, batches


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
