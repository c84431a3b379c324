"""Finding and reading rule files: the file-system side of ``models.rules``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from models.problems import Problem
from models.rules import RuleSet, parse_rule_files

__all__ = ["DEFAULT_RULES", "load_rules", "rule_paths"]

DEFAULT_RULES = Path(os.environ.get("DULY_RULES", "rules"))
_SUFFIXES = (".yaml", ".yml")
# Files that give a response file its meaning; found beside or above it when a
# single response file is validated on its own.
_CONTEXT = ("policies.yaml", "owners.yaml")


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def rule_paths(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """Expand folders into the YAML files under them, in a stable order.

    When only response files are named, the ``policies.yaml`` and ``owners.yaml``
    found in their folder or the folders above are added, so that one file can
    be checked with the meaning the whole folder gives it.
    """
    found: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
            )
        elif path.is_file():
            found.append(path)
        else:
            problems.append(Problem(str(path), 1, 1, "no such file or folder"))
    names = {p.name for p in found}
    for name in _CONTEXT:
        if name in names:
            continue
        for path in list(found):
            for parent in list(path.resolve().parents)[:3]:
                candidate = parent / name
                if candidate.is_file():
                    found.append(candidate)
                    break
            else:
                continue
            break
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values()), problems


def load_rules(paths: Iterable[Path] | None = None) -> RuleSet:
    """Read and check every rule file under ``paths`` (default: the rules/ folder)."""
    files, problems = rule_paths(list(paths) if paths else [DEFAULT_RULES])
    sources: list[tuple[str, str]] = []
    for path in files:
        try:
            sources.append((_display(path), path.read_text(encoding="utf-8")))
        except UnicodeDecodeError as exc:
            problems.append(
                Problem(
                    _display(path),
                    1,
                    1,
                    f"not UTF-8 text: {exc.reason} at byte {exc.start}",
                    "save the file as UTF-8",
                )
            )
        except OSError as exc:
            problems.append(Problem(_display(path), 1, 1, f"cannot read: {exc.strerror}"))
    rules = parse_rule_files(sources)
    rules.problems = sorted(set(rules.problems) | set(problems))
    rules.files += len([p for p in problems if p.message.startswith("not UTF-8")])
    return rules
