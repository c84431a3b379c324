"""Documents in, rules out: read a published response and draft its rule file.

:func:`ingest_text` takes the text of a response document (the markdown-ish
text of the seeds, plain text, or what ``flows.ingest`` makes of a .docx or
an HTML page) and returns a :class:`Draft`: the response's title, inspection
period and publication date, every recommendation with its number, text and
status, and under each the commitments found in the response paragraphs.

It is built for the genre (UK government responses to inspectorate reports),
not for one document:

* **Structure.** A recommendation starts at "1.", "**1.**", "Recommendation 1:",
  "R1." or a heading holding one of those; its status is the first line after it
  that starts with a status phrase ("Accepted.", "Partially Accepted",
  "Accepted in part", "Both accepted", "Agreed", "Not accepted", "The Home
  Office accepts this recommendation", "Response: Partially agreed"); what
  follows is the response, in paragraphs numbered "1.2" or not numbered at all
  (then they are cited by the recommendation's number). Text broken across a
  page (a block that starts in lower case), footnotes and rules are mended.
* **Commitments.** Every date, period, length of time and frequency is found
  by the one date grammar, :mod:`models.dates`; this module only decides what
  each one is: a deadline ("by April 2018"), a start ("will commence in January
  2018"), a recurring duty ("will meet quarterly"), a duration ("the trial will
  last at least three months") or a dependency ("Subject to the findings of the
  review"). Past events ("introduced in 2017/18", anything that ended before
  publication) are left out; existing practice in the present tense ("meets
  monthly") is found but held back: it is not a new promise.
* **Doubt is said.** Every commitment carries a confidence and the reasons for
  it; ``review`` is set where the reading is ambiguous (a period counted from
  publication, a month without a year, "for 2021/22", hedged wording, an
  inferred cross-reference). A commitment that cannot be written as a valid
  rule (a dependency whose prerequisite has no commitment of its own, a
  per-case service standard, existing practice) is ``held`` with the reason,
  and the draft shows it as a comment rather than dropping it.
* **Vague promises.** An accepted recommendation with no commitment that can be
  a rule is ``vague``: the draft flags it ``no-date``, and ``duly validate
  --strict`` fails on it until a date or an ``undated: <reason>`` is added.

Pure: no I/O and no clock. The reference date is passed in, or read from the
document ("Published 11 January 2021").
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from models.dates import (
    DateError,
    Period,
    Span,
    find_every,
    find_periods,
    find_spans,
    parse_every,
    parse_period,
    parse_span,
)

__all__ = [
    "DEADLINE_RULE",
    "Draft",
    "IngestError",
    "Item",
    "RecommendationDraft",
    "ingest_text",
    "normalise_status",
    "response_sentences",
    "rule_for",
    "written_every",
    "written_period",
    "written_span",
]

Kind = Literal["deadline", "recurring", "duration", "start", "dependency"]
Status = Literal["accepted", "partially_accepted", "not_accepted"]

# The rule ids of rules/policies.yaml that drafts use, one per kind of promise.
DEADLINE_RULE = "report-back-by-date"
START_RULE = "start-in-period"
DURATION_RULE = "pilot-lasts-three-months"
DEPENDENCY_RULE = "when-ready"
RECURRING_RULES: dict[str, str] = {
    "FREQ=YEARLY": "review-annually",
    "FREQ=MONTHLY;INTERVAL=3": "meet-quarterly",
    "FREQ=MONTHLY": "monthly-check",
}
POLICY_DURATION = Span(months=3)
UNASSIGNED = "unassigned"
VAGUE_REASON = "no date or owner given"
PER_CASE = "a per-case time limit, counted from each case's own event"
REVIEW_BELOW = 0.7  # a confidence under this sets review: true


class IngestError(ValueError):
    """Raised when a document cannot be drafted at all (no recommendations, no date)."""


# --------------------------------------------------------------------------------------
# What a draft holds
# --------------------------------------------------------------------------------------


@dataclass
class Item:
    """One commitment found in a response paragraph.

    ``quote`` is the sentence it came from (verbatim, markdown removed) and
    ``marks`` the (start, end) offsets in it of the words that were read, for
    highlighting. Exactly the fields its kind needs are set: ``due`` (deadline),
    ``starts`` (start; optional for recurring and duration), ``rrule``
    (recurring), ``duration`` (duration). ``after`` is the index in
    :attr:`Draft.items` of the commitment this one waits for. ``held`` says why
    the item cannot be written as a valid rule yet; it is then left out of the
    rule file's commitments (written as a comment) but still counted as found.
    """

    kind: Kind
    para: str
    rec: str
    quote: str
    words: str
    marks: list[tuple[int, int]]
    action: str = ""
    due: Period | None = None
    starts: Period | None = None
    rrule: str | None = None
    every_words: str | None = None
    starts_words: str = ""  # the words ``starts`` was read from
    duration: Span | None = None
    after: int | None = None
    confidence: float = 0.8
    reasons: list[str] = field(default_factory=list)
    held: str | None = None
    id: str = ""
    relative: bool = False  # a period counted from the reference date
    context: str = ""  # the sentence before and this one: what a cross-reference may name
    paragraph: str = ""  # the whole paragraph, to place an item of a joint response
    sentence: int = 0  # index of the sentence in the document, for ordering
    target_words: frozenset[str] = frozenset()  # dependency: what it waits for
    target_rule: str = ""  # dependency: "previous", "meeting" or "words"
    _words: frozenset[str] | None = None

    @property
    def context_words(self) -> frozenset[str]:
        """The content words of :attr:`context`, computed once."""
        if self._words is None:
            self._words = _content_words(self.context)
        return self._words

    @property
    def review(self) -> bool:
        return self.confidence < REVIEW_BELOW

    @property
    def rule(self) -> str:
        return rule_for(self)

    @property
    def note(self) -> str:
        """Confidence and the reasons for it, as written into the draft."""
        why = "; ".join(dict.fromkeys(self.reasons)) or "read as written"
        return f"confidence {self.confidence:.1f}: {why}"

    def doubt(self, confidence: float, reason: str) -> None:
        """Lower the confidence to at most ``confidence`` and say why."""
        self.confidence = min(self.confidence, confidence)
        self.reasons.append(reason)


@dataclass
class RecommendationDraft:
    number: str
    text: str
    status: Status | None = None
    status_text: str | None = None
    line: int = 0
    items: list[Item] = field(default_factory=list)
    joint_with: tuple[str, ...] = ()  # numbers sharing one status line ("Both accepted")

    @property
    def vague(self) -> bool:
        """Accepted (or partly) with no commitment that can be written as a rule."""
        accepted = self.status in ("accepted", "partially_accepted")
        return accepted and not any(i.held is None for i in self.items)


@dataclass
class Draft:
    """A response document read into recommendations and commitments."""

    title: str
    inspectorate: str
    inspection_period: str | None
    published: date
    published_from: str  # "given", or the document's own words
    response_id: str
    source: str | None
    recommendations: list[RecommendationDraft]
    warnings: list[str] = field(default_factory=list)

    @property
    def items(self) -> list[Item]:
        return [i for r in self.recommendations for i in r.items]

    @property
    def vague(self) -> list[RecommendationDraft]:
        """Accepted recommendations with no commitment (nor any in a joint response)."""
        by_number = {r.number: r for r in self.recommendations}
        return [
            r
            for r in self.recommendations
            if r.vague and all(by_number[n].vague for n in r.joint_with if n in by_number)
        ]


def rule_for(item: Item) -> str:
    """The id of the policy (rules/policies.yaml) a commitment of this kind follows."""
    if item.kind == "recurring":
        rrule = item.rrule or ""
        if rrule in RECURRING_RULES:
            return RECURRING_RULES[rrule]
        return RECURRING_RULES[_nearest_frequency(rrule)]
    return {
        "deadline": DEADLINE_RULE,
        "start": START_RULE,
        "duration": DURATION_RULE,
        "dependency": DEPENDENCY_RULE,
    }[item.kind]


def _nearest_frequency(rrule: str) -> str:
    """The standard frequency (yearly, quarterly, monthly) closest to ``rrule``."""
    parts = dict(p.split("=", 1) for p in rrule.split(";") if "=" in p)
    days = {"DAILY": 1, "WEEKLY": 7, "MONTHLY": 30, "YEARLY": 365}.get(parts.get("FREQ", ""), 30)
    days *= int(parts.get("INTERVAL", "1") or 1)
    if days <= 45:
        return "FREQ=MONTHLY"
    return "FREQ=MONTHLY;INTERVAL=3" if days <= 135 else "FREQ=YEARLY"


# --------------------------------------------------------------------------------------
# Statuses
# --------------------------------------------------------------------------------------

_STATUS_WORDS = (
    r"(?:(?:fully|partially|partly|not|both|all|each|jointly)\s+)?"
    r"(?:accepted|agreed|rejected|declined|noted)"
    r"(?:\s+(?:in\s+(?:part|full|principle)|partially|in\s+full))?"
)
_STATUS = re.compile(
    r"^(?P<lead>(?:(?:the\s+)?(?:home\s+office|department|government|ministry|agency|hmpps)"
    r"(?:['\u2019]s)?\s+)?(?:response|status|decision)\s*[:\-\u2013\u2014]\s*)?"
    r"(?P<status>"
    rf"{_STATUS_WORDS}"
    r"|(?:(?:the\s+)?(?:home\s+office|department|government|ministry|we)\s+)"
    r"(?:(?:fully|partially|partly)\s+)?(?:does\s+not\s+|do\s+not\s+)?"
    r"(?:accepts?|agrees?|rejects?)(?:\s+(?:with\s+)?(?:this|the|both|these|all\s+\w+)"
    r"(?:\s+\w+)?\s+recommendations?)?(?:\s+in\s+(?:part|full|principle))?"
    r")(?P<stop>\s*[.:;]|\s*[\-\u2013\u2014](?=\s)|(?=\s*$)|(?=\s+[A-Z(]))",
    re.IGNORECASE,
)
_JOINT = re.compile(r"\b(?:both|all|each|jointly)\b", re.IGNORECASE)


def normalise_status(text: str) -> Status | None:
    """The status a printed status phrase means, or None.

    >>> [normalise_status(t) for t in ("Accepted.", "Partially Accepted.", "Accepted in part",
    ...  "Both accepted", "Not accepted", "Partly agreed", "The Home Office rejects this")]
    ['accepted', 'partially_accepted', 'partially_accepted', 'accepted', 'not_accepted', \
'partially_accepted', 'not_accepted']
    """
    t = " ".join(text.lower().split())
    if re.search(r"\b(?:not|does not|do not)\s+(?:accept|agree)|\breject|\bdeclin|^noted\b", t):
        return "not_accepted"
    if re.search(r"\b(?:partially|partly)\b|\bin (?:part|principle)\b", t):
        return "partially_accepted"
    if re.search(r"\b(?:accept|agree)", t):
        return "accepted"
    return None


def _read_status(text: str) -> tuple[Status, str, str] | None:
    """(status, status text as printed, the rest of the block) if ``text`` starts with one."""
    m = _STATUS.match(text)
    if m is None:
        return None
    status = normalise_status(m["status"])
    if status is None:
        return None
    stop = m["stop"].strip()
    printed = (m["lead"] or "") + m["status"] + (stop if stop in ".:" else "")
    rest = text[m.end() :].strip()
    return status, printed.strip(), rest


# --------------------------------------------------------------------------------------
# Blocks: the document's paragraphs, cleaned of markdown, with their printed numbers
# --------------------------------------------------------------------------------------


@dataclass
class _Block:
    text: str
    line: int
    label: str | None = None  # "1", "1.3", "a", "iv"
    rec_label: str | None = None  # "3" from "Recommendation 3:" or "R3."
    heading: bool = False
    bullet: bool = False
    bold: bool = False  # printed in bold (markdown **), as recommendations often are


_SKIP_LINE = re.compile(
    r"^\s*(?:-{3,}|_{3,}|\*{3,}|<sup>\s*\d+\s*</sup>.*|\[\^?\d+\]:.*|(?:page\s+)?\d{1,3}"
    r"(?:\s+of\s+\d{1,3})?)\s*$",
    re.IGNORECASE,
)
_TAGS = re.compile(r"<sup>[^<]{0,12}</sup>|<[^>\n]{1,200}>")
_BULLET = re.compile(r"^(?:[-*+\u2022\u00b7\u25aa\u25e6\u2023\u25cf\u2013]\s+)+")
_HEADING = re.compile(r"^#{1,6}\s*")
_LABEL = re.compile(
    r"^(?:(?P<dotted>\d{1,3}(?:\.\d{1,3}){1,3})\.?(?=\s|$)"
    r"|(?P<int>\d{1,3})[.)](?=\s|$)"
    r"|\(?(?P<sub>[a-z]|[ivx]{1,4})[.)](?=\s))\s*"
)
_REC_LABEL = re.compile(
    r"^(?:recommendation|rec\.?)\s+(?P<n>\d{1,3}[a-z]?)\b\s*[:.\-\u2013\u2014)]?\s*"
    r"|^R(?P<r>\d{1,3})\s*[:.)\-\u2013]\s*",
    re.IGNORECASE,
)
_TERMINATOR = re.compile(
    r"^(?:annex|appendix|glossary|abbreviations|footnotes|references|endnotes)\b", re.I
)


def _clean(line: str) -> tuple[str, bool, bool, bool]:
    """A raw line without markdown: (text, was a heading, was a bullet, was bold)."""
    text = _TAGS.sub("", line).replace("\u00a0", " ")
    text = re.sub(r"[\u2028\u2029\u0085\t]", " ", text).strip()
    heading = bool(_HEADING.match(text))
    text = _HEADING.sub("", text)
    bullet = bool(_BULLET.match(text)) and not text.startswith("**")
    text = _BULLET.sub("", text) if bullet else text
    bold = text.startswith("**") or text.rstrip(" .").endswith("**")
    text = text.replace("*", "").replace("__", "")
    return " ".join(text.split()), heading, bullet, bold


def _blocks(text: str) -> list[_Block]:
    """The document as cleaned blocks: one per paragraph, heading or bullet.

    A line that starts a structure (a number, a bullet, a heading) starts a
    block; other lines continue the block above them (a paragraph wrapped over
    several lines), and so does a block that starts in lower case after a
    blank line (a paragraph broken by a page). Rules, page numbers and
    footnote texts are dropped.
    """
    blocks: list[_Block] = []
    blank = True
    wrapped = False  # the line above was long enough to have been wrapped
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            blank = True
            continue
        if _SKIP_LINE.match(raw):
            continue
        cleaned, heading, bullet, bold = _clean(raw)
        if not cleaned:
            continue
        rec = _REC_LABEL.match(cleaned)
        if (
            rec is not None
            and re.match(r"[a-z(]", cleaned[rec.end() :])
            and not re.search(r"[:.\-\u2013\u2014)]\s*$", cleaned[: rec.end()])
        ):
            rec = None  # "Recommendation 3 is covered above": a sentence, not a heading
        label = _LABEL.match(cleaned)
        status = cleaned[0].isupper() and _read_status(cleaned) is not None
        starts_new = heading or bullet or rec is not None or label is not None or status
        if blocks and not starts_new:
            lower = cleaned[0].islower() or cleaned[0] in ",;)"
            if (not blank and wrapped) or lower:
                blocks[-1].text = f"{blocks[-1].text} {cleaned}"
                blank, wrapped = False, len(cleaned) >= 50 and not cleaned.endswith(":")
                continue
        wrapped = len(cleaned) >= 50 and not cleaned.endswith(":")
        block = _Block(cleaned, n, heading=heading, bullet=bullet, bold=bold)
        if rec is not None:
            block.rec_label = rec["n"] or rec["r"]
            block.text = cleaned[rec.end() :].strip()
        elif label is not None:
            block.label = label["dotted"] or label["int"] or label["sub"]
            block.text = cleaned[label.end() :].strip()
        blocks.append(block)
        blank = False
    return blocks


# --------------------------------------------------------------------------------------
# Document structure: header, recommendations, statuses, response paragraphs
# --------------------------------------------------------------------------------------


@dataclass
class _Para:
    rec: RecommendationDraft
    label: str
    text: str


@dataclass
class _Structure:
    header: list[_Block]
    recommendations: list[RecommendationDraft]
    paragraphs: list[_Para]
    warnings: list[str]


def _looks_like_recommendation(text: str) -> bool:
    words = text.split()
    return len(words) >= 3 and (words[0][:1].isupper() or words[0][:1] in "\"'\u2018\u201c(")


def _structure(blocks: Sequence[_Block]) -> _Structure:
    header: list[_Block] = []
    recs: list[RecommendationDraft] = []
    paras: list[_Para] = []
    warnings: list[str] = []
    phase = "intro"  # intro -> text (of a recommendation) -> response -> end
    para_label: str | None = None

    def pending() -> list[RecommendationDraft]:
        """Recommendations waiting for a status: the current one and any before it."""
        out: list[RecommendationDraft] = []
        for r in reversed(recs):
            if r.status is not None:
                break
            out.append(r)
        return list(reversed(out))

    # "Recommendation 3:" anywhere means bare numbers ("3.") are lists, not recommendations
    named = any(b.rec_label is not None for b in blocks)
    list_item = 0  # the last number of a numbered list inside the current response
    by_number: dict[str, RecommendationDraft] = {}
    current: RecommendationDraft | None = None
    revisit = False  # a recommendation met again (a summary first, then the detail)
    for block in blocks:
        if phase == "end":
            break
        number = block.rec_label
        if number is None and block.label is not None and block.label.isdigit() and not named:
            n = int(block.label)
            numbers = [int(r.number) for r in recs if r.number.isdigit()]
            expected = max(numbers) + 1 if numbers else 1
            first_ok = not recs and (block.heading or n == 1)
            in_list = phase == "response" and list_item and n == list_item + 1
            in_list = in_list and not (block.heading or block.bold)
            if (n == expected or first_ok) and not in_list:
                number = block.label if _looks_like_recommendation(block.text) else None
            if number is None and phase == "response":
                list_item = n
        if number is not None:
            list_item = 0
            revisit = number in by_number
            if not revisit:
                by_number[number] = RecommendationDraft(number, "", line=block.line)
                recs.append(by_number[number])
            current = by_number[number]
            phase, para_label = "text", None
            text = block.text
            status = _read_status(text) if text else None
            if status is not None:
                if current.status is None:
                    current.status, current.status_text = status[0], status[1]
                text = status[2]
                phase = "response"
                if text:
                    paras.append(_Para(current, number, text))
                continue
            tail = re.search(r"(?<=[.:;])\s+([A-Z][^.]{2,60}\.?)$", text)
            trailing = _read_status(tail.group(1)) if tail else None
            if tail and trailing is not None and not trailing[2]:  # "... Accepted."
                text = text[: tail.start()].strip()
                if current.status is None:
                    current.status, current.status_text = trailing[0], trailing[1]
            if not current.text:
                current.text = text
            continue
        if current is None:
            header.append(block)
            continue
        if block.heading and _TERMINATOR.match(block.text):
            phase = "end"
            continue
        rec = current
        waiting = pending() if not revisit else ([rec] if phase == "text" else [])
        status = _read_status(block.text) if waiting and block.label != "a" else None
        if status is not None:
            value, printed, rest = status
            covered = waiting if _JOINT.search(printed) and len(waiting) > 1 else [rec]
            group = tuple(r.number for r in covered) if len(covered) > 1 else ()
            for r in covered:
                if r.status is None:
                    r.status, r.status_text, r.joint_with = value, printed, group
            phase = "response"
            if block.label and "." in block.label:
                para_label = block.label
            if rest:
                paras.append(_Para(rec, para_label or rec.number, rest))
            continue
        repeated = revisit and (block.text in rec.text or not rec.text)
        if (
            phase == "text"
            and not (block.label and "." in block.label)
            and (not revisit or repeated)
        ):
            if not revisit:
                rec.text = f"{rec.text} {block.text}".strip()
            elif not rec.text:
                rec.text = block.text
            continue
        phase = "response"
        if block.label and "." in block.label:
            para_label = block.label
        paras.append(_Para(rec, para_label or rec.number, block.text))
    for r in recs:
        if r.status is None:
            warnings.append(f"rec {r.number}: no status found (line {r.line})")
    return _Structure(header, recs, paras, warnings)


# -- header: title, inspectorate, inspection period, publication date -------------------

_TITLE = re.compile(
    r"(?:^|\b(?:to|on|of)\s+(?:the\s+report\s+)?|['\u2018\u201c\"])"
    r"(?P<t>(?:An?\s+|The\s+)?(?:(?:thematic|rapid|short[- ]notice|unannounced|re-?)\s*)?"
    r"(?:inspection|review|investigation|report)\s+(?:of|into|on)\s.+)",
    re.IGNORECASE,
)
_ICIBI = "Independent Chief Inspector of Borders and Immigration"
_INSPECTORATE = re.compile(
    r"\b(?P<i>(?:HM\s+|His\s+Majesty['\u2019]s\s+|Her\s+Majesty['\u2019]s\s+)?"
    r"(?:Independent\s+)?(?:Chief\s+)?Inspector(?:ate)?\s+of\s+[A-Z][\w&,' ]+?)"
    r"(?=['\u2019]s\b|\s*\(|[.:;,]|\s+(?:for|on|report|published)\b|$)"
)
_PUBLISHED = re.compile(
    r"\b(?:(?:first\s+)?published|date\s+of\s+publication|publication\s+date)(?:\s+on)?"
    r"\s*:?\s*(?P<rest>(?:\d|[A-Z][a-z]+\s+\d).{2,40})"
    r"|^date\s*:\s*(?P<rest3>.{4,40})"
    r"|presented\s+to\s+parliament\b(?P<rest2>.{0,120})",
    re.IGNORECASE,
)


def _title(header: Sequence[_Block]) -> str:
    for block in header[:25]:
        m = _TITLE.search(block.text)
        if m is not None:
            title = re.split(r"['\u2019\u201d\"](?:\s*\(|\s*$)|\s+\((?:accessible|web)", m["t"])[0]
            title = title.strip().rstrip(".:").strip()
            return title[:1].upper() + title[1:]
    for block in header[:25]:
        if (block.heading or len(block.text.split()) > 3) and "response" not in block.text.lower():
            return block.text.rstrip(".:")
    return "Untitled response"


def _inspectorate(text: str) -> str:
    head = text[:6000]
    if re.search(r"Chief\s+Inspector\s+of\s+Borders?\b|\bICIBI\b", head, re.IGNORECASE):
        return _ICIBI
    m = _INSPECTORATE.search(head)
    if m is not None:
        return " ".join(m["i"].split())
    if re.search(r"\bIndependent\s+Chief\s+Inspector\b", head):
        return _ICIBI
    return "unknown inspectorate"


def _inspection_period(header: Sequence[_Block], paras: Sequence[_Block]) -> str | None:
    for block in header[:25]:
        try:
            p = parse_period(block.text)
        except DateError:
            continue
        if p.days > 20:
            return block.text.rstrip(".")
    for block in [*header, *paras][:60]:
        m = re.search(
            r"\b(?:undertaken|carried\s+out|conducted|took\s+place|ran)\s+(?:between\s+)?"
            r"(?P<a>[A-Z][a-z]+)(?:\s+\d{4})?\s+(?:and|to|-|\u2013)\s+(?P<b>[A-Z][a-z]+\s+\d{4})",
            block.text,
        )
        if m is not None:
            return f"{m['a']} \u2013 {m['b']}"
    return None


def _published_in(header: Sequence[_Block]) -> tuple[date, str] | None:
    """The publication date the document states, with its words, if it states one."""
    for block in header[:40]:
        m = _PUBLISHED.search(block.text)
        if m is None:
            continue
        rest = m["rest"] or m["rest2"] or m["rest3"] or ""
        found = find_periods(rest)
        if not found:
            try:
                found = [(rest, parse_period(rest))]
            except DateError:
                continue
        _, period = found[0]
        if period.days == 1:
            return period.start, block.text
        if period.days <= 31:  # a month: its last day stands in
            return period.end, f"{block.text} (day not given: last day of the month used)"
    return None


def _slug(text: str, limit: int = 5) -> str:
    stop = {
        "a",
        "an",
        "the",
        "of",
        "to",
        "for",
        "and",
        "in",
        "on",
        "by",
        "with",
        "will",
        "be",
        "we",
        "this",
        "that",
        "our",
        "its",
        "their",
        "is",
        "are",
        "it",
        "all",
        "each",
        "any",
        "inspection",
        "home",
        "office",
        "office's",
        "how",
        "from",
        "has",
        "have",
        "been",
        "as",
        "at",
        "or",
        "into",
        "which",
    }
    words = [w for w in re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower()) if w not in stop]
    words = [w.replace("'", "") for w in words if not w.endswith("'s") or len(w) > 4]
    return "-".join(words[:limit])[:48].strip("-")


# --------------------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"[.!?][\"\u201d\u2019')\]]*\s+(?=[\"\u201c\u2018'(\[]?[A-Z0-9])")
_ABBREVIATION = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|No|Mr|Mrs|Ms|Dr|St|para|paras|cf|approx|Fig|Vol|Ch|Sec|pp?|al|vs)"
    r"|\b[A-Z])\.[\"\u201d\u2019')\]]*\s+$"
)


def _sentences(text: str) -> Iterator[tuple[int, str]]:
    """(offset, sentence) for each sentence of a paragraph, verbatim."""
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if _ABBREVIATION.search(text[start : m.end()]):
            continue
        piece = text[start : m.end()].strip()
        if piece:
            yield start, piece
        start = m.end()
    piece = text[start:].strip()
    if piece:
        yield start, piece


# --------------------------------------------------------------------------------------
# Reading one sentence
# --------------------------------------------------------------------------------------

_FLAGS = re.IGNORECASE
# Cheap tests before the date grammar runs: a period needs a year, a month name, a season,
# a quarter or half, or a unit of time ("within six months"); a frequency needs its word.
_MAY_DATE = re.compile(
    r"\b(?:1[89]|2\d)\d\d\b|\b\d\d/\d\d\b|\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r"|\b(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)|(?i:spring|summer|autumn|winter"
    r"|quarter|\bQ[1-4]\b|\bH[12]\b|\byears?\b|months?\b|weeks?\b|\bdays?\b|fortnight)"
)
_MAY_SPAN = re.compile(r"\b(?:days?|weeks?|months?|years?|quarters?|fortnights?)\b|\bP\d", _FLAGS)
_MAY_EVERY = re.compile(
    r"daily|weekly|monthly|quarterly|annual|yearly|every|each\s+(?:day|week|month|quarter|year)"
    r"|per\s+(?:day|week|month|quarter|year|annum)|once\s+a|twice|fortnightly|biennial"
    r"|semi-?annual|bi-?annual|half[\s-]yearly|six[\s-]monthly|times\s+a\s+year",
    _FLAGS,
)
_FUTURE = re.compile(
    r"\b(?:will|shall|going\s+to|plan(?:s|ned|ning)?\s+(?:to|for)|planned|intend(?:s|ed)?\s+to"
    r"|intention|aim(?:s|ing)?\s+to|expect(?:s|ed)?\s+(?:to|that)|expected|scheduled|to\s+be"
    r"|would|hope(?:s|d)?\s+to|propose(?:s|d)?\s+to|envisage[sd]?|seek(?:s|ing)?\s+to"
    r"|committed\s+to|is\s+to|are\s+to|due\s+to\s+be|forthcoming|intends|timetabled"
    r"|(?:in|by|at|during|over|within|from)\s+the\s+(?:next|coming)|next\s+scheduled)\b",
    _FLAGS,
)
_HEDGE = re.compile(
    r"\b(?:hope|hopes|aim|aims|expect|expects|expected|envisage[sd]?|seek\s+to|may|might"
    r"|planning|plans?\s+to|intend|intends|intention|should)\b",
    _FLAGS,
)
_START_VERB = re.compile(
    r"\b(?:commenc\w*|start\w*|begin\w*|began|launch\w*|kick\w*\s+off|initiat\w*|undertake\w*"
    r"|get\s+underway)\b",
    _FLAGS,
)
_WEAK_START = re.compile(r"\bundertake\w*\b", _FLAGS)
_END_CUE = re.compile(
    r"^(?:by|before|until|till|no\s+later\s+than)\b|\bend\s+of\b|\bremainder\b", _FLAGS
)
_FIRST = re.compile(
    r"\bfirst\s+(?:\w+\s+){0,2}?(?:meeting|review|report|audit|check|session|board|update"
    r"|publication|survey|inspection|return)s?\b",
    _FLAGS,
)
_FROM_CUE = re.compile(r"^(?:from|starting|beginning|commencing)\b", _FLAGS)
_PAST_AUX = re.compile(r"\b(?:was|were|had|has|have|been)\b", _FLAGS)
_FUTURE_AUX = re.compile(
    r"\b(?:will|be|to|shall|would|is|are|being|planned|scheduled|expected|due)\b", _FLAGS
)
_RECURRING_NOUN = re.compile(
    r"\b(?:meet(?:s|ings?)?|met|review(?:s|ed|ing)?|report(?:s|ed|ing)?|audit(?:s|ed|ing)?"
    r"|boards?|committees?|forums?|groups?|panels?|checks?|checked|update[sd]?|updating"
    r"|monitor(?:s|ed|ing)?|returns?|information|MI|dashboards?|surveys?|sampl(?:e|es|ed|ing)"
    r"|assurance|inspections?|publish(?:es|ed|ing)?|publications?|statistics|data|bulletins?"
    r"|newsletters?|calls?|conferences?|briefings?|sessions?|refresh(?:ed|es)?|re-?sign(?:ed)?"
    r"|evaluat\w+|assess\w*|scrutin\w+|tasking|plans?|training|exercises?|test(?:s|ed|ing)?)\b",
    _FLAGS,
)
_PER_CASE = re.compile(
    r"^\s*(?:of|from|after|following)\s+(?!(?:the\s+)?(?:publication|report|inspection|this"
    r"\s+response|today))",
    _FLAGS,
)
_SPAN_CUE = re.compile(
    r"\b(?:within|for|last|lasts|lasting|run|runs|running|after|over|period\s+of|up\s+to"
    r"|at\s+least|minimum\s+of|maximum\s+of|by)\s+(?:the\s+|a\s+|an\s+)?$",
    _FLAGS,
)
_SPAN_NOUN = re.compile(
    r"^[\s-]*(?:pilot|trial|programme|project|period|secondment|placement|scheme|test)\b", _FLAGS
)


@dataclass(frozen=True)
class _Dep:
    start: int
    end: int
    rule: str  # "words", "previous", "meeting" or "none"
    target: str  # the words naming what it waits for


_DEP_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "words",
        re.compile(r"\bsubject\s+to\s+(?P<obj>(?:the|a|any|its|their)?\s*[^,.;]{3,80})", _FLAGS),
    ),
    (
        "words",
        re.compile(
            r"\bfurther\s+to\s+(?P<obj>(?:the|this|that|these|its|our)\s+[^,.;]{3,80})", _FLAGS
        ),
    ),
    (
        "words",
        re.compile(
            r"\b(?:following|after|on|upon|once)\s+(?:the\s+)?(?:completion|conclusion|outcome"
            r"|findings|results|publication|approval|evaluation|agreement|receipt)\s+of\s+"
            r"(?P<obj>[^,.;]{3,80})",
            _FLAGS,
        ),
    ),
    (
        "words",
        re.compile(
            r"\b(?:once|when|after)\s+(?P<obj>(?:the|this|that|these|our|its)\s+[^,.;]{3,60}?)"
            r"\s+(?:is|are|has\s+been|have\s+been)\s+(?:completed?|finished|concluded|agreed"
            r"|approved|in\s+place|published|signed\s+off|evaluated)\b",
            _FLAGS,
        ),
    ),
    (
        "words",
        re.compile(
            r"\b(?:dependent|depending|contingent|conditional)\s+(?:up)?on\s+(?P<obj>[^,.;]{3,80})",
            _FLAGS,
        ),
    ),
    (
        "words",
        re.compile(
            r"\bin\s+(?:the\s+)?light\s+of\s+(?:the\s+)?(?:findings|outcome|results|conclusions)"
            r"\s+of\s+(?P<obj>[^,.;]{3,80})",
            _FLAGS,
        ),
    ),
    (
        "previous",
        re.compile(
            r"\bif\s+(?P<obj>(?:this|the|that|these|it|they)\b[^,.;]{0,60}?)\s+(?:proves?"
            r"|is\s+(?:found\s+to\s+be\s+)?(?:successful|effective)|succeeds?|works?)\b[^,.;]*",
            _FLAGS,
        ),
    ),
    (
        "none",
        re.compile(
            r"^\s*before\s+(?P<obj>(?:any|the|this|these|a|an)\s+[^,.;]{3,80}?)\s+(?:is|are"
            r"|can\s+be|will\s+be|has\s+been|have\s+been)\b[^,;]*",
            _FLAGS,
        ),
    ),
    ("meeting", re.compile(r"\bat\s+(?:the|its|their)\s+first\s+(?P<obj>meeting)\b", _FLAGS)),
]
_GENERIC = frozenset(
    [
        "the",
        "a",
        "an",
        "of",
        "to",
        "and",
        "any",
        "this",
        "that",
        "these",
        "its",
        "their",
        "our",
        "findings",
        "outcome",
        "results",
        "completion",
        "conclusion",
        "wider",
        "being",
        "completed",
        "complete",
        "current",
        "new",
        "further",
        "all",
        "work",
        "process",
        "approach",
        "on",
        "in",
        "for",
        "from",
        "with",
        "by",
        "is",
        "are",
        "be",
        "will",
        "has",
        "have",
        "been",
        "proves",
        "prove",
    ]
)


def _counted_from(item: Item, tail: str) -> None:
    """Note what a time limit counts from ("of the audit"), to find it among commitments."""
    m = re.match(r"\s*(?:of|from|after|following)\s+([^,.;]{3,60})", tail, _FLAGS)
    if m is not None:
        item.target_words = _content_words(" ".join(m.group(1).split()[:6]))
        item.target_rule = "words"


def _dependencies(sentence: str) -> list[_Dep]:
    found: list[_Dep] = []
    for rule, pattern in _DEP_PATTERNS:
        for m in pattern.finditer(sentence):
            obj = m["obj"]
            if rule == "words" and sentence[m.start() :].lower().startswith("subject"):
                head = " ".join(obj.split()[:5])
                if find_every(head) or re.match(
                    r"(?:the\s+same|intense|scrutiny|change|any\s+barriers)", obj.strip(), _FLAGS
                ):
                    continue
            if any(m.start() < d.end and d.start < m.end() for d in found):
                continue
            if re.search(
                r"\b(?:was|were|had\s+been|has\s+been|have\s+been)\s+$",
                sentence[max(0, m.start() - 20) : m.start()],
                _FLAGS,
            ):
                continue  # "the contract was subject to ...": how it went, not a condition
            found.append(_Dep(m.start(), m.end(), rule, obj))
    return found


def _content_words(text: str) -> frozenset[str]:
    """The words that say what a text is about, crudely stemmed ("evaluated", "evaluation")."""
    words = re.findall(r"[A-Za-z][A-Za-z'-]+", text.lower())
    return frozenset(w.rstrip("s")[:6] for w in words if w not in _GENERIC and len(w) > 2)


def _locate(sentence: str, words: str, start: int) -> int:
    at = sentence.find(words, start)
    return at if at >= 0 else sentence.find(words)


def _past_participle_before(sentence: str, at: int) -> bool:
    """True when the words just before offset ``at`` describe something done ("introduced in")."""
    before = re.findall(r"[A-Za-z']+", sentence[max(0, at - 60) : at])
    if not before:
        return False
    last = before[-1].lower()
    if last in ("in", "on", "during", "from", "since") and len(before) > 1:
        last = before[-2].lower()
        aux = before[-6:-2]
    else:
        aux = before[-5:-1]
    if not last.endswith("ed") or last in ("need", "agreed", "proceed", "exceed", "indeed"):
        return False
    aux_text = " ".join(aux)
    return not (_FUTURE_AUX.search(aux_text) and not _PAST_AUX.search(aux_text))


def _action(sentence: str, at: int, cuts: Sequence[tuple[int, int]], previous: str) -> str:
    """A short clause saying what is promised, from the sentence the item was read in.

    The clause holding offset ``at`` is kept; the date words and conditions
    (``cuts``) and the usual openings ("We will", "It is our intention to")
    are taken out. A clause too short to stand alone ("Do this") borrows the
    sentence before it.
    """
    clauses = [
        (m.start(), m.end())
        for m in re.finditer(r"[^;]+?(?=;|, and (?:we|the|to|aim|will)\b|, but |$)", sentence)
    ]
    start, end = 0, len(sentence)
    for s, e in clauses:
        if s <= at < e:
            start, end = s, e
            break
    keep = [True] * len(sentence)
    for s, e in cuts:
        for k in range(max(s, start), min(e, end)):
            keep[k] = False
    text = "".join(ch if keep[k] else " " for k, ch in enumerate(sentence))[start:end]
    text = re.sub(r"^[\s,]*(?:then\s+)?", "", text)
    text = re.sub(
        r"^\W*(?:and\s+|but\s+|however,?\s+|therefore,?\s+|in\s+addition,?\s+|additionally,?\s+"
        r"|similarly,?\s+|as\s+a\s+result,?\s+|then\s+)*",
        "",
        text,
        flags=re.I,
    )
    text = re.sub(
        r"^(?:it\s+is\s+(?:the\s+\w+(?:['\u2019]s)?\s+|our\s+)?intention\s+to\s+(?:have\s+)?"
        r"|it\s+is\s+(?:intended|planned|envisaged|expected)\s+that\s+"
        r"|(?:we|the\s+home\s+office|the\s+department)\s+(?:will|shall|are\s+planning\s+to"
        r"|plan\s+to|intends?\s+to|aims?\s+to|hopes?\s+to|expects?\s+to|(?:will|would)\s+also"
        r"|are\s+committed\s+to|therefore\s+hope\s+to)\s+"
        r"|(?:aim|hope|seek|plan)\s+to\s+|(?:we\s+)?therefore\s+)",
        "",
        text.strip(),
        flags=re.I,
    )
    text = re.sub(r"^(?:a|an|the)\s+(?=[a-z])", "", text, flags=re.I)
    text = re.sub(r"\s+([,.;:])", r"\1", " ".join(text.split())).strip(" ,.;:-")
    words = text.split()
    if len(words) < 4 and previous:
        lead = " ".join(previous.split()[:12]).rstrip(",.;:")
        text = f"{text} ({lead} ...)" if text else lead
        words = text.split()
    if len(words) > 16:
        text = " ".join(words[:16]) + " ..."
    return (text[:1].upper() + text[1:]) if text else sentence[:80]


# --------------------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------------------


@dataclass
class _Reader:
    published: date
    items: list[Item] = field(default_factory=list)
    deps: list[tuple[int, _Dep]] = field(default_factory=list)  # (item index, cue)
    sentence_no: int = 0

    def paragraph(self, para: _Para) -> None:
        previous = ""
        first_item = len(self.items)
        for _, sentence in _sentences(para.text):
            self.sentence_no += 1
            self._sentence(para, sentence, previous, first_item)
            previous = sentence

    def _item(self, para: _Para, sentence: str, kind: Kind, words: str, at: int) -> Item:
        item = Item(
            kind=kind,
            para=para.label,
            rec=para.rec.number,
            quote=sentence,
            words=words,
            marks=[(at, at + len(words))],
            sentence=self.sentence_no,
        )
        return item

    def _sentence(self, para: _Para, sentence: str, previous: str, first_item: int) -> None:
        future = bool(_FUTURE.search(sentence))
        hedged = _HEDGE.search(sentence)
        new: list[Item] = []
        periods: list[tuple[int, str, Period]] = []
        if _MAY_DATE.search(sentence):
            pos = 0
            for words, period in find_periods(sentence, self.published):
                at = _locate(sentence, words, pos)
                pos = at + len(words)
                periods.append((at, words, period))
        past_period = any(p.end < self.published for _, _, p in periods)
        about_past = past_period and not future
        spans: list[tuple[int, str, Span]] = []
        if _MAY_SPAN.search(sentence) and not about_past:
            pos = 0
            for words, span in find_spans(sentence):
                at = _locate(sentence, words, pos)
                pos = at + len(words)
                if any(a <= at < a + len(w) for a, w, _ in periods):
                    continue
                spans.append((at, words, span))
        everies: list[tuple[int, str, str]] = []
        if _MAY_EVERY.search(sentence) and not about_past:
            pos = 0
            for words, rrule in find_every(sentence):
                at = _locate(sentence, words, pos)
                pos = at + len(words)
                everies.append((at, words, rrule))
        deps = [] if about_past else _dependencies(sentence)

        # starts given to a recurring duty or a duration in the same sentence ("from November")
        from_periods = [
            (at, w, p)
            for at, w, p in periods
            if _FROM_CUE.match(w) and p.end >= self.published and (everies or spans)
        ]
        for at, words, rrule in everies:
            window = sentence[max(0, at - 70) : at + len(words) + 40]
            if not _RECURRING_NOUN.search(window):
                continue
            item = self._item(para, sentence, "recurring", words, at)
            item.rrule, item.every_words = rrule, words
            item.confidence = 0.85
            if from_periods:
                fat, fwords, fperiod = from_periods[0]
                item.starts, item.starts_words = fperiod, fwords
                item.marks.append((fat, fat + len(fwords)))
                self._yearless(item, fwords, fperiod)
            if not future:
                item.doubt(0.4, "existing practice in the present tense, not a new promise")
                item.held = "existing practice, not a new promise"
            new.append(item)
        for at, words, period in periods:
            if period.end < self.published:
                continue  # over before the response was published
            if from_periods and (at, words, period) in from_periods:
                continue
            if _FIRST.search(sentence[max(0, at - 50) : at]) and self._first_of_series(
                new, para, sentence, words, at, period
            ):
                continue  # "with the first review due in November 2018": when a series starts
            if not _END_CUE.search(words) and _past_participle_before(sentence, at):
                continue  # "introduced in 2017/18": something already done
            current = period.start <= self.published <= period.end
            if current and not future and _PAST_AUX.search(sentence):
                continue  # "has undertaken work this year": done, not promised
            relative = bool(_MAY_SPAN.search(words)) and not re.search(
                r"\d{4}|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b",
                words,
                _FLAGS,
            )
            if relative:
                made = self._relative(para, sentence, words, at, period, future)
                if made is not None:
                    new.append(made)
                continue
            item = self._item(para, sentence, "deadline", words, at)
            item.confidence = 0.9 if re.match(r"by\b", words, _FLAGS) else 0.85
            if _END_CUE.search(words):
                item.due = period
            else:
                near = sentence[max(0, at - 60) : at + len(words) + 50]
                if _FROM_CUE.match(words) or _START_VERB.search(near):
                    item.kind, item.starts, item.starts_words = "start", period, words
                    item.confidence = 0.8
                    if _WEAK_START.search(near) and not re.search(r"commenc|start|begin", near):
                        item.doubt(0.6, "read as when the work begins; it may mean finished then")
                else:
                    item.due = period
            self._yearless(item, words, period)
            if re.match(r"(?:for|over\s+the\s+course\s+of|throughout)\b", words, _FLAGS) and (
                period.days > 300
            ):
                item.doubt(
                    0.5,
                    f"'{words}' read as due at the end ({period.end.isoformat()}); it may mean "
                    f"in place by the start ({period.start.isoformat()})",
                )
            new.append(item)
        for at, words, span in spans:
            made = self._duration(para, sentence, words, at, span, future, from_periods)
            if made is not None:
                new.append(made)
        for dep in deps:
            item = self._item(
                para, sentence, "dependency", sentence[dep.start : dep.end], dep.start
            )
            item.words = " ".join(item.words.split())
            item.confidence = 0.75 if dep.rule != "none" else 0.6
            item.target_words = _content_words(dep.target)
            item.target_rule = dep.rule
            self.deps.append((len(self.items) + len(new), dep))
            new.append(item)
        cuts = [(at, at + len(w)) for at, w, _ in periods]
        cuts += [(d.start, d.end) for d in deps]
        for item in new:
            if hedged and item.kind != "dependency":
                item.doubt(0.8, f"hedged ('{hedged.group(0)}')")
            item.context = f"{previous} {sentence}"
            item.paragraph = para.text
            at = item.marks[0][0]
            if item.kind == "dependency":
                rest = [c for c in cuts if c != item.marks[0]] + [item.marks[0]]
                outside = [k for k in range(len(sentence)) if not any(s <= k < e for s, e in rest)]
                at = next((k for k in outside if sentence[k].isalpha()), at)
                item.action = _action(sentence, at, rest, previous)
            else:
                item.action = _action(sentence, at, cuts, previous)
        self.items.extend(new)

    def _first_of_series(
        self, new: list[Item], para: _Para, sentence: str, words: str, at: int, period: Period
    ) -> bool:
        """Give ``period`` as the start of the series this sentence or the one before holds."""
        series = [i for i in new if i.kind == "recurring"] or [
            i for i in self.items[-4:] if i.kind == "recurring" and i.para == para.label
        ]
        if not series or series[-1].starts is not None:
            return False
        item = series[-1]
        item.starts, item.starts_words = period, words
        if item.quote == sentence:
            item.marks.append((at, at + len(words)))
        item.reasons.append(f"first occurrence: '{words}'")
        self._yearless(item, words, period)
        return True

    def _yearless(self, item: Item, words: str, period: Period) -> None:
        if re.search(r"\d{4}|\b\d\d/\d\d\b", words) or item.relative:
            return
        item.doubt(
            0.6,
            f"'{words}' has no year: read as {period.start:%B %Y}, the next after "
            f"{self.published.isoformat()}",
        )

    def _relative(
        self, para: _Para, sentence: str, words: str, at: int, period: Period, future: bool
    ) -> Item | None:
        spans = find_spans(words)
        span = spans[0][1] if spans else Span()
        short = not (span.months or span.years)
        tail = sentence[at + len(words) :]
        if _PER_CASE.match(tail) or (short and not future):
            item = self._item(para, sentence, "duration", words, at)
            item.duration = span
            item.held = PER_CASE
            item.confidence = 0.4
            item.reasons.append("a service standard counted per case, not one date")
            _counted_from(item, tail)
            return item
        item = self._item(para, sentence, "deadline", words, at)
        item.due, item.relative = period, True
        item.doubt(
            0.6,
            f"counted from publication ({self.published.isoformat()}): due "
            f"{period.end.isoformat()}",
        )
        return item

    def _duration(
        self,
        para: _Para,
        sentence: str,
        words: str,
        at: int,
        span: Span,
        future: bool,
        from_periods: Sequence[tuple[int, str, Period]],
    ) -> Item | None:
        before = sentence[max(0, at - 40) : at]
        after = sentence[at + len(words) :]
        working = bool(span.working_days)
        singular = re.search(r"(?:day|week|month|year)$", words.strip(), _FLAGS) is not None
        adjective = singular and not working and re.match(r"^[\s-]*[a-z]", after) is not None
        if adjective and not _SPAN_NOUN.match(after):
            return None  # "a six month service standard": a description, not a length of time
        if not (_SPAN_CUE.search(before) or adjective or working):
            return None
        item = self._item(para, sentence, "duration", words, at)
        item.duration = span
        item.confidence = 0.75 if future else 0.45
        short = not (span.months or span.years)
        if from_periods:
            fat, fwords, fperiod = from_periods[0]
            item.starts, item.starts_words = fperiod, fwords
            item.marks.append((fat, fat + len(fwords)))
        elif short or _PER_CASE.match(after):
            item.held = PER_CASE
            item.doubt(0.4, "a service standard counted per case, not one date")
            _counted_from(item, after)
        if not future:
            item.doubt(0.45, "an existing standard in the present tense, not a new promise")
            item.held = item.held or "existing practice, not a new promise"
        if re.match(r"\s*(?:at\s+least|a\s+minimum\s+of|no\s+less\s+than)", before[-20:] + words):
            item.reasons.append("a minimum length")
        return item


# --------------------------------------------------------------------------------------
# After reading: dependencies, duplicates, ids
# --------------------------------------------------------------------------------------


def _resolve(items: list[Item], deps: Sequence[tuple[int, _Dep]]) -> None:
    """Point dependencies (and what shares their sentence) at the commitment they wait for."""
    for index, _dep in deps:
        item = items[index]
        target = _target(items, index)
        if target is None:
            if item.target_rule == "none":
                item.held = "it says what must come first, but that has no commitment of its own"
            else:
                item.held = "no commitment found that it waits for"
            item.doubt(0.3, "no prerequisite found in the document")
            continue
        item.after = target
        if item.target_rule == "words":
            item.doubt(0.6, f"waits for {_cite(items[target])} (matched by its words)")
        for other_index, other in enumerate(items):
            same = other.sentence == item.sentence and other.kind != "dependency"
            if same and other_index != target and other.after is None:
                other.after = target
    for index, item in enumerate(items):
        if item.held == PER_CASE and item.target_words:
            target = _target(items, index, earlier_only=True)
            if target is not None:  # "within three months of the audit": of a commitment
                item.held, item.after, item.confidence = None, target, 0.6
                item.reasons[:] = [f"counted from {_cite(items[target])} (matched by its words)"]
        if (
            item.kind == "duration"
            and item.starts is None
            and item.held is None
            and (item.after is None)
        ):
            previous = [
                j
                for j in range(index - 1, -1, -1)
                if items[j].para == item.para and items[j].rec == item.rec
            ]
            if previous:
                item.after = previous[0]
                item.reasons.append(f"counted from {_cite(items[previous[0]])}, just before it")
            else:
                item.held = "it does not say when it starts"
                item.doubt(0.4, "the start is not stated")
        anaphora = re.match(r"(?:this|it|these|they)\b", item.quote, _FLAGS)
        if item.kind == "recurring" and item.starts is None and item.after is None and anaphora:
            earlier = [
                j
                for j in range(index - 1, -1, -1)
                if items[j].para == item.para and items[j].kind in ("deadline", "start")
            ]
            if earlier:
                item.after = earlier[0]
                item.doubt(0.6, "the first occurrence is taken to follow the item before it")
        if item.kind == "recurring" and item.starts is None and item.after is None:
            item.reasons.append("the first occurrence is not stated")


def _cite(item: Item) -> str:
    action = item.action if len(item.action) <= 48 else item.action[:45].rstrip() + "..."
    return f"\u00a7{item.para} '{action}'"


def _target(items: Sequence[Item], index: int, *, earlier_only: bool = False) -> int | None:
    item = items[index]
    others = [
        j
        for j, other in enumerate(items)
        if j != index
        and other.sentence != item.sentence
        and other.kind != "dependency"
        and (j < index or not earlier_only)
    ]
    if item.target_rule == "previous":
        same_para = [j for j in others if j < index and items[j].para == item.para]
        same_rec = [j for j in others if j < index and items[j].rec == item.rec]
        pick = same_para or same_rec
        return pick[-1] if pick else None
    if item.target_rule == "meeting":
        meetings = [j for j in others if items[j].rec == item.rec and items[j].kind == "recurring"]
        return meetings[-1] if meetings else None
    if item.target_rule != "words" or not item.target_words:
        return None
    best: tuple[int, int, int, int] | None = None
    pick_index: int | None = None
    for j in others:
        score = len(item.target_words & items[j].context_words)
        if score == 0:
            continue
        rank = (score, int(items[j].rec == item.rec), int(j < index), -abs(j - index))
        if best is None or rank > best:
            best, pick_index = rank, j
    return pick_index


def _dedupe(items: list[Item]) -> list[Item]:
    """One item per paragraph, kind and value: a promise repeated is one promise."""
    seen: dict[tuple[object, ...], int] = {}
    keep: list[Item] = []
    remap: dict[int, int] = {}
    for index, item in enumerate(items):
        value: object
        if item.kind == "deadline":
            value = item.due
        elif item.kind == "start":
            value = item.starts
        elif item.kind == "recurring":
            value = (item.rrule, item.starts)
        elif item.kind == "duration":
            value = item.duration
        else:
            value = (item.after, item.words)
        key = (item.rec, item.para, item.kind, value)
        if key in seen:
            remap[index] = seen[key]
            continue
        seen[key] = len(keep)
        remap[index] = len(keep)
        keep.append(item)
    for item in keep:
        if item.after is not None:
            item.after = remap.get(item.after)
    return keep


def _break_cycles(items: list[Item]) -> None:
    for start, item in enumerate(items):
        path = {start}
        node = item.after
        while node is not None:
            if node in path:
                item.after = None
                item.doubt(0.4, "its prerequisite waits for it in turn")
                break
            path.add(node)
            node = items[node].after


def _hold_broken_links(items: list[Item]) -> None:
    """An item may only wait for an item the draft writes: hold or unlink the others."""
    changed = True
    while changed:
        changed = False
        for item in items:
            if item.held is None and item.after is not None and items[item.after].held:
                if item.kind == "dependency" or (item.kind == "duration" and not item.starts):
                    item.held = "what it waits for is held back for review"
                else:
                    item.after = None
                changed = True


def _share_joint_response(item: Item, recs: dict[str, RecommendationDraft]) -> None:
    """Give an item of a joint response to the recommendation whose words it shares most."""
    group = recs[item.rec].joint_with
    if not group:
        return
    words = _content_words(item.paragraph)
    scores = {n: len(words & _content_words(recs[n].text)) for n in group if n in recs}
    best = max(scores.values(), default=0)
    if best and scores.get(item.rec, 0) < best:
        item.rec = next(n for n in group if scores.get(n) == best)
        item.reasons.append(f"a joint response: placed under rec {item.rec} by its words")


def _ids(items: Sequence[Item]) -> None:
    used: set[str] = set()
    for item in items:
        base = _slug(item.action, 4) or f"{item.kind}-{item.para.replace('.', '-')}"
        base = re.sub(r"-+", "-", base).strip("-") or "commitment"
        if not base[0].isalnum():
            base = f"c-{base}"
        candidate, n = base, 2
        while candidate in used:
            candidate, n = f"{base}-{n}", n + 1
        used.add(candidate)
        item.id = candidate


# --------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------


def ingest_text(
    text: str,
    *,
    published: date | None = None,
    source: str | None = None,
    response_id: str | None = None,
) -> Draft:
    """Read a response document into a :class:`Draft`.

    ``published`` is the reference date for relative periods and months written
    without a year; without it the document must state one ("Published 11
    January 2021"), or :class:`IngestError` is raised. ``response_id`` names
    the response (default: from the title and the year of publication).

    >>> doc = '''An inspection of widgets
    ... Published 1 March 2019
    ... Recommendation 1: Count the widgets.
    ... Accepted. We will count them by June 2019, and report monthly to the board.'''
    >>> draft = ingest_text(doc)
    >>> draft.published, draft.recommendations[0].status
    (datetime.date(2019, 3, 1), 'accepted')
    >>> [(i.kind, i.para, i.words) for i in draft.items]
    [('recurring', '1', 'monthly'), ('deadline', '1', 'by June 2019')]
    """
    blocks = _blocks(text)
    structure = _structure(blocks)
    if not structure.recommendations:
        raise IngestError(
            "no recommendations found: expected numbered recommendations such as "
            "'1. ...', 'Recommendation 1: ...' or 'R1. ...', each followed by a status "
            "such as 'Accepted'"
        )
    published_from = "given"
    if published is None:
        stated = _published_in(structure.header)
        if stated is None:
            raise IngestError(
                "the document states no publication date; pass --published YYYY-MM-DD"
            )
        published, published_from = stated
    title = _title(structure.header)
    reader = _Reader(published)
    for para in structure.paragraphs:
        reader.paragraph(para)
    items = reader.items
    _resolve(items, reader.deps)
    items = _dedupe(items)
    _break_cycles(items)
    _hold_broken_links(items)
    _ids(items)
    by_rec: dict[int, list[Item]] = {}
    index_of = {id(r): n for n, r in enumerate(structure.recommendations)}
    numbers = {r.number: id(r) for r in structure.recommendations}
    recs_by_number = {r.number: r for r in structure.recommendations}
    for item in items:
        _share_joint_response(item, recs_by_number)
        by_rec.setdefault(index_of[numbers[item.rec]], []).append(item)
    for n, rec in enumerate(structure.recommendations):
        rec.items = by_rec.get(n, [])
    rid = response_id or f"{_slug(title) or 'response'}-{published.year}"
    return Draft(
        title=title,
        inspectorate=_inspectorate(text),
        inspection_period=_inspection_period(structure.header, blocks[:60]),
        published=published,
        published_from=published_from,
        response_id=rid,
        source=source,
        recommendations=structure.recommendations,
        warnings=structure.warnings,
    )


def response_sentences(text: str) -> Iterator[tuple[str, str, str]]:
    """(recommendation, paragraph, sentence) for every sentence of the response paragraphs.

    The sentences :func:`ingest_text` reads commitments from, for comparing
    other finders on the same text.
    """
    for para in _structure(_blocks(text)).paragraphs:
        for _, sentence in _sentences(para.text):
            yield para.rec.number, para.label, sentence


def written_period(period: Period, words: str, published: date) -> str:
    """How a draft writes a period: words that :func:`parse_period` reads back to it.

    The document's own words (less "by", "in", ...) when they name the period
    without help; else a plain month, year or financial year; else the words
    read from the publication date (as validation reads them: "Over the next
    12 months", "later this year"); else the window's dates.

    >>> p = parse_period("by the end of March 2018")
    >>> written_period(p, "by the end of March 2018", date(2018, 1, 30))
    'end of March 2018'
    >>> written_period(parse_period("by February", date(2017, 11, 30)), "by February",
    ...                date(2017, 11, 30))
    'February 2018'
    """
    bare = re.sub(
        r"^(?:(?:by|in|during|before|until|till|from|for|on|at)\s+)+", "", words, flags=re.I
    )
    bare = re.sub(r"^the\s+(?!next|coming|following)", "", bare, flags=re.I)
    candidates = [c for c in (bare.strip(" .,;:"), words.strip(" .,;:")) if c[:1].isalnum()]
    for candidate in candidates:
        try:
            if parse_period(candidate) == period:
                return candidate
        except DateError:
            pass
    s, e = period.start, period.end
    month_end = (s.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    if s.day == 1 and e == month_end:
        return f"{s:%B %Y}"
    if (s.month, s.day, e.month, e.day) == (1, 1, 12, 31) and s.year == e.year:
        return str(s.year)
    if (s.month, s.day, e.month, e.day) == (4, 1, 3, 31) and e.year == s.year + 1:
        return f"{s.year}/{e.year % 100:02d}"
    for candidate in candidates:
        try:
            if parse_period(candidate, published) == period:
                return candidate
        except DateError:
            pass
    if s == e:
        return s.isoformat()
    return f"between {s.isoformat()} and {e.isoformat()}"


def written_span(span: Span, words: str) -> str:
    """How a draft writes a length of time: the document's words if they read back to it."""
    for candidate in (words, re.sub(r"^(?:by|within|for|after|over)\s+", "", words, flags=re.I)):
        try:
            if parse_span(candidate) == span:
                return candidate.strip()
        except DateError:
            pass
    return span.iso()


def written_every(rrule: str, words: str | None) -> str:
    """How a draft writes a frequency: the document's word if it reads back to the rule."""
    if words:
        try:
            if parse_every(words) == rrule:
                return words.strip().lower()
        except DateError:
            pass
    return rrule
