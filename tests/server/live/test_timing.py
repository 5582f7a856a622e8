"""server/live/timing.py: sample arrival log and rolling percentiles."""

from __future__ import annotations

from xactor.server.live.timing import ArrivalLog, Rolling


def test_arrival_log_maps_samples_to_chunk_arrival() -> None:
    log = ArrivalLog()
    log.add(640, 1.0)
    log.add(320, 2.0)
    log.add(960, 3.0)
    assert log.arrival_of(0) == 1.0 and log.arrival_of(639) == 1.0
    assert log.arrival_of(640) == 2.0 and log.arrival_of(959) == 2.0
    assert log.arrival_of(960) == 3.0 and log.arrival_of(1919) == 3.0
    assert log.arrival_of(1920) is None and log.arrival_of(-1) is None
    assert log.arrival_of(1000) == 3.0 and log.arrival_of(700) == 2.0  # any order: lookups do not consume
    small = ArrivalLog(max_chunks=2)
    for t in (1.0, 2.0, 3.0):
        small.add(100, t)
    assert small.arrival_of(250) == 3.0 and small.arrival_of(150) is None  # forgotten, not misattributed


def test_rolling_percentiles() -> None:
    r = Rolling(size=100)
    for i in range(200):
        r.add("x", i / 1000)
    s = r.summary("x")
    assert s is not None and s["n"] == 100 and s["max"] == 199.0 and 145 < s["p50"] < 155
    assert r.summary("missing") is None
