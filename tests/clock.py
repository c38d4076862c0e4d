"""Fake time for code that sleeps and reads a clock: nothing waits for real."""

from __future__ import annotations


class Clock:
    """Every sleep is recorded and moves the clock on; calling the clock reads it (a `time.monotonic` stand-in)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)

    def __call__(self) -> float:
        return self.now
