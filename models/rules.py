"""The rule language: policies, owners and responses, read from YAML text.

Three kinds of file, told apart by their top-level key:

- ``rules:`` (``rules/policies.yaml``): named policies, each of one kind
  (``deadline``, ``recurring``, ``duration``, ``start``, ``dependency``) with how
  to remind.
- ``owners:`` (``rules/owners.yaml``): people or teams, and who they escalate to.
- ``response:`` (``rules/responses/*.yaml``): one published response document,
  its recommendations and the commitments made under each.

:func:`parse_rule_files` takes ``(path, text)`` pairs (reading the files is the
caller's job: this module does no I/O) and returns a :class:`RuleSet` together
with every :class:`~models.problems.Problem` found, each at ``path:line:col``.
A rule set with any error must not be used: callers check ``ok``.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as dtime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    NodeEvent,
)

from models.calendar import NATIONS, WorkingCalendar, calendar_for
from models.dates import DateError, Period, Span, parse_every, parse_period, parse_span
from models.problems import Problem, did_you_mean
from models.recurrence import Series, describe_rrule

__all__ = [
    "FORMAT_VERSION",
    "Commitment",
    "Owner",
    "Policy",
    "Recommendation",
    "Response",
    "RuleSet",
    "json_schema",
    "parse_rule_files",
]

FORMAT_VERSION = 1
MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 24
UNASSIGNED = "unassigned"

Kind = Literal["deadline", "recurring", "duration", "start", "dependency"]
Status = Literal["accepted", "partially_accepted", "not_accepted"]
STATUS_LABELS: dict[str, str] = {
    "accepted": "Accepted",
    "partially_accepted": "Partially accepted",
    "not_accepted": "Not accepted",
}
"""A recommendation's response status in words, as reports and messages print it."""
_ID = r"^[a-z0-9][a-z0-9-]*$"
_ID_HINT = "ids are lower-case letters, digits and hyphens, like 'sla-in-place'"


# --------------------------------------------------------------------------------------
# The schema: what a file may say. Pydantic checks shape and types; the meaning
# (dates, references, cycles) is checked afterwards, where positions are known.
# --------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckSchedule(_Strict):
    """When the rule's Prefect deployment runs its check (cron or RRULE, local time)."""

    cron: str | None = None
    rrule: str | None = None
    timezone: str | None = None


class PolicySpec(_Strict):
    id: str = Field(pattern=_ID)
    kind: Kind
    summary: str = ""
    remind_before: list[int] = Field(default_factory=list)
    overdue_every: int | None = Field(default=None, gt=0)
    overdue_repeats: int = Field(default=0, ge=0, le=100)
    escalate_after: int | None = Field(default=None, ge=0)
    days: Literal["calendar", "working"] = "calendar"
    send_on: Literal["working-days", "any-day"] = "working-days"
    time: str = "09:00"
    timezone: str = "Europe/London"
    calendar: str = "england-and-wales"
    invite: bool = False
    template: str | None = None
    too_late_after: int = Field(default=3, ge=0)
    max_attempts: int = Field(default=5, ge=1, le=50)
    check: CheckSchedule = Field(default_factory=lambda: CheckSchedule(cron="0 9 * * 1-5"))
    every: str | None = None
    rrule: str | None = None
    duration: str | None = None
    midpoint: bool = False
    evaluate_within: str | None = None

    @field_validator("remind_before")
    @classmethod
    def _lead_times(cls, value: list[int]) -> list[int]:
        for n in value:
            if n < 0 or n > 3660:
                raise ValueError(f"lead times are days before, from 0 to 3660; got {n}")
        if len(set(value)) != len(value):
            raise ValueError(f"lead times repeat a value: {value}")
        return sorted(value, reverse=True)


class PoliciesFile(_Strict):
    version: int
    rules: list[PolicySpec]


class OwnerSpec(_Strict):
    id: str = Field(pattern=_ID)
    name: str
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    tags: list[str] = Field(default_factory=list)
    escalate_to: str | None = None


class OwnersFile(_Strict):
    version: int
    owners: list[OwnerSpec]


class CommitmentSpec(_Strict):
    id: str = Field(pattern=_ID)
    para: str
    quote: str
    action: str
    owner: str
    rule: str
    due: str | date | int | None = None
    starts: str | date | int | None = None
    duration: str | int | None = None
    every: str | None = None
    after: str | None = None
    review: bool = False
    note: str | None = None


class RecommendationSpec(_Strict):
    number: str
    text: str
    status: Status
    status_text: str | None = None
    # Why an accepted recommendation has no dated commitment (the response gave none);
    # without it, `duly validate --strict` fails on such a recommendation.
    undated: str | None = None
    commitments: list[CommitmentSpec] = Field(default_factory=list)

    @field_validator("number", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("undated")
    @classmethod
    def _reason(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("undated: needs a reason, e.g. 'the response gives no date'")
        return value


class ResponseMeta(_Strict):
    id: str = Field(pattern=_ID)
    title: str
    inspectorate: str
    inspection_period: str | None = None
    published: date
    source: str | None = None


class ResponseFile(_Strict):
    version: int
    response: ResponseMeta
    recommendations: list[RecommendationSpec]


_FILE_KINDS: dict[str, type[_Strict]] = {
    "rules": PoliciesFile,
    "owners": OwnersFile,
    "response": ResponseFile,
}


# --------------------------------------------------------------------------------------
# The resolved domain: what the rest of duly works with.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """A named rule: what kind of promise, and how to remind its owner."""

    id: str
    kind: Kind
    summary: str
    remind_before: tuple[int, ...]
    overdue_every: int | None
    overdue_repeats: int
    escalate_after: int | None
    days: Literal["calendar", "working"]
    send_on: Literal["working-days", "any-day"]
    time: dtime
    timezone: str
    calendar: str
    invite: bool
    template: str
    too_late_after: int
    max_attempts: int
    check: CheckSchedule
    rrule: str | None
    duration: Span | None
    midpoint: bool
    evaluate_within: Span | None
    digest: str

    @property
    def working_calendar(self) -> WorkingCalendar:
        return calendar_for(self.calendar)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Owner:
    id: str
    name: str
    email: str
    tags: tuple[str, ...]
    escalate_to: str | None


@dataclass(frozen=True)
class Commitment:
    """One promise, resolved: its dates are Periods and Spans, its references checked."""

    uid: str  # "<response id>/<commitment id>", unique across all responses
    id: str
    response_id: str
    recommendation: str
    para: str
    quote: str
    action: str
    owner: str
    rule: str
    due: Period | None = None
    starts: Period | None = None
    duration: Span | None = None
    rrule: str | None = None
    after: str | None = None  # uid of the commitment this one waits for
    review: bool = False
    note: str | None = None
    digest: str = ""

    @property
    def recurrence(self) -> str:
        return describe_rrule(self.rrule) if self.rrule else ""


@dataclass(frozen=True)
class Recommendation:
    number: str
    text: str
    status: Status
    status_text: str | None
    commitments: tuple[str, ...]  # uids
    undated: str | None = None


@dataclass(frozen=True)
class Response:
    id: str
    title: str
    inspectorate: str
    inspection_period: str | None
    published: date
    source: str | None
    path: str
    recommendations: tuple[Recommendation, ...]


@dataclass
class RuleSet:
    """Everything the rule files say, checked and resolved."""

    policies: dict[str, Policy] = field(default_factory=dict)
    owners: dict[str, Owner] = field(default_factory=dict)
    responses: dict[str, Response] = field(default_factory=dict)
    commitments: dict[str, Commitment] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    # Errors only `duly validate --strict` reports: accepted recommendations with no
    # commitment and no `undated:` reason (the vague promises an inspectorate complains of).
    strict_problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors

    def dependents(self, uid: str) -> list[str]:
        """The commitments whose ``after:`` names ``uid`` (an index, built once)."""
        index = self.__dict__.get("_dependents")
        if index is None:
            index = {}
            for c in self.commitments.values():
                if c.after is not None:
                    index.setdefault(c.after, []).append(c.uid)
            self.__dict__["_dependents"] = index
        return list(index.get(uid, ()))

    def resolve(self, ref: str) -> str:
        """The uid of the commitment ``ref`` names: a uid, or an id unique across responses.

        Raises LookupError, with a suggestion, when it names none or several.
        """
        if ref in self.commitments:
            return ref
        matches = [uid for uid, c in self.commitments.items() if c.id == ref]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise LookupError(f"'{ref}' is in several responses: {', '.join(sorted(matches))}")
        names = [*self.commitments, *(c.id for c in self.commitments.values())]
        raise LookupError(f"no commitment '{ref}'{did_you_mean(ref, names)}")

    def response_of(self, commitment: Commitment) -> Response:
        return self.responses[commitment.response_id]

    def policy_of(self, commitment: Commitment) -> Policy:
        return self.policies[commitment.rule]


# --------------------------------------------------------------------------------------
# Reading YAML safely, keeping positions.
# --------------------------------------------------------------------------------------

_CORE_TAGS = {
    f"tag:yaml.org,2002:{t}"
    for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}


class _Doc:
    """A parsed YAML document and a way to find where any value in it was written."""

    def __init__(self, path: str, data: Any):
        self.path = path
        self.data = data

    def node(self, loc: Sequence[str | int]) -> Any:
        node = self.data
        for part in loc:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None
        return node

    def position(self, loc: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """1-based (line, col) of the value at ``loc`` (or of its key, with ``key=True``).

        Falls back to the nearest enclosing node that exists, so a missing field is
        reported where its mapping starts.
        """
        loc = list(loc)
        while loc:
            parent = self.node(loc[:-1])
            last = loc[-1]
            try:
                if isinstance(parent, CommentedMap) and last in parent:
                    line, col = parent.lc.key(last) if key else parent.lc.value(last)
                    return line + 1, col + 1
                if (
                    isinstance(parent, CommentedSeq)
                    and isinstance(last, int)
                    and 0 <= last < len(parent)
                ):
                    line, col = parent.lc.item(last)
                    return line + 1, col + 1
            except (KeyError, IndexError, TypeError):
                pass
            loc.pop()
            key = False
        data = self.data
        if isinstance(data, (CommentedMap, CommentedSeq)):
            return data.lc.line + 1, data.lc.col + 1
        return 1, 1

    def problem(
        self,
        loc: Sequence[str | int],
        message: str,
        hint: str | None = None,
        *,
        key: bool = False,
        severity: Literal["error", "warning"] = "error",
    ) -> Problem:
        line, col = self.position(loc, key=key)
        return Problem(self.path, line, col, message, hint, severity)


def _screen_events(path: str, text: str) -> list[Problem]:
    """Refuse what a rule file never needs and an attacker would use.

    Anchors and aliases (the billion-laughs expansion), explicit tags
    (``!!python/object``), several documents in one file, and absurd nesting are
    rejected before anything is built from the text.
    """
    yaml = YAML(typ="safe")  # libyaml's C parser when present: the screen costs little
    depth = documents = 0
    for event in yaml.parse(io.StringIO(text)):
        mark = event.start_mark
        where = (mark.line + 1, mark.column + 1)
        if isinstance(event, DocumentStartEvent):
            documents += 1
            if documents > 1:
                return [
                    Problem(path, *where, "a rule file holds one YAML document; found a second")
                ]
        if isinstance(event, AliasEvent) or (
            isinstance(event, NodeEvent) and event.anchor is not None
        ):
            return [
                Problem(
                    path,
                    *where,
                    "anchors and aliases (&name, *name) are not allowed in rule files",
                    "write the value out in full",
                )
            ]
        tag = getattr(event, "tag", None)
        if tag is not None and str(tag) not in _CORE_TAGS:
            shown = str(tag).replace("tag:yaml.org,2002:", "!!")
            return [
                Problem(
                    path,
                    *where,
                    f"YAML tag {shown} is not allowed in rule files",
                    "remove the tag; rule files hold plain text, numbers, lists and mappings",
                )
            ]
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return [Problem(path, *where, f"nesting deeper than {MAX_DEPTH} levels")]
        elif type(event).__name__ in ("MappingEndEvent", "SequenceEndEvent"):
            depth -= 1
    return []


def _yaml_error(path: str, exc: YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    problem = str(problem)
    hint = None
    if "'\\t'" in problem or "\\t" in problem or "tab character" in problem:
        return Problem(
            path,
            line,
            col,
            "tab character used for indentation",
            "YAML indents with spaces; replace the tab with spaces",
        )
    if "duplicate key" in problem:
        key = re.search(r'duplicate key "([^"]*)"', problem)
        return Problem(
            path,
            line,
            col,
            f"key '{key.group(1) if key else '?'}' appears twice in the same mapping",
            "keep one of them",
        )
    if isinstance(exc, MarkedYAMLError):
        context = exc.context or ""
        hint = "check the indentation and quoting on this line and the one before"
        return Problem(
            path,
            line,
            col,
            f"not valid YAML: {problem}" + (f" ({context})" if context else ""),
            hint,
        )
    return Problem(path, line, col, f"not valid YAML: {problem}", hint)


def _load_yaml(path: str, text: str) -> tuple[_Doc | None, list[Problem]]:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        return None, [
            Problem(
                path,
                1,
                1,
                f"file is larger than {MAX_FILE_BYTES // 1000} kB",
                "split the response into several files",
            )
        ]
    try:
        problems = _screen_events(path, text)
        if problems:
            return None, problems
        data = YAML(typ="rt").load(text)
    except YAMLError as exc:
        return None, [_yaml_error(path, exc)]
    except (RecursionError, ValueError) as exc:  # pragma: no cover - defensive
        return None, [Problem(path, 1, 1, f"not valid YAML: {exc}")]
    if data is None:
        return None, [
            Problem(
                path,
                1,
                1,
                "file is empty",
                "a rule file starts with 'version: 1' and then 'rules:', 'owners:' or 'response:'",
            )
        ]
    if not isinstance(data, CommentedMap):
        return None, [
            Problem(
                path,
                1,
                1,
                f"expected a mapping at the top of the file, found {_kind_of(data)}",
                "a rule file starts with 'version: 1'",
            )
        ]
    return _Doc(path, data), []


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "nothing" if value is None else type(value).__name__


def _plain(value: Any) -> Any:
    """Turn ruamel's round-trip containers into plain dicts and lists for pydantic."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return str(value)
    return value


# --------------------------------------------------------------------------------------
# Pydantic errors in plain English, at their place in the file.
# --------------------------------------------------------------------------------------

_WHAT = {
    "rules": "rule",
    "owners": "owner",
    "commitments": "commitment",
    "recommendations": "recommendation",
}


def _subject(doc: _Doc, loc: Sequence[str | int]) -> str:
    """Name the innermost thing that ``loc`` is inside: "commitment 'sla-review'"."""
    for i in range(len(loc) - 1, 0, -1):
        if isinstance(loc[i], int) and isinstance(loc[i - 1], str) and loc[i - 1] in _WHAT:
            what = _WHAT[str(loc[i - 1])]
            item = doc.node(loc[: i + 1])
            name = None
            if isinstance(item, dict):
                name = item.get("number") if what == "recommendation" else item.get("id")
            if name is not None:
                return f"{what} {name}" if what == "recommendation" else f"{what} '{name}'"
            return f"{what} #{int(loc[i]) + 1}"
    if loc and loc[0] == "response":
        return "response"
    return ""


def _pydantic_problems(doc: _Doc, model: type[_Strict], exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not isinstance(p, str) or not p.startswith("function-")]
        kind = err["type"]
        subject = _subject(doc, loc)
        prefix = f"{subject}: " if subject else ""
        field_name = next((str(p) for p in reversed(loc) if isinstance(p, str)), "")
        value = err.get("input")
        hint = None
        if kind == "missing":
            message = f"{prefix}'{field_name}' is missing"
            problems.append(doc.problem(loc[:-1], message, key=True))
            continue
        if kind == "extra_forbidden":
            allowed = _allowed_keys(model, loc[:-1])
            message = f"{prefix}unknown key '{field_name}'{did_you_mean(field_name, allowed)}"
            hint = "allowed keys here: " + ", ".join(allowed) if allowed else None
            problems.append(doc.problem(loc, message, hint, key=True))
            continue
        if kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            message = f"{prefix}{field_name}: expected {expected}, got {value!r}"
        elif kind in ("int_type", "int_parsing", "int_from_float"):
            message = (
                f"{prefix}{field_name}: expected a whole number, got {_kind_of(value)} {value!r}"
            )
        elif kind in ("string_type",):
            message = f"{prefix}{field_name}: expected text, got {_kind_of(value)} {value!r}"
            if field_name == "para" and isinstance(value, float):
                hint = (
                    f'quote paragraph numbers, as in para: "{value}"; '
                    f"YAML reads {value} as a number"
                )
        elif kind in ("list_type",):
            message = f"{prefix}{field_name}: expected a list, got {_kind_of(value)} {value!r}"
        elif kind in ("bool_type", "bool_parsing"):
            message = f"{prefix}{field_name}: expected true or false, got {value!r}"
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            what = field_name or "this"
            message = f"{prefix}{what}: expected a mapping of keys, got {_kind_of(value)}"
        elif kind == "string_pattern_mismatch":
            if field_name == "email":
                message = f"{prefix}email: {value!r} is not an email address"
            else:
                message = f"{prefix}{field_name}: {value!r} is not a valid id"
                hint = _ID_HINT
        elif kind in ("date_type", "date_parsing", "date_from_datetime_parsing"):
            message = f"{prefix}{field_name}: expected a date like 2018-01-30, got {value!r}"
        elif kind in ("greater_than", "greater_than_equal", "less_than_equal", "value_error"):
            message = f"{prefix}{field_name}: {err['msg'].removeprefix('Value error, ')}"
        else:
            message = f"{prefix}{field_name}: {err['msg']}"
        problems.append(doc.problem(loc, message, hint))
    return problems


def _allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The field names of the model that sits at ``loc`` within ``model``."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        info = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if info is None:
            return []
        current = _inner_model(info.annotation)
        if current is None:
            return []
    return list(current.model_fields) if hasattr(current, "model_fields") else []


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


# --------------------------------------------------------------------------------------
# From specs to the resolved domain, checking meaning.
# --------------------------------------------------------------------------------------


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _Builder:
    def __init__(self) -> None:
        self.rules = RuleSet()
        self.problems: list[Problem] = []
        self.strict_problems: list[Problem] = []
        self._policy_docs: list[tuple[_Doc, PoliciesFile]] = []
        self._owner_docs: list[tuple[_Doc, OwnersFile]] = []
        self._response_docs: list[tuple[_Doc, ResponseFile]] = []
        # Kinds of file that failed, and policies that failed: references to what
        # they would have defined are not reported again as "unknown".
        self._broken_kinds: set[str] = set()
        self._broken_policies: set[str] = set()

    def _error_count(self) -> int:
        return sum(p.is_error for p in self.problems)

    # -- files --------------------------------------------------------------------
    def add_file(self, path: str, text: str) -> None:
        self.rules.files += 1
        doc, problems = _load_yaml(path, text)
        self.problems += problems
        if doc is None:
            self._broken_kinds.update(_guess_kinds(text))
            return
        kinds = [k for k in _FILE_KINDS if k in doc.data]
        if len(kinds) != 1:
            found = ", ".join(f"'{k}'" for k in doc.data) or "nothing"
            message = (
                "expected one of 'rules:', 'owners:' or 'response:' at the top of the file"
                if not kinds
                else "a file holds one of 'rules:', 'owners:' or 'response:', not several"
            )
            self.problems.append(doc.problem([], message + f"; found {found}"))
            return
        if "version" not in doc.data:
            self.problems.append(
                doc.problem(
                    [], "'version' is missing", f"start the file with 'version: {FORMAT_VERSION}'"
                )
            )
            return
        if doc.data.get("version") != FORMAT_VERSION:
            self.problems.append(
                doc.problem(
                    ["version"],
                    f"version: this duly reads version {FORMAT_VERSION} rule files, "
                    f"got {doc.data.get('version')!r}",
                )
            )
            return
        model = _FILE_KINDS[kinds[0]]
        try:
            spec = model.model_validate(_plain(doc.data))
        except ValidationError as exc:
            self.problems += _pydantic_problems(doc, model, exc)
            self._broken_kinds.add(kinds[0])
            return
        if isinstance(spec, PoliciesFile):
            self._policy_docs.append((doc, spec))
        elif isinstance(spec, OwnersFile):
            self._owner_docs.append((doc, spec))
        elif isinstance(spec, ResponseFile):
            self._response_docs.append((doc, spec))

    # -- policies -------------------------------------------------------------------
    def build_policies(self) -> None:
        seen: dict[str, str] = {}
        for doc, spec in self._policy_docs:
            for i, p in enumerate(spec.rules):
                loc: list[str | int] = ["rules", i]
                if p.id in seen:
                    self.problems.append(
                        doc.problem(
                            [*loc, "id"], f"rule '{p.id}' is defined twice (first in {seen[p.id]})"
                        )
                    )
                    continue
                seen[p.id] = doc.path
                policy = self._policy(doc, loc, p)
                if policy is None:
                    self._broken_policies.add(p.id)
                else:
                    self.rules.policies[p.id] = policy

    def _policy(self, doc: _Doc, loc: list[str | int], p: PolicySpec) -> Policy | None:
        before = self._error_count()
        name = f"rule '{p.id}'"

        def bad(key: str, message: str, hint: str | None = None) -> None:
            self.problems.append(doc.problem([*loc, key], f"{name}: {message}", hint))

        at = _parse_time(p.time)
        if at is None:
            bad("time", f'time: expected a time of day like "09:00", got {p.time!r}')
        try:
            ZoneInfo(p.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            bad(
                "timezone",
                f"timezone: unknown time zone {p.timezone!r}"
                + did_you_mean(p.timezone, ["Europe/London", "Europe/Belfast", "UTC"]),
                "use an IANA name such as Europe/London",
            )
        if p.calendar not in NATIONS:
            bad(
                "calendar",
                f"calendar: unknown calendar {p.calendar!r}" + did_you_mean(p.calendar, NATIONS),
                "one of: " + ", ".join(NATIONS),
            )
        rrule_text = None
        if p.every and p.rrule:
            bad("rrule", "give either 'every' or 'rrule', not both")
        elif p.every or p.rrule:
            key = "every" if p.every else "rrule"
            try:
                rrule_text = parse_every(p.every or p.rrule or "")
            except DateError as exc:
                bad(key, f"{key}: {exc}", exc.hint)
        duration = self._span(doc, [*loc, "duration"], name, p.duration)
        evaluate = self._span(doc, [*loc, "evaluate_within"], name, p.evaluate_within)
        self._check_schedule(doc, [*loc, "check"], name, p.check)
        self._kind_fields(doc, loc, name, p, rrule_text)
        if self._error_count() != before or at is None:
            return None
        return Policy(
            id=p.id,
            kind=p.kind,
            summary=p.summary,
            remind_before=tuple(p.remind_before),
            overdue_every=p.overdue_every,
            overdue_repeats=p.overdue_repeats,
            escalate_after=p.escalate_after,
            days=p.days,
            send_on=p.send_on,
            time=at,
            timezone=p.timezone,
            calendar=p.calendar,
            invite=p.invite,
            template=p.template or p.kind,
            too_late_after=p.too_late_after,
            max_attempts=p.max_attempts,
            check=p.check,
            rrule=rrule_text,
            duration=duration,
            midpoint=p.midpoint,
            evaluate_within=evaluate,
            digest=_digest(p.model_dump()),
        )

    def _kind_fields(
        self, doc: _Doc, loc: list[str | int], name: str, p: PolicySpec, rrule_text: str | None
    ) -> None:
        unused = {
            "deadline": ("every", "rrule", "duration", "midpoint", "evaluate_within"),
            "recurring": ("overdue_every", "duration", "midpoint", "evaluate_within"),
            "duration": ("every", "rrule", "overdue_every"),
            "start": (
                "every",
                "rrule",
                "duration",
                "midpoint",
                "evaluate_within",
                "overdue_every",
            ),
            "dependency": (
                "every",
                "rrule",
                "duration",
                "midpoint",
                "evaluate_within",
                "overdue_every",
                "remind_before",
            ),
        }[p.kind]
        for key in unused:
            if key in p.model_fields_set:
                self.problems.append(
                    doc.problem(
                        [*loc, key], f"{name}: '{key}' does not apply to a {p.kind} rule", key=True
                    )
                )
        if (
            p.overdue_repeats
            and p.overdue_every is None
            and "overdue_repeats" in p.model_fields_set
        ):
            self.problems.append(
                doc.problem(
                    [*loc, "overdue_repeats"], f"{name}: overdue_repeats needs overdue_every"
                )
            )

    def _check_schedule(
        self, doc: _Doc, loc: list[str | int], name: str, check: CheckSchedule
    ) -> None:
        if (check.cron is None) == (check.rrule is None):
            self.problems.append(
                doc.problem(
                    loc,
                    f"{name}: check: give exactly one of 'cron' or 'rrule'",
                    'for example check: {cron: "0 9 * * 1-5"}',
                )
            )
            return
        if check.timezone is not None:
            try:
                ZoneInfo(check.timezone)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                self.problems.append(
                    doc.problem(
                        [*loc, "timezone"], f"{name}: check: unknown time zone {check.timezone!r}"
                    )
                )
        if check.cron is not None:
            message = _cron_problem(check.cron)
            if message:
                self.problems.append(
                    doc.problem(
                        [*loc, "cron"],
                        f"{name}: check: {message}",
                        'five fields: minute hour day month weekday, like "0 9 * * 1-5"',
                    )
                )
        else:
            text = check.rrule or ""
            try:
                parse_every(text)
            except DateError as exc:
                self.problems.append(
                    doc.problem([*loc, "rrule"], f"{name}: check: {exc}", exc.hint)
                )
                return
            upper = text.upper()
            if not all(part in upper for part in ("BYHOUR", "BYMINUTE")):
                self.problems.append(
                    doc.problem(
                        [*loc, "rrule"],
                        f"{name}: check: an RRULE schedule needs BYHOUR and BYMINUTE",
                        "without them Prefect runs it at midnight; "
                        "add ;BYHOUR=9;BYMINUTE=0;BYSECOND=0",
                    )
                )

    def _span(
        self, doc: _Doc, loc: list[str | int], name: str, value: str | int | None
    ) -> Span | None:
        if value is None:
            return None
        try:
            return parse_span(value)
        except DateError as exc:
            self.problems.append(doc.problem(loc, f"{name}: {loc[-1]}: {exc}", exc.hint))
            return None

    # -- owners -------------------------------------------------------------------
    def build_owners(self) -> None:
        seen: dict[str, str] = {}
        for doc, spec in self._owner_docs:
            for i, o in enumerate(spec.owners):
                if o.id in seen:
                    self.problems.append(
                        doc.problem(
                            ["owners", i, "id"],
                            f"owner '{o.id}' is defined twice (first in {seen[o.id]})",
                        )
                    )
                    continue
                seen[o.id] = doc.path
                self.rules.owners[o.id] = Owner(
                    o.id, o.name, o.email, tuple(o.tags), o.escalate_to
                )
        for doc, spec in self._owner_docs:
            for i, o in enumerate(spec.owners):
                target = o.escalate_to
                if target is None:
                    continue
                loc: list[str | int] = ["owners", i, "escalate_to"]
                if target == o.id:
                    self.problems.append(doc.problem(loc, f"owner '{o.id}' escalates to itself"))
                elif target not in self.rules.owners:
                    self.problems.append(
                        doc.problem(
                            loc,
                            f"owner '{o.id}' has escalate_to: '{target}', which is not an owner"
                            + did_you_mean(target, self.rules.owners),
                        )
                    )

    # -- responses ------------------------------------------------------------------
    def build_responses(self) -> None:
        for doc, spec in self._response_docs:
            self._response(doc, spec)

    def _response(self, doc: _Doc, spec: ResponseFile) -> None:
        meta = spec.response
        if meta.id in self.rules.responses:
            other = self.rules.responses[meta.id].path
            self.problems.append(
                doc.problem(
                    ["response", "id"], f"response '{meta.id}' is defined twice (first in {other})"
                )
            )
            return
        before = self._error_count()
        locs: dict[str, list[str | int]] = {}
        specs: dict[str, CommitmentSpec] = {}
        numbers: dict[str, int] = {}
        for r, rec in enumerate(spec.recommendations):
            if rec.number in numbers:
                self.problems.append(
                    doc.problem(
                        ["recommendations", r, "number"],
                        f"recommendation {rec.number} appears twice",
                    )
                )
            numbers[rec.number] = r
            for c, com in enumerate(rec.commitments):
                loc: list[str | int] = ["recommendations", r, "commitments", c]
                if com.id in specs:
                    first = doc.position(locs[com.id] + ["id"])[0]
                    self.problems.append(
                        doc.problem(
                            [*loc, "id"],
                            f"commitment '{com.id}' is defined twice (first on line {first})",
                        )
                    )
                    continue
                specs[com.id] = com
                locs[com.id] = loc
        resolved: dict[str, Commitment] = {}
        for cid, com in specs.items():
            rec_number = str(doc.node([*locs[cid][:2], "number"]))
            made = self._commitment(doc, locs[cid], meta, rec_number, com, specs)
            if made is not None:
                resolved[cid] = made
        self._check_cycles(doc, specs, locs)
        self._check_undated(doc, spec)
        if self._error_count() != before:
            return
        recommendations = tuple(
            Recommendation(
                rec.number,
                rec.text.strip(),
                rec.status,
                rec.status_text,
                tuple(f"{meta.id}/{c.id}" for c in rec.commitments),
                rec.undated,
            )
            for rec in spec.recommendations
        )
        self.rules.responses[meta.id] = Response(
            meta.id,
            meta.title,
            meta.inspectorate,
            meta.inspection_period,
            meta.published,
            meta.source,
            doc.path,
            recommendations,
        )
        for made in resolved.values():
            self.rules.commitments[made.uid] = made

    def _check_undated(self, doc: _Doc, spec: ResponseFile) -> None:
        """An accepted recommendation needs a commitment, or a reason why it has none.

        Reported only by ``duly validate --strict``: a draft from ``duly ingest``
        flags such recommendations (``no-date``) until an admin adds a date or
        writes ``undated: <reason>``.
        """
        for r, rec in enumerate(spec.recommendations):
            if rec.status == "not_accepted" or rec.commitments or rec.undated:
                continue
            status = rec.status.replace("_", " ")
            self.strict_problems.append(
                doc.problem(
                    ["recommendations", r, "number"],
                    f"recommendation {rec.number} is {status} but has no dated commitment",
                    "add a commitment with a date, or undated: <reason> if the response "
                    "gives none",
                    key=True,
                )
            )

    def _commitment(
        self,
        doc: _Doc,
        loc: list[str | int],
        meta: ResponseMeta,
        rec: str,
        c: CommitmentSpec,
        siblings: Mapping[str, CommitmentSpec],
    ) -> Commitment | None:
        before = self._error_count()
        name = f"commitment '{c.id}'"

        def bad(key: str, message: str, hint: str | None = None, **kw: Any) -> None:
            self.problems.append(doc.problem([*loc, key], f"{name} {message}", hint, **kw))

        policy = self.rules.policies.get(c.rule)
        rules_known = "rules" not in self._broken_kinds and c.rule not in self._broken_policies
        owners_known = "owners" not in self._broken_kinds
        if policy is None and rules_known:
            bad(
                "rule",
                f"has rule: '{c.rule}', which is not a rule in the policies file"
                + did_you_mean(c.rule, self.rules.policies),
                None
                if self.rules.policies
                else "no policies file was given; validate the whole rules/ folder",
            )
        if c.owner == UNASSIGNED:
            bad(
                "owner",
                "has no owner yet",
                "set owner: to an id from owners.yaml",
                severity="warning",
            )
        elif c.owner not in self.rules.owners and owners_known:
            bad(
                "owner",
                f"has owner: '{c.owner}', which is not an owner"
                + did_you_mean(c.owner, self.rules.owners),
                None
                if self.rules.owners
                else "no owners file was given; validate the whole rules/ folder",
            )
        if c.after is not None:
            if c.after == c.id:
                bad("after", "has after: itself")
            elif c.after not in siblings:
                bad(
                    "after",
                    f"has after: '{c.after}', which is not a commitment in this file"
                    + did_you_mean(c.after, siblings),
                )
        due = self._period(doc, [*loc, "due"], name, c.due, meta.published)
        starts = self._period(doc, [*loc, "starts"], name, c.starts, meta.published)
        duration = self._span(doc, [*loc, "duration"], name, c.duration)
        rrule_text = None
        if c.every is not None:
            try:
                rrule_text = parse_every(c.every)
            except DateError as exc:
                bad("every", f"every: {exc}", exc.hint)
        if policy is not None:
            self._fits_kind(doc, loc, name, c, policy)
            rrule_text = rrule_text or policy.rrule
        if self._error_count() != before or policy is None:
            return None
        if policy.kind == "recurring" and rrule_text and c.starts is None and c.after is None:
            first = Series(rrule_text, meta.published, include_anchor=False).first()
            self.problems.append(
                doc.problem(
                    loc,
                    f"{name} says {describe_rrule(rrule_text)} but not from when; counting "
                    f"from publication ({meta.published.isoformat()}), it first falls due on "
                    f"{first.isoformat() if first else 'no date'}",
                    "add starts: (e.g. starts: April 2018) if the document gives a first date",
                    key=True,
                    severity="warning",
                )
            )
        if c.owner not in self.rules.owners and c.owner != UNASSIGNED:
            return None
        return Commitment(
            uid=f"{meta.id}/{c.id}",
            id=c.id,
            response_id=meta.id,
            recommendation=rec,
            para=c.para,
            quote=c.quote.strip(),
            action=c.action.strip(),
            owner=c.owner,
            rule=c.rule,
            due=due,
            starts=starts,
            duration=duration or (policy.duration if policy else None),
            rrule=rrule_text,
            after=f"{meta.id}/{c.after}" if c.after else None,
            review=c.review,
            note=c.note,
            digest=_digest(c.model_dump()),
        )

    def _fits_kind(
        self, doc: _Doc, loc: list[str | int], name: str, c: CommitmentSpec, policy: Policy
    ) -> None:
        kind = policy.kind
        needs = {"deadline": "due", "start": "starts"}.get(kind)
        if needs and getattr(c, needs) is None:
            example = "due: April 2018" if needs == "due" else "starts: January 2018"
            self.problems.append(
                doc.problem(
                    loc,
                    f"{name} follows rule '{policy.id}' ({kind}) but has no '{needs}'",
                    f"add, for example, {example}",
                    key=True,
                )
            )
        if kind == "duration":
            if c.starts is None and c.after is None:
                self.problems.append(
                    doc.problem(
                        loc,
                        f"{name} follows rule '{policy.id}' (duration) but says neither when it "
                        "starts ('starts:') nor what it waits for ('after:')",
                        key=True,
                    )
                )
            if c.duration is None and policy.duration is None:
                self.problems.append(
                    doc.problem(
                        loc,
                        f"{name} follows rule '{policy.id}' (duration) but no length is given",
                        "add duration: 3 months to the commitment or the rule",
                        key=True,
                    )
                )
        if kind == "recurring" and c.every is None and policy.rrule is None:
            self.problems.append(
                doc.problem(
                    loc,
                    f"{name} follows rule '{policy.id}' (recurring) but no frequency is given",
                    "add every: annually (or monthly, quarterly, an RRULE)",
                    key=True,
                )
            )
        if kind == "dependency" and c.after is None:
            self.problems.append(
                doc.problem(
                    loc,
                    f"{name} follows rule '{policy.id}' (dependency) but has no 'after'",
                    "name the commitment it waits for: after: <commitment id>",
                    key=True,
                )
            )
        allowed = {
            "deadline": {"due"},
            "recurring": {"starts", "every"},
            "duration": {"starts", "duration"},
            "start": {"starts"},
            "dependency": set(),
        }[kind]
        for key in ("due", "starts", "duration", "every"):
            if getattr(c, key) is not None and key not in allowed:
                self.problems.append(
                    doc.problem(
                        [*loc, key],
                        f"{name}: '{key}' does not apply to rule '{policy.id}' ({kind})",
                        key=True,
                    )
                )

    def _period(
        self,
        doc: _Doc,
        loc: list[str | int],
        name: str,
        value: str | date | int | None,
        reference: date,
    ) -> Period | None:
        if value is None:
            return None
        try:
            return parse_period(value, reference)
        except DateError as exc:
            self.problems.append(doc.problem(loc, f"{name}: {loc[-1]}: {exc}", exc.hint))
            return None

    def _check_cycles(
        self, doc: _Doc, specs: Mapping[str, CommitmentSpec], locs: Mapping[str, list[str | int]]
    ) -> None:
        reported: set[str] = set()
        for start in specs:
            path = [start]
            node = specs[start].after
            while node is not None and node in specs:
                if node in path:
                    cycle = [*path[path.index(node) :], node]
                    if not reported & set(cycle):
                        reported.update(cycle)
                        self.problems.append(
                            doc.problem(
                                locs[node] + ["after"],
                                f"commitment '{node}' waits for itself through after: "
                                + " -> ".join(cycle),
                                "one of these commitments must not wait for the others",
                            )
                        )
                    break
                path.append(node)
                node = specs[node].after

    def finish(self) -> RuleSet:
        self.build_policies()
        self.build_owners()
        self.build_responses()
        self.rules.problems = sorted(set(self.problems))
        self.rules.strict_problems = sorted(set(self.strict_problems))
        return self.rules


def _guess_kinds(text: str) -> set[str]:
    """The kinds a file that could not be read was probably meant to be."""
    return {k for k in _FILE_KINDS if re.search(rf"^{k}\s*:", text, re.MULTILINE)} or set(
        _FILE_KINDS
    )


def _parse_time(text: str) -> dtime | None:
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(text).strip())
    return dtime(int(match.group(1)), int(match.group(2))) if match else None


def _cron_problem(expr: str) -> str | None:
    """Return why ``expr`` is not a valid five-field cron expression, or None."""
    from cronsim import CronSim, CronSimError

    if len(expr.split()) != 5:
        return f"cron {expr!r} must have five fields, has {len(expr.split())}"
    try:
        CronSim(expr, datetime(2000, 1, 1))
    except CronSimError as exc:
        return f"cron {expr!r} is not valid: {exc}"
    return None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a rule file (any of the three kinds), for editors."""
    definitions: dict[str, Any] = {}
    choices = []
    for model in _FILE_KINDS.values():
        schema = model.model_json_schema()
        definitions.update(schema.pop("$defs", {}))
        definitions[model.__name__] = schema
        choices.append({"$ref": f"#/$defs/{model.__name__}"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "duly rule file",
        "oneOf": choices,
        "$defs": definitions,
    }


def parse_rule_files(sources: Iterable[tuple[str, str]]) -> RuleSet:
    """Read and check rule files given as ``(path, text)`` pairs.

    Every file is read and every problem reported, so one run shows them all.
    Policies and owners are resolved before responses, wherever they appear in
    ``sources``. The result's ``ok`` is False when any error was found.
    """
    builder = _Builder()
    for path, text in sources:
        builder.add_file(path, text)
    return builder.finish()


def iter_commitments(rules: RuleSet) -> Iterator[Commitment]:
    """Commitments in file order: response by response, recommendation by recommendation."""
    for response in rules.responses.values():
        for rec in response.recommendations:
            for uid in rec.commitments:
                yield rules.commitments[uid]
