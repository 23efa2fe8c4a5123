"""docs/coverage.md stays true: every `aN:name` it cites exists in the source notebooks, every row of its
coverage tables has a valid status and a reference, and its summary counts match the rows.

No kernel is started: the notebooks are read as JSON and their code cells parsed with ast.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "coverage.md"
SOURCE = ROOT / "source"

STATUSES = ("covered", "partly", "missing")
ROW_HEADER = ["original part", "what it asks", "where in the course", "status"]
SUMMARY_HEADER = ["original", "covered", "partly", "missing"]
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
REFERENCE = re.compile(rf"`(a(\d+)):({IDENT}(?:\.{IDENT})?)`")
LOOKS_LIKE_REFERENCE = re.compile(r"`a\d+:[^`]*`")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


@cache
def _doc_lines() -> tuple[str, ...]:
    return tuple(DOC.read_text(encoding="utf-8").splitlines())


@cache
def _tables() -> tuple[dict, ...]:
    """Every markdown table of the page: its section heading, header, and rows as (line number, cells)."""
    tables, section, current = [], "", None
    lines = _doc_lines()
    for number, line in enumerate(lines, 1):
        if line.startswith("## "):
            section = line[3:].strip()
        if not line.lstrip().startswith("|"):
            current = None
            continue
        if current is None:
            current = {"section": section, "header": [c.lower() for c in _cells(line)], "rows": [], "line": number}
            tables.append(current)
        elif set(line.replace("|", "").strip()) <= set("-: "):
            continue  # the separator line
        else:
            current["rows"].append((number, _cells(line)))
    return tuple(tables)


def _coverage_tables() -> list[dict]:
    return [t for t in _tables() if t["header"] == ROW_HEADER]


@cache
def _notebook(assignment: int) -> Path | None:
    found = sorted(SOURCE.glob(f"a{assignment}_*/a{assignment}_*.ipynb"))
    found = [p for p in found if p.stem == p.parent.name]
    return found[0] if len(found) == 1 else None


def _code(cell: dict) -> str:
    source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _target_names(element)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


def _defined(body: list[ast.stmt]) -> list[str]:
    """Names a block of statements defines: functions, classes and assigned variables."""
    names = []
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [name for target in node.targets for name in _target_names(target)]
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            names += _target_names(node.target)
    return names


@cache
def _names(assignment: int) -> frozenset[str]:
    """Grade ids, top-level names, and Class.member for the classes of one source notebook."""
    path = _notebook(assignment)
    notebook = json.loads(path.read_text(encoding="utf-8"))
    names = set()
    for index, cell in enumerate(notebook["cells"]):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id:
            names.add(grade_id)
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse(_code(cell))
        except SyntaxError as error:
            where = f"{path.relative_to(ROOT)}: code cell {index}"
            pytest.fail(f"{where} does not parse ({error.msg}, line {error.lineno})")
        names.update(_defined(tree.body))
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                names.update(f"{node.name}.{member}" for member in _defined(node.body))
    return frozenset(names)


def test_every_reference_exists():
    problems, seen = [], 0
    for number, line in enumerate(_doc_lines(), 1):
        for malformed in LOOKS_LIKE_REFERENCE.findall(line):
            if not REFERENCE.fullmatch(malformed):
                problems.append(f"line {number}: {malformed} is not of the form `aN:name`")
        for match in REFERENCE.finditer(line):
            seen += 1
            label, assignment, name = match.group(1), int(match.group(2)), match.group(3)
            path = _notebook(assignment)
            if path is None:
                problems.append(f"line {number}: {label}:{name}: no source notebook source/{label}_*/{label}_*.ipynb")
            elif name not in _names(assignment):
                problems.append(f"line {number}: {label}:{name} is not a grade id or top-level name "
                                f"in {path.relative_to(ROOT)}")
    assert seen > 0, "docs/coverage.md cites no `aN:name` at all"
    assert not problems, "docs/coverage.md cites what the course does not have:\n" + "\n".join(problems)


def test_rows_have_a_status_and_a_reference():
    tables = _coverage_tables()
    assert len(tables) >= 5, f"expected a coverage table for each of the five originals, found {len(tables)}"
    problems = []
    for table in tables:
        parts = Counter()
        for number, cells in table["rows"]:
            if len(cells) != len(ROW_HEADER):
                problems.append(f"line {number}: {len(cells)} cells, expected {len(ROW_HEADER)} (a '|' inside a cell?)")
                continue
            part, asks, where, status = cells
            parts[part] += 1
            if not part or not asks:
                problems.append(f"line {number}: the original part and what it asks must be filled in")
            word = re.match(r"[a-z]+", status)
            word = word.group(0) if word else ""
            if word not in STATUSES:
                problems.append(f"line {number}: status {status!r} does not start with one of {', '.join(STATUSES)}")
            elif word == "partly" and not re.match(r"partly:\s*\S", status):
                problems.append(f"line {number}: a 'partly' status must say what is missing ('partly: ...')")
            if word != "missing" and not REFERENCE.search(where):
                problems.append(f"line {number}: a {word or 'row'} row needs an `aN:name` in its third column")
        problems += [f"section {table['section']!r}: part {part!r} appears {count} times"
                     for part, count in parts.items() if count > 1]
    assert not problems, "docs/coverage.md has malformed rows:\n" + "\n".join(problems)


def test_summary_counts_match_the_rows():
    summaries = [t for t in _tables() if t["header"] == SUMMARY_HEADER]
    assert len(summaries) == 1, "docs/coverage.md needs one summary table: | original | covered | partly | missing |"
    counted = {}
    for table in _coverage_tables():
        statuses = Counter(re.match(r"[a-z]*", cells[3]).group(0) for _, cells in table["rows"] if len(cells) == 4)
        counted[table["section"]] = [statuses[s] for s in STATUSES]
    problems, total, matched = [], [0, 0, 0], set()
    for number, cells in summaries[0]["rows"]:
        name, numbers = cells[0].strip("*"), [c.strip("*") for c in cells[1:]]
        if not all(n.isdigit() for n in numbers):
            problems.append(f"line {number}: counts {numbers} must be whole numbers")
            continue
        numbers = [int(n) for n in numbers]
        if name == "all":
            if numbers != total:
                problems.append(f"line {number}: 'all' says {numbers}, the rows above add up to {total}")
            continue
        sections = [s for s in counted if s.startswith(name)]
        if len(sections) != 1:
            problems.append(f"line {number}: {name!r} must start exactly one section heading, matches {sections}")
            continue
        matched.add(sections[0])
        total = [a + b for a, b in zip(total, numbers, strict=True)]
        if numbers != counted[sections[0]]:
            problems.append(f"line {number}: {name} says covered/partly/missing = {numbers}, "
                            f"its table has {counted[sections[0]]}")
    problems += [f"section {s!r} has no summary row" for s in counted if s not in matched]
    assert not problems, "docs/coverage.md summary is out of date:\n" + "\n".join(problems)


def test_the_reference_check_can_fail():
    """The name lookup rejects what a notebook does not define (guards against a check that cannot fail)."""
    names = _names(1)
    assert "optimize_f" in names and "answer_step_size" in names
    assert "optimize_f_nonexistent" not in names and "np" not in names
