"""The chunks the day's billing run hands to the workers (`billing.run.run_chunks`)."""

from __future__ import annotations

from billing.run import run_chunks


def test_the_first_chunks_of_the_day_ramp_up_so_that_workers_end_them_apart() -> None:
    ids = list(range(1, 5001))
    # Two workers at one pace end their chunks 250 to 500 accounts apart, not together.
    assert [len(chunk) for chunk in run_chunks(ids, 1000)] == [250, 500, 750, 1000, 1000, 1000, 500]
    # Every account once, in order.
    assert [i for chunk in run_chunks(ids, 1000) for i in chunk] == ids


def test_a_short_day_or_small_chunks_are_not_staggered() -> None:
    assert [len(c) for c in run_chunks(list(range(7)), 1000)] == [7]
    assert [len(c) for c in run_chunks(list(range(7)), 3)] == [3, 3, 1]
    assert list(run_chunks([], 1000)) == []
