"""Scoring a draft against a hand-labelled gold file (``seeds/*.gold.yaml``).

The measures of the ingest issue:

* **status accuracy**: recommendations whose status (accepted, partially
  accepted, not accepted) equals the gold one, over the gold recommendations;
* **commitments**: a found commitment matches a gold one when both have the
  same paragraph and the same kind. Each gold item matches at most one found
  item. Gold items marked ``uncertain`` are optional: finding one is not a
  false positive and missing one is not a miss. Recall is over the certain
  gold items; precision is matched certain items over everything found except
  what matched an optional item;
* **exact dates**: of the matched certain items that carry a date, those whose
  due date and window (deadline), window (start), RRULE (recurring) or ISO
  duration (duration) equal the gold ones. Dependencies carry no date and are
  not counted.

The same figures can be computed for any other finder, such as a generic date
parser used as a baseline: give it as a list of :class:`Found`. Pure: the gold
file is given as the mapping YAML makes of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from models.ingest import Draft, Item

__all__ = ["Found", "Score", "found_in", "score", "total"]


@dataclass(frozen=True)
class Found:
    """A commitment as the scorer sees it."""

    para: str
    kind: str
    words: str = ""
    due: date | None = None
    window: tuple[date, date] | None = None
    rrule: str | None = None
    duration: str | None = None

    def describe(self) -> str:
        value = ""
        if self.kind == "deadline" and self.due is not None:
            value = f" due {self.due.isoformat()}"
            if self.window is not None:
                value += f" [{self.window[0].isoformat()}..{self.window[1].isoformat()}]"
        elif self.window is not None:
            value = f" [{self.window[0].isoformat()}..{self.window[1].isoformat()}]"
        elif self.rrule:
            value = f" {self.rrule}"
        elif self.duration:
            value = f" {self.duration}"
        return f"{self.para} {self.kind} {self.words!r}{value}"


def found_in(draft: Draft) -> list[Found]:
    """Every commitment of a draft, held back ones included (they were found)."""
    return [_found(item) for item in draft.items]


def _found(item: Item) -> Found:
    window = None
    due = None
    if item.kind == "deadline" and item.due is not None:
        due, window = item.due.end, (item.due.start, item.due.end)
    elif item.kind == "start" and item.starts is not None:
        window = (item.starts.start, item.starts.end)
    return Found(
        para=item.para,
        kind=item.kind,
        words=item.words,
        due=due,
        window=window,
        rrule=item.rrule,
        duration=item.duration.iso() if item.duration is not None else None,
    )


@dataclass
class Score:
    """The figures for one document (or, from :func:`total`, several)."""

    document: str
    statuses: int = 0
    statuses_right: int = 0
    certain: int = 0  # certain gold items
    matched: int = 0  # certain gold items found
    optional_found: int = 0  # found items that matched an uncertain gold item
    false: int = 0  # found items that matched nothing
    dated: int = 0  # matched certain items that carry a date
    exact: int = 0  # ... whose date equals the gold one
    misses: list[str] = field(default_factory=list)

    @property
    def status_accuracy(self) -> float:
        return self.statuses_right / self.statuses if self.statuses else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.certain if self.certain else 1.0

    @property
    def precision(self) -> float:
        counted = self.matched + self.false
        return self.matched / counted if counted else 1.0

    @property
    def exactness(self) -> float:
        return self.exact / self.dated if self.dated else 1.0

    def line(self, *, statuses: bool = True) -> str:
        parts = []
        if statuses:
            parts.append(
                f"status {self.status_accuracy:.0%} ({self.statuses_right}/{self.statuses})"
            )
        parts += [
            f"recall {self.recall:.2f} ({self.matched}/{self.certain})",
            f"precision {self.precision:.2f} ({self.matched}/{self.matched + self.false}"
            f"{f', {self.optional_found} optional' if self.optional_found else ''})",
            f"exact dates {self.exactness:.2f} ({self.exact}/{self.dated})",
        ]
        return "; ".join(parts)


@dataclass(frozen=True)
class _Gold:
    found: Found
    uncertain: bool
    rec: str


def _gold_items(gold: Mapping[str, Any]) -> list[_Gold]:
    out = []
    for rec in gold.get("recommendations") or []:
        for c in rec.get("commitments") or []:
            window = c.get("window")
            out.append(
                _Gold(
                    Found(
                        para=str(c["para"]),
                        kind=str(c["kind"]),
                        words=str(c.get("phrase", "")),
                        due=c.get("due"),
                        window=(window[0], window[1]) if window else None,
                        rrule=c.get("rrule"),
                        duration=c.get("duration"),
                    ),
                    bool(c.get("uncertain")),
                    str(rec["number"]),
                )
            )
    return out


def _same_date(ours: Found, gold: Found) -> bool:
    if gold.kind == "deadline":
        window_ok = ours.window is None or gold.window is None or ours.window == gold.window
        return ours.due == gold.due and window_ok
    if gold.kind == "start":
        return ours.window == gold.window
    if gold.kind == "recurring":
        return ours.rrule == gold.rrule
    if gold.kind == "duration":
        return ours.duration == gold.duration
    return True


def score(
    gold: Mapping[str, Any],
    found: Sequence[Found],
    statuses: Mapping[str, str | None] | None = None,
    *,
    name: str = "",
) -> Score:
    """Score ``found`` (and the recommendation ``statuses``, by number) against ``gold``.

    ``statuses`` is None for a finder that reads no statuses (a baseline).
    """
    result = Score(name or str(gold.get("document", "")))
    if statuses is not None:
        for rec in gold.get("recommendations") or []:
            number = str(rec["number"])
            result.statuses += 1
            ours = statuses.get(number)
            if ours == rec["status"]:
                result.statuses_right += 1
            else:
                result.misses.append(f"status of rec {number}: {ours} (gold: {rec['status']})")
    golds = _gold_items(gold)
    result.certain = sum(not g.uncertain for g in golds)
    free = list(range(len(found)))
    pairs: list[tuple[_Gold, int]] = []
    # exact pairs first, certain items before optional ones, so ties never cost a match
    for exact_only in (True, False):
        for uncertain in (False, True):
            for g in golds:
                if g.uncertain != uncertain or any(g is p for p, _ in pairs):
                    continue
                for j in free:
                    f = found[j]
                    if (f.para, f.kind) != (g.found.para, g.found.kind):
                        continue
                    if exact_only and not _same_date(f, g.found):
                        continue
                    pairs.append((g, j))
                    free.remove(j)
                    break
    for g, j in pairs:
        if g.uncertain:
            result.optional_found += 1
            continue
        result.matched += 1
        if g.found.kind != "dependency":
            result.dated += 1
            if _same_date(found[j], g.found):
                result.exact += 1
            else:
                result.misses.append(f"date: {found[j].describe()} (gold: {g.found.describe()})")
    paired = {id(g) for g, _ in pairs}
    for g in golds:
        if not g.uncertain and id(g) not in paired:
            result.misses.append(f"not found: rec {g.rec} {g.found.describe()}")
    for j in free:
        result.false += 1
        result.misses.append(f"false: {found[j].describe()}")
    return result


def total(scores: Iterable[Score], name: str = "total") -> Score:
    """The figures of several documents added up (micro-averaged)."""
    out = Score(name)
    for s in scores:
        out.statuses += s.statuses
        out.statuses_right += s.statuses_right
        out.certain += s.certain
        out.matched += s.matched
        out.optional_found += s.optional_found
        out.false += s.false
        out.dated += s.dated
        out.exact += s.exact
        out.misses += [f"{s.document}: {m}" for m in s.misses]
    return out
