"""The file side of ``duly ingest``: documents in, a draft rule file out.

Reading: plain or markdown-ish text (.txt, .md), Word (.docx, with its
automatic numbering written out, as a reader sees it) and HTML (GOV.UK pages
included: the publication date comes from the page's metadata). Each becomes
the same line-oriented text, which :func:`models.ingest.ingest_text` reads.

Writing: :func:`render` prints a :class:`~models.ingest.Draft` as a rule file
in the format of ``rules/responses/*.yaml``; :func:`check` runs it through the
rule-file checks together with the project's policies and owners.

Scoring: :func:`evaluate` reads a gold file, drafts the document beside it and
scores the draft, and the dates found by ``dateparser.search.search_dates`` in
the same sentences as a baseline.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from models.dates import Period
from models.ingest import (
    UNASSIGNED,
    VAGUE_REASON,
    Draft,
    Item,
    RecommendationDraft,
    ingest_text,
    response_sentences,
    written_every,
    written_period,
    written_span,
)
from models.ingest_eval import Found, Score, found_in, score
from models.rules import RuleSet, parse_rule_files

__all__ = [
    "UnreadableDocument",
    "check",
    "docx_text",
    "evaluate",
    "html_text",
    "read_document",
    "render",
]

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".text", ""}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}


class UnreadableDocument(ValueError):
    """Raised when a document's format is not one ``duly ingest`` reads."""


def read_document(path: Path) -> str:
    """The text of a response document, whatever its format."""
    suffix = path.suffix.lower()
    if suffix == ".docx":
        return docx_text(path)
    if suffix in HTML_SUFFIXES:
        return html_text(path.read_text(encoding="utf-8", errors="replace"))
    if suffix in (".pdf", ".doc", ".odt", ".rtf"):
        raise UnreadableDocument(
            f"{path.name}: {suffix} files are not read yet; save it as .docx, .html or text"
        )
    raw = path.read_bytes()
    if raw[:5].lower().startswith(b"<!doc") or raw[:6].lower().startswith(b"<html"):
        return html_text(raw.decode("utf-8", errors="replace"))
    return raw.decode("utf-8-sig", errors="replace")


# --------------------------------------------------------------------------------------
# .docx
# --------------------------------------------------------------------------------------


def _roman(n: int) -> str:
    out = ""
    for value, numeral in (
        (1000, "m"),
        (900, "cm"),
        (500, "d"),
        (400, "cd"),
        (100, "c"),
        (90, "xc"),
        (50, "l"),
        (40, "xl"),
        (10, "x"),
        (9, "ix"),
        (5, "v"),
        (4, "iv"),
        (1, "i"),
    ):
        while n >= value:
            out, n = out + numeral, n - value
    return out


def _format_number(n: int, fmt: str) -> str:
    if fmt == "lowerLetter":
        return chr(ord("a") + (n - 1) % 26)
    if fmt == "upperLetter":
        return chr(ord("A") + (n - 1) % 26)
    if fmt == "lowerRoman":
        return _roman(n)
    if fmt == "upperRoman":
        return _roman(n).upper()
    return str(n)


class _Numbering:
    """Word's automatic numbering, replayed: the label each numbered paragraph shows."""

    def __init__(self, document: Any) -> None:
        from docx.oxml.ns import qn

        self.qn = qn
        self.levels: dict[str, dict[int, tuple[str, str, int]]] = {}  # numId -> ilvl -> level
        self.abstract_of: dict[str, str] = {}
        self.counters: dict[str, list[int]] = {}
        try:
            root = document.part.numbering_part.element
        except (KeyError, NotImplementedError, AttributeError):
            return
        abstract: dict[str, dict[int, tuple[str, str, int]]] = {}
        for node in root.findall(qn("w:abstractNum")):
            levels: dict[int, tuple[str, str, int]] = {}
            for lvl in node.findall(qn("w:lvl")):
                fmt = lvl.find(qn("w:numFmt"))
                text = lvl.find(qn("w:lvlText"))
                start = lvl.find(qn("w:start"))
                levels[int(lvl.get(qn("w:ilvl")) or 0)] = (
                    fmt.get(qn("w:val")) if fmt is not None else "decimal",
                    text.get(qn("w:val")) if text is not None else "%1.",
                    int(start.get(qn("w:val"))) if start is not None else 1,
                )
            abstract[node.get(qn("w:abstractNumId"))] = levels
        for num in root.findall(qn("w:num")):
            ref = num.find(qn("w:abstractNumId"))
            if ref is None:
                continue
            key = ref.get(qn("w:val"))
            self.abstract_of[num.get(qn("w:numId"))] = key
            self.levels[num.get(qn("w:numId"))] = abstract.get(key, {})

    def label(self, paragraph: Any) -> str | None:
        """The label Word shows before ``paragraph`` ("3.", "3.1", "a)", "-"), or None."""
        qn = self.qn
        num_pr = None
        for holder in (paragraph._p.pPr, getattr(paragraph.style.element, "pPr", None)):
            if holder is not None and holder.find(qn("w:numPr")) is not None:
                num_pr = holder.find(qn("w:numPr"))
                break
        if num_pr is None:
            return None
        num_id_el, ilvl_el = num_pr.find(qn("w:numId")), num_pr.find(qn("w:ilvl"))
        num_id = num_id_el.get(qn("w:val")) if num_id_el is not None else None
        ilvl = int(ilvl_el.get(qn("w:val"))) if ilvl_el is not None else 0
        if num_id is None or num_id == "0" or num_id not in self.levels:
            return None
        levels = self.levels[num_id]
        fmt, pattern, _ = levels.get(ilvl, ("decimal", "%1.", 1))
        if fmt in ("bullet", "none"):
            return "-"
        key = self.abstract_of.get(num_id, num_id)
        counts = self.counters.setdefault(key, [0] * 9)
        for level in range(ilvl + 1):
            if counts[level] == 0:
                counts[level] = levels.get(level, ("decimal", "", 1))[2] - (level == ilvl)
        counts[ilvl] += 1
        for level in range(ilvl + 1, 9):
            counts[level] = 0

        def value(m: re.Match[str]) -> str:
            level = int(m.group(1)) - 1
            level_fmt = levels.get(level, ("decimal", "", 1))[0]
            return _format_number(counts[level], level_fmt)

        return re.sub(r"%(\d)", value, pattern)


def docx_text(path: Path) -> str:
    """A .docx as text: headings as "#", Word's numbering written out, tables row by row."""
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = docx.Document(str(path))
    numbering = _Numbering(document)
    lines: list[str] = []
    props = document.core_properties
    if props.title:
        lines.append(f"# {props.title}")

    def paragraph_line(p: Paragraph) -> str:
        text = p.text.strip()
        if not text:
            return ""
        style = (p.style.name or "") if p.style is not None else ""
        label = numbering.label(p)
        heading = re.match(r"(?:Heading|Title)\s*(\d?)", style)
        if label == "-" or (label is None and re.search(r"List Bullet", style)):
            text = f"- {text}"
        elif label:
            text = f"{label} {text}"
        if heading:
            text = "#" * int(heading.group(1) or 1) + " " + text
        return text

    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            lines.append(paragraph_line(Paragraph(child, document)))
        elif tag == "tbl":
            for row in Table(child, document).rows:
                cells: list[str] = []
                for cell in row.cells:
                    text = "\n".join(paragraph_line(p) for p in cell.paragraphs).strip()
                    if text and (not cells or text != cells[-1]):  # merged cells repeat
                        cells.append(text)
                if len(cells) > 1 and re.fullmatch(r"(?:Recommendation\s+)?\d{1,3}\.?", cells[0]):
                    number = re.sub(r"\D", "", cells[0])
                    cells[:2] = [f"Recommendation {number}: {cells[1]}"]
                lines.extend(c for cell in cells for c in (cell, ""))
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------

_BLOCK_TAGS = {
    "p",
    "div",
    "section",
    "article",
    "blockquote",
    "li",
    "tr",
    "td",
    "th",
    "dd",
    "dt",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "ul",
    "ol",
    "br",
    "hr",
    "caption",
    "figcaption",
    "pre",
}
_SKIP_TAGS = {"script", "style", "nav", "header", "footer", "noscript", "template", "svg", "head"}


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[str, bool]] = []  # (line, inside <main>)
        self.meta: list[str] = []
        self.title = ""
        self.skip = 0
        self.main = 0
        self.in_title = False
        self.buffer: list[str] = []
        self.prefix = ""
        self.lists: list[list[int]] = []  # [counter] per open list; [-1] for <ul>
        self.term = ""

    def flush(self) -> None:
        text = " ".join("".join(self.buffer).split())
        self.buffer = []
        if text:
            self.lines.append((f"{self.prefix}{text}", self.main > 0))
        self.prefix = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "meta":
            name = (a.get("name") or a.get("property") or "").lower()
            if name in ("govuk:first-published-at", "article:published_time", "dc.date.issued"):
                self.meta.append(f"Published: {a.get('content', '')[:10]}")
            return
        if tag == "title":
            self.in_title = True
            return
        if tag in _SKIP_TAGS and tag != "head":
            self.skip += 1
            return
        if self.skip:
            return
        if tag == "main" or (tag == "div" and "govspeak" in a.get("class", "")):
            self.flush()
            self.main += 1
            return
        if tag in _BLOCK_TAGS:
            self.flush()
        if tag == "ol":
            start = a.get("start", "1")
            self.lists.append([int(start) - 1 if start.isdigit() else 0])
        elif tag == "ul":
            self.lists.append([-1])
        elif tag == "li":
            if self.lists and self.lists[-1][0] >= 0:
                self.lists[-1][0] += 1
                self.prefix = f"{self.lists[-1][0]}. " if len(self.lists) == 1 else "- "
            else:
                self.prefix = "- "
        elif re.fullmatch(r"h[1-6]", tag):
            self.prefix = "#" * int(tag[1]) + " "

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
            return
        if tag in _SKIP_TAGS and tag != "head":
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag == "dt":
            self.term = " ".join("".join(self.buffer).split())
            self.buffer = []
            return
        if tag == "dd" and self.term:
            self.buffer.insert(0, f"{self.term} ")
            self.term = ""
        if tag in _BLOCK_TAGS or tag in ("main",):
            self.flush()
        if tag in ("ol", "ul") and self.lists:
            self.lists.pop()
        if tag == "main" and self.main:
            self.main -= 1

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
        elif not self.skip:
            self.buffer.append(data)


def html_text(html: str) -> str:
    """An HTML page as text: headings as "#", list items numbered or bulleted.

    Navigation, scripts and page chrome are left out; when the page marks its
    content (``<main>``, or GOV.UK's ``govspeak``), only that is kept. The
    publication date in GOV.UK's metadata becomes a "Published:" line.
    """
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    parser.flush()
    lines = parser.lines
    if any(inside for _, inside in lines):
        lines = [(line, inside) for line, inside in lines if inside]
    title = re.sub(r"\s+-\s+GOV\.UK\s*$", "", " ".join(parser.title.split()))
    head = [f"# {title}"] if title else []
    out = [*head, *parser.meta[:1], *(line for line, _ in lines)]
    return "\n\n".join(out) + "\n"


# --------------------------------------------------------------------------------------
# Writing the draft
# --------------------------------------------------------------------------------------

_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9 .,/()'\u2019\u2013-]*$")
_YAML_WORDS = {"yes", "no", "true", "false", "null", "on", "off", "y", "n", "~"}


def _scalar(text: str) -> str:
    """``text`` as a YAML scalar: plain when that is safe, else double-quoted."""
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS and not text.endswith((".", ":")):
        return text
    return json.dumps(text, ensure_ascii=False)


def _folded(text: str, indent: int) -> str:
    pad = " " * indent
    body = textwrap.fill(
        " ".join(text.split()), width=96 - indent, break_long_words=False, break_on_hyphens=False
    )
    return ">-\n" + textwrap.indent(body, pad)


def _commitment(item: Item, draft: Draft, items: list[Item]) -> list[str]:
    lines = [
        f"      - id: {item.id}",
        f'        para: "{item.para}"',
        f"        quote: {json.dumps(item.quote, ensure_ascii=False)}",
        f"        action: {_scalar(item.action)}",
        f"        owner: {UNASSIGNED}",
        f"        rule: {item.rule}",
    ]
    if item.kind == "deadline" and item.due is not None:
        lines.append(f"        due: {_scalar(_period_text(item, item.due, draft.published))}")
    if item.starts is not None:
        starts = _period_text(item, item.starts, draft.published)
        lines.append(f"        starts: {_scalar(starts)}")
    if item.kind == "recurring" and item.rrule and item.rule == _rule_of_rrule(item.rrule):
        pass  # the rule's own frequency
    elif item.kind == "recurring" and item.rrule:
        lines.append(f"        every: {_scalar(written_every(item.rrule, item.every_words))}")
    if item.kind == "duration" and item.duration is not None:
        lines.append(f"        duration: {_scalar(written_span(item.duration, item.words))}")
    if item.after is not None:
        lines.append(f"        after: {items[item.after].id}")
    if item.review:
        lines.append("        review: true")
    lines.append(f"        note: {_scalar(item.note)}")
    return lines


def _rule_of_rrule(rrule: str) -> str:
    from models.ingest import RECURRING_RULES

    return RECURRING_RULES.get(rrule, "")


def _period_text(item: Item, period: Period, published: date) -> str:
    words = item.starts_words if period is item.starts else item.words
    return written_period(period, words, published)


def _held(item: Item) -> list[str]:
    quote = " ".join(item.words.split())
    return [
        f"      # held back ({item.kind}, para {item.para}): {item.held}",
        f"      #   {json.dumps(quote, ensure_ascii=False)} in: {item.quote[:140]}",
    ]


def _recommendation(rec: RecommendationDraft, draft: Draft, vague: bool) -> list[str]:
    lines = [f'  - number: "{rec.number}"']
    lines.append(f"    text: {_folded(rec.text, 6)}" if rec.text else '    text: ""')
    if rec.status is None:
        lines.append("    # no status line found in the document: accepted assumed, check it")
    lines.append(f"    status: {rec.status or 'accepted'}")
    if rec.status_text:
        lines.append(f"    status_text: {json.dumps(rec.status_text, ensure_ascii=False)}")
    items = draft.items
    written = [i for i in rec.items if i.held is None]
    held = [i for i in rec.items if i.held is not None]
    if vague:
        lines.append(
            f"    # no-date: {VAGUE_REASON} in the response; add a dated commitment, "
            "or undated: <reason>"
        )
    lines.append("    commitments:" if written else "    commitments: []")
    for item in written:
        lines += _commitment(item, draft, items)
    for item in held:
        lines += _held(item)
    return lines


def render(draft: Draft) -> str:
    """The draft as a rule file, in the format of ``rules/responses/*.yaml``."""
    vague = {id(r) for r in draft.vague}
    source = draft.source or "the document"
    published_note = (
        "given with --published"
        if draft.published_from == "given"
        else f"stated in the document: {draft.published_from[:70]}"
    )
    lines = [
        f"# Draft written by duly ingest from {source}.",
        "# Check every commitment against the document (review: true marks a doubtful reading),",
        "# set each owner to an id from owners.yaml, then run: duly validate --strict",
        "version: 1",
        "response:",
        f"  id: {draft.response_id}",
        f"  title: {json.dumps(draft.title, ensure_ascii=False)}",
        f"  inspectorate: {_scalar(draft.inspectorate)}",
    ]
    if draft.inspection_period:
        lines.append(
            f"  inspection_period: {json.dumps(draft.inspection_period, ensure_ascii=False)}"
        )
    lines.append(f"  published: {draft.published.isoformat()}  # {published_note}")
    if draft.source:
        lines.append(f"  source: {_scalar(draft.source)}")
    lines += ["", "recommendations:"]
    for n, rec in enumerate(draft.recommendations):
        if n:
            lines.append("")
        lines += _recommendation(rec, draft, id(rec) in vague)
    return "\n".join(lines) + "\n"


def check(text: str, path: str, rules_dir: Path | None) -> tuple[RuleSet, bool]:
    """Validate a draft with the project's policies and owners.

    Returns the rule set and whether the policies and owners were found (without
    them, unknown rule ids cannot be told apart from typos).
    """
    sources = [(path, text)]
    found = False
    if rules_dir is not None:
        for name in ("policies.yaml", "owners.yaml"):
            candidate = rules_dir / name
            if candidate.is_file():
                sources.append((str(candidate), candidate.read_text(encoding="utf-8")))
                found = True
    return parse_rule_files(sources), found


# --------------------------------------------------------------------------------------
# Scoring against gold files
# --------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    name: str
    ours: Score
    baseline: Score | None


def load_gold(path: Path) -> dict[str, Any]:
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "recommendations" not in data:
        raise ValueError(f"{path}: not a gold file (no recommendations)")
    return data


def dateparser_found(text: str, published: date) -> list[Found]:
    """Deadlines as ``dateparser.search.search_dates`` finds them in the response sentences.

    Every date it finds becomes a deadline due on that date (it reads no
    periods, frequencies or conditions); its settings are the fair ones for
    this genre: relative to the publication date, future dates preferred, a
    month read as its last day, day before month.
    """
    from dateparser.search import search_dates

    settings: Any = {
        "RELATIVE_BASE": datetime.combine(published, datetime.min.time()),
        "PREFER_DATES_FROM": "future",
        "PREFER_DAY_OF_MONTH": "last",
        "DATE_ORDER": "DMY",
    }
    found: list[Found] = []
    for _, para, sentence in response_sentences(text):
        hits = search_dates(sentence, languages=["en"], settings=settings) or []
        for words, moment in hits:
            found.append(Found(para=para, kind="deadline", words=words, due=moment.date()))
    return found


def evaluate(gold_path: Path, *, baseline: bool = True) -> Evaluation:
    """Draft the document a gold file names and score it (and the baseline) against it."""
    gold = load_gold(gold_path)
    document = gold_path.parent / str(gold["document"])
    published = gold["published"]
    if isinstance(published, datetime):
        published = published.date()
    if not isinstance(published, date):
        published = date.fromisoformat(str(published))
    text = read_document(document)
    draft = ingest_text(text, published=published, source=document.name)
    name = gold_path.name.removesuffix(".gold.yaml")
    statuses = {r.number: r.status for r in draft.recommendations}
    ours = score(gold, found_in(draft), statuses, name=name)
    base = score(gold, dateparser_found(text, published), None, name=name) if baseline else None
    return Evaluation(name, ours, base)


def summary_lines(draft: Draft) -> Iterable[str]:
    """What ``duly ingest`` says about a draft: counts, doubts, and every vague promise."""
    recs = draft.recommendations
    statuses = [r.status for r in recs]
    items = draft.items
    kinds = {k: sum(i.kind == k for i in items) for k in _KINDS}
    written = [i for i in items if i.held is None]
    yield (
        f"{len(recs)} recommendations ({statuses.count('accepted')} accepted, "
        f"{statuses.count('partially_accepted')} partially accepted, "
        f"{statuses.count('not_accepted')} not accepted"
        + (f", {statuses.count(None)} with no status found" if None in statuses else "")
        + f"); {len(items)} commitments: "
        + ", ".join(f"{n} {_KINDS[k] if n != 1 else k}" for k, n in kinds.items() if n)
        + f"; {sum(i.review for i in written)} marked review: true, "
        f"{len(items) - len(written)} held back as comments (not rules yet)."
    )
    yield f"published {draft.published.isoformat()} ({draft.published_from})."
    for warning in draft.warnings:
        yield f"warning: {warning}"
    if draft.vague:
        yield "vague (accepted, but no dated commitment in the response):"
        for rec in draft.vague:
            status = (rec.status or "accepted").replace("_", " ")
            yield f"  rec {rec.number} ({status}): {VAGUE_REASON}"


_KINDS = {
    "deadline": "deadlines",
    "start": "starts",
    "recurring": "recurring",
    "duration": "durations",
    "dependency": "dependencies",
}
