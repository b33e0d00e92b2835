"""The one time helper, across Swedish daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hemma.kit.time import age, end_of_local_day, ensure_utc, format_local, from_local, local_date


@pytest.mark.parametrize("day,expected", [
    (date(2026, 3, 28), datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),   # the night before summer time
    (date(2026, 3, 29), datetime(2026, 3, 29, 22, 0, tzinfo=UTC)),   # a 23-hour day
    (date(2026, 10, 25), datetime(2026, 10, 25, 23, 0, tzinfo=UTC)),  # a 25-hour day
])
def test_end_of_a_swedish_day(day, expected):
    assert end_of_local_day(day) == expected


def test_local_conversions():
    assert local_date(datetime(2026, 11, 29, 23, 30, tzinfo=UTC)) == date(2026, 11, 30)
    assert from_local(datetime(2026, 7, 1, 8, 0)) == datetime(2026, 7, 1, 6, 0, tzinfo=UTC)
    assert format_local(datetime(2026, 1, 1, 7, 5, tzinfo=UTC)) == "2026-01-01 08:05"
    with pytest.raises(ValueError):
        ensure_utc(datetime(2026, 1, 1))
    assert age(date(2000, 2, 29), on=date(2026, 2, 28)) == 25
