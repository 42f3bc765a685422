"""The prose check: every number a lecture's text states is one its outputs or records show.

Every number with a unit (%, nats, bits/dim, modes, seconds, minutes, hours, x) in a
notebook's markdown must appear in that notebook's outputs (the same value at the precision
written, with the same unit or none), in one of its claims' generated lines, or among the
lecture's registered paper figures (``dgm.course.claims``); a vague amount of a unit ("a few
minutes", "tens of nats") never passes. Claim blocks themselves are generated, so skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .claims import BLOCK

_UNITS = {
    "%": "%",
    r"\%": "%",
    "per cent": "%",
    "nats": "nats",
    "nat": "nats",
    "bits/dim": "bits/dim",
    "bits per dimension": "bits/dim",
    "modes": "modes",
    "mode": "modes",
    "s": "s",
    "sec": "s",
    "seconds": "s",
    "second": "s",
    "min": "min",
    "minutes": "min",
    "minute": "min",
    "h": "h",
    "hours": "h",
    "hour": "h",
    "×": "x",
    "x": "x",
}
_UNIT_RE = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+"
# a number, or a range/list joined by –, -, to, ±, /, "and", then a unit
_QUANTITY = re.compile(
    rf"(?<![\w.$^_{{])(?P<nums>(?:{_NUM})(?:\s*(?:–|-|to|±|\\pm|/|,|and|or)\s*(?:{_NUM}))*)"
    rf"(?P<space>\s?)(?P<unit>{_UNIT_RE})(?![\w/])"
)
_VAGUE = re.compile(
    r"\b(?:a few|several|a couple of|a handful of|tens of|dozens of|hundreds of)"
    r"\s+(?:CPU\s+|GPU\s+)?(?:seconds|minutes|hours|nats|modes|per cent)\b",
    re.I,
)
_MARKED_APPROX = re.compile(r"(?:~|≈|\\approx\s*|about |around |roughly )$")


@dataclass(frozen=True)
class Quantity:
    value: float
    decimals: int
    unit: str | None
    text: str


def _number(s: str) -> tuple[float, int]:
    s = s.replace(",", "")
    return float(s), len(s.partition(".")[2])


def quantities(text: str) -> list[Quantity]:
    """Every number-with-a-unit in ``text`` (ranges and lists give one per number)."""
    found = []
    for m in _QUANTITY.finditer(text):
        unit = _UNITS[m["unit"]]
        # "x" only as a factor written against its number ("64x", "10×"), never "3 x 3"
        if unit == "x" and (m["space"] or text[m.end() : m.end() + 1].isdigit()):
            continue
        if unit in ("s", "h", "min") and not m["space"]:
            continue  # "2s", "1h" are not how the course writes times; "200s" is a decade
        for num in re.findall(_NUM, m["nums"]):
            value, decimals = _number(num)
            found.append(Quantity(value, decimals, unit, m.group(0)))
    return found


def output_quantities(text: str) -> list[Quantity]:
    """Numbers in outputs: with their unit when one follows, else unit ``None``."""
    with_unit = quantities(text)
    spans = {q.value for q in with_unit}
    bare = []
    for m in re.finditer(rf"(?<![\w.])({_NUM})", text):
        value, decimals = _number(m[1])
        if value not in spans:
            bare.append(Quantity(value, decimals, None, m[1]))
    # a number may also appear bare elsewhere; keep both
    return (
        with_unit
        + bare
        + [Quantity(q.value, q.decimals, None, q.text) for q in with_unit if q.unit == "%"]
    )


_SCALE = {("min", "s"): 1 / 60, ("h", "s"): 1 / 3600, ("h", "min"): 1 / 60, ("s", "min"): 60}


def backs(claimed: Quantity, shown: Quantity) -> bool:
    """Does ``shown`` (an output or a registered figure) give ``claimed`` at its precision?"""
    if shown.unit is not None and shown.unit != claimed.unit:
        scale = _SCALE.get((claimed.unit, shown.unit))
        if scale is None:
            return False
        value = shown.value * scale
    else:
        value = shown.value
    candidates = [value]
    if claimed.unit == "%" and shown.unit is None and abs(value) <= 1:
        candidates.append(100 * value)  # a fraction printed as 0.873
    return any(_rounds_to(v, claimed.value, claimed.decimals) for v in candidates)


def _rounds_to(v: float, q: float, decimals: int) -> bool:
    return abs(v - q) <= 0.5 * 10.0**-decimals + 1e-9


@dataclass(frozen=True)
class Unbacked:
    cell: int
    text: str
    why: str


def _strip(text: str) -> str:
    text = BLOCK.sub("", text)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.sub(r"`[^`]*`", "", text)


def unbacked(
    markdown: Iterable[tuple[int, str]],
    outputs: str,
    backed: Iterable[str] = (),
) -> list[Unbacked]:
    """The quantities of ``markdown`` (``(cell index, source)`` pairs) that neither
    ``outputs`` nor the ``backed`` texts (claim lines, paper figures) give, and every vague
    amount of a unit."""
    shown = output_quantities(outputs)
    for text in backed:
        shown += quantities(text) + output_quantities(text)
    problems = []
    for index, source in markdown:
        text = _strip(source)
        for m in _VAGUE.finditer(text):
            problems.append(Unbacked(index, m.group(0), "a vague amount: give the measured figure"))
        for q in quantities(text):
            if not any(backs(q, s) for s in shown):
                problems.append(Unbacked(index, q.text, f"{q.value:g} {q.unit} is in no output"))
    return problems


# a progress bar's line: its rate and times are the run's pace, not a figure a text may cite
_PROGRESS = re.compile(r"^.*\d+/\d+ \[[\d:<?]+.*(?:it/s|s/it).*$", re.M)


def notebook_outputs(nb) -> str:
    """All text a notebook's outputs show (streams, plain text, markdown), less the lines of
    progress bars."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = out.get("text", "")
                text = text if isinstance(text, str) else "".join(text)
                parts.append(_PROGRESS.sub("", text.replace("\r", "\n")))
            for kind in ("text/plain", "text/markdown"):
                if kind in out.get("data", {}):
                    parts.append(out["data"][kind])
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)
