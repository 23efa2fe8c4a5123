"""Proving an assignment's tests: realistic bugs must lose points in the right cells, correct
alternatives must keep full marks.

An assignment declares its variants in ``source/<assignment>/mutants.py`` (kept out of the release by
``CourseDirectory.ignore``) as a list ``VARIANTS`` of :class:`Variant`. A variant rewrites one autograded
answer cell of a submission: either with whole new code or with text replacements applied to the
reference solution. Submissions are built from the released notebook, exactly as a student would fill it
in, and graded by real ``nbgrader autograde``.
"""

import importlib.util
import json
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import nbformat

from dlcourse import grading, judge, parallel

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
REFERENCE, UNTOUCHED = "reference", "untouched"


@dataclass(frozen=True)
class Variant:
    """One rewrite of the autograded answer cell ``cell``.

    ``fails`` names the test cells (grade ids) that must lose points; leave it empty for a correct
    alternative, which must keep every point. Give either ``code`` (the whole cell) or ``replace``, pairs
    of (old, new) text applied to the reference solution, each ``old`` occurring exactly once.
    """

    name: str
    cell: str
    code: str | None = None
    replace: Sequence[tuple[str, str]] = ()
    fails: Sequence[str] = field(default_factory=tuple)

    @property
    def is_bug(self) -> bool:
        return bool(self.fails)


@dataclass(frozen=True)
class Outcome:
    """What grading one submission gave, next to what it should have given."""

    student: str
    description: str
    expected_failing: frozenset
    failing: frozenset  # autograded test cells that lost points
    autograded_cells: frozenset
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.failing == self.expected_failing


def load_variants(root: Path, assignment_id: str) -> list[Variant]:
    path = root / "source" / assignment_id / "mutants.py"
    if not path.is_file():
        return []
    spec = importlib.util.spec_from_file_location(f"mutants_{assignment_id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.VARIANTS)


def solution_code(source: str) -> str:
    """A source cell as the student would write it: the solution delimiters dropped."""
    return "\n".join(line for line in source.split("\n")
                     if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION))


def _is_answer(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def _grade_id(cell) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


def reference_answers(source_nb) -> dict[str, str]:
    """{grade_id: answer text} for every answer cell (code and written) of the source notebook."""
    return {_grade_id(c): solution_code(c.source) for c in source_nb.cells if _is_answer(c)}


def apply_variant(variant: Variant, answers: dict[str, str]) -> str:
    if variant.cell not in answers:
        raise ValueError(f"variant {variant.name!r}: no answer cell {variant.cell!r}")
    if variant.code is not None:
        return variant.code
    text = answers[variant.cell]
    for old, new in variant.replace:
        if text.count(old) != 1:
            raise ValueError(f"variant {variant.name!r}: {old!r} occurs {text.count(old)} times in {variant.cell!r}")
        text = text.replace(old, new)
    return text


def fill_submission(release_nb, answers: dict[str, str]):
    """A copy of the released notebook with the given answer cells filled in."""
    submission = nbformat.from_dict(release_nb)
    for cell in submission.cells:
        if _is_answer(cell) and _grade_id(cell) in answers:
            cell.source = answers[_grade_id(cell)]
    return submission


def variant_id(number: int, variant: Variant) -> str:
    return f"{'bug' if variant.is_bug else 'alt'}{number:02d}"


def describe(variant: Variant) -> str:
    return f"{'bug' if variant.is_bug else 'alternative'}: {variant.name}"


def typical_mistakes(source_nb, release_nb, variants: Iterable[Variant]):
    """A weak but not hopeless student: the first listed bug of every second autograded task."""
    answers = reference_answers(source_nb)
    first_bugs = {}
    for variant in variants:
        if variant.is_bug:
            first_bugs.setdefault(variant.cell, variant)
    for variant in list(first_bugs.values())[::2]:
        answers[variant.cell] = apply_variant(variant, answers)
    return fill_submission(release_nb, answers)


def write_submission(root: Path, assignment_id: str, student: str, notebook) -> Path:
    target = root / "submitted" / student / assignment_id / f"{assignment_id}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target)
    return target


def prove(root: Path, assignment_id: str, jobs: int = 1, progress: bool = True,
          pack: bool = False) -> list[Outcome]:
    """Grade the reference, the untouched release and every variant in scratch course folders.

    The reference must keep every autograded point, the untouched release must score 0 on every
    autograded cell, each bug must lose points in exactly its ``fails`` cells and each alternative must
    keep every point. ``jobs`` scratch courses grade in parallel processes.

    With ``pack``, variants of different answer cells whose ``fails`` are disjoint share one submission;
    a packed submission that loses points anywhere but in the union of its variants' ``fails`` is graded
    again one variant at a time, so a wrong expectation is always attributed to its own variant. Packing
    assumes what the tests are written to guarantee: a test cell depends only on its own answer cell.
    """
    variants = load_variants(root, assignment_id)
    source_nb = nbformat.read(root / "source" / assignment_id / f"{assignment_id}.ipynb", as_version=4)
    answers = reference_answers(source_nb)
    changes = {variant_id(i, v): {v.cell: apply_variant(v, answers)} for i, v in enumerate(variants, 1)}
    expected = {variant_id(i, v): frozenset(v.fails) for i, v in enumerate(variants, 1)}
    groups = _packs(variants) if pack else [[variant_id(i, v)] for i, v in enumerate(variants, 1)]
    named_groups = {group[0] if len(group) == 1 else f"pack{number:02d}": group
                    for number, group in enumerate(groups, 1)}

    plan = {REFERENCE: {}, UNTOUCHED: None}
    for name, group in named_groups.items():
        plan[name] = {cell: code for member in group for cell, code in changes[member].items()}
    scores, errors = _grade_plan(root, assignment_id, plan, jobs, progress)

    graded_as = {}
    retry = {}
    for name, group in named_groups.items():
        lost = _lost(scores.get(name, {}))
        if len(group) > 1 and (errors.get(name) or lost != frozenset().union(*(expected[m] for m in group))):
            retry.update({member: changes[member] for member in group})
        else:
            graded_as.update({member: name for member in group})
    if retry:
        retry_scores, retry_errors = _grade_plan(root, assignment_id, retry, jobs, progress)
        scores.update(retry_scores)
        errors.update(retry_errors)
        graded_as.update({member: member for member in retry})
    return _judge(variants, scores, errors, graded_as)


def _packs(variants: list[Variant]) -> list[list[str]]:
    """First-fit groups of variants with distinct answer cells and disjoint expected failures."""
    groups: list[list[tuple[str, Variant]]] = []
    for number, variant in enumerate(variants, 1):
        member = (variant_id(number, variant), variant)
        for group in groups:
            if all(v.cell != variant.cell and not set(v.fails) & set(variant.fails) for _, v in group):
                group.append(member)
                break
        else:
            groups.append([member])
    return [[name for name, _ in group] for group in groups]


def _lost(cells: dict) -> frozenset:
    return frozenset(gid for gid, s in cells.items() if s.auto and s.score < s.max_score)


def _grade_plan(root: Path, assignment_id: str, plan: dict, jobs: int, progress: bool):
    """Grade {student: {answer cell: code} or None for the untouched release}, over ``jobs`` processes."""
    students = list(plan)
    chunks = [{s: plan[s] for s in students[i::jobs]} for i in range(jobs)]
    chunks = [chunk for chunk in chunks if chunk]
    if len(chunks) == 1:
        results = [_grade_in_scratch_course(root, assignment_id, chunks[0], progress)]
    else:
        with ProcessPoolExecutor(len(chunks), mp_context=get_context("spawn"),
                                 initializer=parallel.pin_threads, initargs=(1,)) as pool:
            results = list(pool.map(_grade_in_scratch_course, [root] * len(chunks),
                                    [assignment_id] * len(chunks), chunks, [False] * len(chunks)))
    scores, errors = {}, {}
    for chunk_scores, chunk_errors in results:
        scores.update(chunk_scores)
        errors.update(chunk_errors)
    return scores, errors


@contextmanager
def scratch_course(root: Path, assignment_id: str, extra_config: str = ""):
    """A throwaway course holding only ``assignment_id``, released: yields (folder, api, source nb, release nb).

    ``extra_config``: lines added to the course's nbgrader_config.py there.
    """
    with tempfile.TemporaryDirectory(prefix=f"course-{assignment_id}-") as scratch:
        course = Path(scratch)
        shutil.copy(root / grading.CONFIG_FILE, course / grading.CONFIG_FILE)
        if extra_config:
            with open(course / grading.CONFIG_FILE, "a") as config:
                config.write("\n" + extra_config + "\n")
        shutil.copytree(root / "source" / assignment_id, course / "source" / assignment_id)
        judge.share_secret(root, course)
        nb_api = grading.api(course)
        grading.build_release(nb_api, [assignment_id])
        notebook_name = f"{assignment_id}.ipynb"
        source_nb = nbformat.read(course / "source" / assignment_id / notebook_name, as_version=4)
        release_nb = nbformat.read(course / "release" / assignment_id / notebook_name, as_version=4)
        yield course, nb_api, source_nb, release_nb


def _grade_in_scratch_course(root: Path, assignment_id: str, plan: dict, progress: bool):
    with scratch_course(root, assignment_id) as (course, nb_api, source_nb, release_nb):
        answers = reference_answers(source_nb)
        for student, change in plan.items():
            notebook = release_nb if change is None else fill_submission(release_nb, dict(answers, **change))
            write_submission(course, assignment_id, student, notebook)
        errors = grading.autograde(nb_api, assignment_id, list(plan), progress=progress)
        return grading.cell_scores(nb_api, assignment_id), errors


def _judge(variants: list[Variant], scores: dict, errors: dict, graded_as: dict | None = None) -> list[Outcome]:
    """Outcomes of the reference, the untouched release and each variant (graded alone or in a pack)."""
    graded_as = graded_as or {}
    auto_cells = frozenset(gid for gid, s in scores.get(REFERENCE, {}).items() if s.auto)
    expected = {REFERENCE: ("reference solution", frozenset()),
                UNTOUCHED: ("untouched release", auto_cells)}
    for number, variant in enumerate(variants, 1):
        expected[variant_id(number, variant)] = (describe(variant), frozenset(variant.fails))
    outcomes = []
    for student, (description, should_fail) in expected.items():
        graded = graded_as.get(student, student)
        cells = scores.get(graded, {})
        failing = _lost(cells)
        if graded != student:  # a confirmed pack: each member is credited with its own cells only
            failing = failing & should_fail
            description += f" [graded in {graded}]"
        error = errors.get(graded, "") or ("" if cells else "no grades recorded")
        if student == UNTOUCHED:
            # the untouched release must score nothing at all, not merely lose some points
            scored = [gid for gid, s in cells.items() if s.auto and s.score > 0]
            if scored:
                error = error or f"scored points in {sorted(scored)}"
        outcomes.append(Outcome(student, description, should_fail, failing, auto_cells, error))
    return outcomes


def report(outcomes: list[Outcome]) -> str:
    """A plain-text table: one line per submission, what it lost points in, and whether that is right."""
    lines = []
    for outcome in outcomes:
        verdict = "ok  " if outcome.ok else "FAIL"
        lost = ", ".join(sorted(outcome.failing)) or "-"
        line = f"{verdict} {outcome.student:<10} {outcome.description:<60} loses points in: {lost}"
        if not outcome.ok:
            wanted = ", ".join(sorted(outcome.expected_failing)) or "nothing"
            line += f"\n     expected to lose points in: {wanted}"
            if outcome.error:
                line += f"\n     {outcome.error.strip().splitlines()[-1]}"
        lines.append(line)
    return "\n".join(lines)


def measure_reference(root: Path, assignment_id: str) -> dict:
    """The reference solution autograded once in a scratch course, without limits from earlier measurements:
    {"cells": {cell id: seconds}, "notebook": seconds}, each cell's time in the grader (judged checks included,
    starting the reference kernel not)."""
    with tempfile.TemporaryDirectory(prefix="times-") as folder:
        record = Path(folder) / "times.json"
        extra = f"c.GuardedExecute.reference_times = ''\nc.GuardedExecute.record_times = {str(record)!r}"
        with scratch_course(root, assignment_id, extra) as (course, nb_api, source_nb, release_nb):
            reference = fill_submission(release_nb, reference_answers(source_nb))
            write_submission(course, assignment_id, REFERENCE, reference)
            error = grading.autograde(nb_api, assignment_id, [REFERENCE], progress=False)[REFERENCE]
            if error:
                raise grading.GradingError(f"the reference of {assignment_id} could not be graded: {error}")
        return json.loads(record.read_text())
