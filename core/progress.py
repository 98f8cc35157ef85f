"""Progress reporting and cancellation, independent of QGIS."""

from __future__ import annotations

import time

from .errors import Cancelled


class Progress:
    """Receives progress (0..100) and text; ``check()`` raises Cancelled when asked to stop.

    The QGIS adapter subclasses this around a QgsProcessingFeedback; tests use it directly.
    """

    def __init__(self):
        self.messages: list[str] = []
        self.warnings: list[str] = []
        self.percent = 0.0
        self.cancel_requested = False

    def set_percent(self, percent: float):
        self.percent = percent

    def info(self, text: str):
        self.messages.append(text)

    def warn(self, text: str):
        self.warnings.append(text)

    def is_cancelled(self) -> bool:
        return self.cancel_requested

    def check(self):
        if self.is_cancelled():
            raise Cancelled("Cancelled by the user.")


class EtaClock:
    """Remaining-time estimate from the fraction done so far."""

    def __init__(self):
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def eta_text(self, fraction_done: float) -> str:
        if fraction_done <= 0:
            return "ETA --"
        remaining = self.elapsed() * (1.0 - fraction_done) / fraction_done
        minutes, seconds = divmod(int(round(remaining)), 60)
        return f"ETA {minutes}:{seconds:02d}"
