"""A run's progress: each pass reports its own 0..1, mapped onto its slice of the job's 0..1."""

from __future__ import annotations

from collections.abc import Callable


class _ProgressScale:
    """Maps each pass's own 0..1 onto a slice of the job's 0..1; reports only forward steps of 1 % or more."""

    def __init__(
        self,
        callback: Callable[[float], None] | None,
        low: float = 0.0,
        high: float = 1.0,
        shown: list[float] | None = None,
    ):
        self.callback, self.low, self.high = callback, low, high
        self.shown = shown if shown is not None else [-1.0]  # shared by every slice of one job

    def span(self, low: float, high: float) -> _ProgressScale:
        return _ProgressScale(self.callback, low, high, self.shown)

    def __call__(self, fraction: float) -> None:
        value = round(self.low + (self.high - self.low) * min(max(fraction, 0.0), 1.0), 3)
        if self.callback is not None and (value - self.shown[0] >= 0.01 or (value == 1.0 > self.shown[0])):
            self.shown[0] = value
            self.callback(value)
