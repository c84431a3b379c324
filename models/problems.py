"""Problems found in rule files, reported like a compiler's: ``path:line:col: message``.

Every check in duly reports through :class:`Problem`, so the command line, the
deploy diff and later the web pages print one format. Lines and columns are
1-based, as editors count them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Problem", "RuleFileError", "did_you_mean", "summarise"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong (or doubtful) in a rule file, at a place in it."""

    path: str
    line: int
    col: int
    message: str
    hint: str | None = None
    severity: Severity = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        text = f"{self.path}:{self.line}:{self.col}: {prefix}{self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class RuleFileError(Exception):
    """Raised when rule files have errors; carries every problem found, not just the first."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or an empty string.

    >>> did_you_mean("sla-signd", ["sla-signed", "review"])
    " (did you mean 'sla-signed'?)"
    >>> did_you_mean("zzz", ["sla-signed"])
    ''
    """
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def summarise(problems: Iterable[Problem], files: int) -> str:
    """The last line of a validation: how many errors, in how many files."""
    problems = list(problems)
    errors = [p for p in problems if p.is_error]
    warnings = len(problems) - len(errors)
    noun = "file" if files == 1 else "files"
    if errors:
        bad_files = len({p.path for p in errors})
        text = (
            f"{len(errors)} error{'s' if len(errors) != 1 else ''} in {bad_files} "
            f"{'file' if bad_files == 1 else 'files'}"
        )
    else:
        text = f"{files} {noun} OK"
    if warnings:
        text += f", {warnings} warning{'s' if warnings != 1 else ''}"
    return text
