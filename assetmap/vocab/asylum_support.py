"""The words of the Home Office's Asy_D11 table, in one spelling each, and its known series breaks.

Asy_D11 (asylum seekers in receipt of support, by local authority) spells some labels more than
one way across its quarters (``Subsistence only`` / ``Subsistence Only``; ``Yorkshire And The
Humber`` / ``Yorkshire and The Humber``). Labels are compared without case or spacing and stored
in the spelling below (ONS's for regions); a label not listed keeps the first spelling seen.

Source: Home Office, Immigration system statistics, Asy_D11 and its notes (OGL v3.0).
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

SUPPORT_TYPES: tuple[str, ...] = ("Section 95", "Section 4", "Section 98")
ACCOMMODATION_TYPES: tuple[str, ...] = (
    "Dispersal Accommodation", "Subsistence Only", "Initial Accommodation", "Contingency Accommodation - Hotel",
    "Contingency Accommodation - Other", "Other Accommodation")
#: The UK regions and nations as ONS names them.
REGIONS: tuple[str, ...] = (
    "North East", "North West", "Yorkshire and The Humber", "East Midlands", "West Midlands", "East of England",
    "London", "South East", "South West", "Wales", "Scotland", "Northern Ireland")


def label_key(text: str) -> str:
    """Return a label for comparison: no case, spaces or hyphens (``Contingency Accommodation-Hotel``)."""
    return re.sub(r"[\s\-–]+", "", str(text).casefold())


_KNOWN = {label_key(x): x for x in (*SUPPORT_TYPES, *ACCOMMODATION_TYPES, *REGIONS)}


class Spellings:
    """One spelling per label: the vocabulary's, else the first seen (in the store, then the file)."""

    def __init__(self, seen: list[str] | tuple[str, ...] = ()) -> None:
        self._chosen: dict[str, str] = {}
        for s in seen:
            self.of(s)

    def of(self, text: str) -> str:
        """Return the one spelling of ``text``'s label (whitespace collapsed)."""
        text = " ".join(str(text).split())
        if not text:
            return text
        key = label_key(text)
        return self._chosen.setdefault(key, _KNOWN.get(key, text))


@dataclass(frozen=True)
class SeriesBreak:
    """Quarters in which the publisher did not allocate a kind of support to authorities."""

    support_type: str
    first: _dt.date | None
    last: _dt.date | None
    note: str

    def holds(self, when: _dt.date) -> bool:
        """Whether ``when`` falls within the break."""
        return (self.first is None or self.first <= when) and (self.last is None or when <= self.last)

    def said(self) -> str:
        """Return the break in a sentence: ``Series break, 31 Dec 2023 to 30 Sep 2024: …``."""
        span = (f"{self.first:%d %b %Y}" if self.first else "the first date") + " to " + \
            (f"{self.last:%d %b %Y}" if self.last else "the last")
        return f"Series break, {span}: {self.note}."


#: Breaks the Home Office's notes describe; the ``N/A - …`` rows of a release add what they show.
KNOWN_BREAKS: tuple[SeriesBreak, ...] = (
    SeriesBreak("Section 95 / Subsistence Only", _dt.date(2023, 12, 31), _dt.date(2024, 9, 30),
                "subsistence-only support published as not allocated to a local authority "
                "('N/A - Subsistence Only (Dec 2023 - Sep 2024)'): authority totals fall for a reason "
                "that is not dispersal"),
    SeriesBreak("Section 98", None, _dt.date(2022, 9, 30),
                "Section 98 support published by authority only from 31 Dec 2022 "
                "('N/A - Section 98 (pre-Dec 2022)')"),
    SeriesBreak("Section 4 / Dispersal Accommodation", None, _dt.date(2017, 12, 31),
                "part of Section 4 support published as not allocated to an authority before 2018 "
                "('N/A - Section 4 (pre-2018)')"),
)


def covers(brk: SeriesBreak, support_type: str, when: _dt.date) -> bool:
    """Whether the break touches a stored support type (``Section 98`` covers every Section 98 row) at a date."""
    return ((support_type == brk.support_type or support_type.startswith(brk.support_type + " / "))
            and brk.holds(when))
