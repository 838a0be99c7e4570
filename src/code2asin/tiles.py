"""A statistics tile or summary line, kept as a number until it is shown (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Tile:
    """One statistics tile or summary line: its value stays a number (a count, or a 0..1 share) so the
    workbook's Summary can write it as one; ``text`` is how the CLI shows it."""

    label: str
    value: int | float | str | None
    unit: Literal["count", "percent", "text"] = "count"

    @property
    def text(self) -> str:
        if self.value is None:
            return "—"
        if self.unit == "percent" and isinstance(self.value, int | float):
            return f"{self.value * 100:.1f}%"
        if self.unit == "count" and isinstance(self.value, int | float):
            return f"{self.value:,}"
        return str(self.value)
