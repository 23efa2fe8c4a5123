"""The instructor's side of nbgrader, through its Python API: release, autograde, feedback, grades.

Everything here works on a course directory: a folder with ``nbgrader_config.py`` and ``source/``.
"""

import csv
import math
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from nbgrader.api import MissingEntry
from nbgrader.plugins import ExportPlugin, LateSubmissionPlugin
from traitlets import Bool, Float, TraitError, Unicode, validate
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

CONFIG_FILE = "nbgrader_config.py"


class GradingError(RuntimeError):
    """An nbgrader step failed; the message carries nbgrader's own log."""


@dataclass(frozen=True)
class CellScore:
    grade_id: str
    score: float
    max_score: float
    auto: bool  # graded by tests (True) or waiting for / given by a person (False)


def find_course_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) with nbgrader_config.py."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise GradingError(f"no {CONFIG_FILE} in {here} or above: run this inside the course folder")


def assignments(root: Path) -> list[str]:
    """Assignment ids: the folders of ``source/`` that hold a notebook named after the folder."""
    return sorted(p.name for p in (root / "source").iterdir() if (p / f"{p.name}.ipynb").is_file())


def load_config(root: Path) -> Config:
    """The course's nbgrader_config.py, rooted at ``root``."""
    config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    return config


def api(root: Path, db_url: str | None = None):
    """An ``NbGraderAPI`` for the course at ``root``; ``db_url`` puts its gradebook elsewhere."""
    from nbgrader.apps import NbGraderAPI
    from sqlalchemy.exc import SAWarning

    # nbgrader's gradebook code triggers SQLAlchemy autoflush warnings that say nothing about the grades
    warnings.filterwarnings("ignore", category=SAWarning)
    _put_venv_bin_on_path()
    config = load_config(root)
    if db_url:
        config.CourseDirectory.db_url = db_url
    return NbGraderAPI(config=config)


def _checked(result: dict, what: str) -> dict:
    if not result.get("success"):
        raise GradingError(f"{what} failed:\n{result.get('error', '')}\n{result.get('log', '')}")
    return result


def build_release(nbgrader_api, assignment_ids: Iterable[str]) -> None:
    """``nbgrader generate_assignment`` for each assignment: source/<a> -> release/<a>."""
    for assignment_id in assignment_ids:
        _checked(nbgrader_api.generate_assignment(assignment_id, force=True), f"generate_assignment {assignment_id}")


def submitted_students(root: Path, assignment_id: str) -> list[str]:
    submitted = root / "submitted"
    if not submitted.is_dir():
        return []
    return sorted(p.name for p in submitted.iterdir() if (p / assignment_id).is_dir())


def autograde(nbgrader_api, assignment_id: str, students: Iterable[str], progress: bool = True) -> dict:
    """Autograde each student's submission, with a progress bar; returns {student: error text or ""}."""
    from tqdm.auto import tqdm

    students = list(students)
    problems = {}
    for student in tqdm(students, desc=f"autograde {assignment_id}", unit="student", disable=not progress):
        result = nbgrader_api.autograde(assignment_id, student, force=True, create=True)
        problems[student] = "" if result.get("success") else (result.get("error") or result.get("log", ""))
    return problems


def generate_feedback(nbgrader_api, assignment_id: str, students: Iterable[str]) -> None:
    for student in students:
        _checked(nbgrader_api.generate_feedback(assignment_id, student, force=True),
                 f"generate_feedback {assignment_id} {student}")


def cell_scores(nbgrader_api, assignment_id: str) -> dict[str, dict[str, CellScore]]:
    """{student: {grade_id: CellScore}} for every autograded submission of the assignment."""
    scores: dict[str, dict[str, CellScore]] = {}
    with nbgrader_api.gradebook as gradebook:
        for submission in gradebook.assignment_submissions(assignment_id):
            cells = scores.setdefault(submission.student.id, {})
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    auto = grade.cell.cell_type == "code" and grade.auto_score is not None \
                        and not grade.needs_manual_grade
                    cells[grade.name] = CellScore(grade.name, float(grade.score or 0.0),
                                                  float(grade.max_score), auto)
    return scores


def export_grades(nbgrader_api, destination: Path, by_student: Path | None = None) -> Path:
    """Grades as two CSVs for an LMS (see :class:`GradesExport`): ``destination`` has one row per student and
    assignment, ``by_student`` (default: :func:`by_student_path`) one row per student. Returns ``destination``."""
    plugin = GradesExport(to=str(destination), by_student=str(by_student or ""))
    with nbgrader_api.gradebook as gradebook:
        plugin.export(gradebook)
    return destination


def by_student_path(destination: Path) -> Path:
    """Where the per-student CSV goes by default: grades.csv -> grades-by-student.csv."""
    return destination.with_name(f"{destination.stem}-by-student{destination.suffix}")


SUBMISSION_COLUMNS = ["assignment", "student_id", "last_name", "first_name", "email", "duedate", "timestamp",
                      "auto_points", "manual_points", "late_penalty", "total", "max_points", "awaiting_manual_grade"]


class GradesExport(ExportPlugin):
    """Grades for an LMS import, as two CSVs.

    ``to``: one row per assignment and student, the points given by tests (``auto_points``) apart from those
    given by a person (``manual_points``: manual grades, which override the tests where both exist, and extra
    credit), the late penalty, ``total`` = auto + manual - penalty (never below 0, as in nbgrader's own export),
    the assignment's maximum and how many cells still await a manual grade. A student without a submission
    gets 0 points. ``by_student``: one row per student, one column per assignment total and the overall total.

    Also usable as ``nbgrader export --exporter=dlcourse.grading.GradesExport --to grades.csv``.
    """

    by_student = Unicode("", help="per-student CSV (default: the --to file with -by-student)").tag(config=True)

    def export(self, gradebook) -> None:
        destination = Path(self.to or "grades.csv")
        rows = submission_rows(gradebook, self.assignment, self.student)
        _write_csv(destination, SUBMISSION_COLUMNS, rows)
        assignment_ids = list(dict.fromkeys(row["assignment"] for row in rows))
        students = {}
        for row in rows:
            student = students.setdefault(row["student_id"], {
                key: row[key] for key in ("student_id", "last_name", "first_name", "email")} | {"overall": 0.0})
            student[row["assignment"]] = row["total"]
            student["overall"] += row["total"]
        by_student = Path(self.by_student) if self.by_student else by_student_path(destination)
        columns = ["student_id", "last_name", "first_name", "email", *assignment_ids, "overall"]
        _write_csv(by_student, columns, list(students.values()))
        self.log.info("Exported grades to %s and %s", destination, by_student)


def submission_rows(gradebook, assignment_ids: Iterable[str] = (), student_ids: Iterable[str] = ()) -> list[dict]:
    """One row of :data:`SUBMISSION_COLUMNS` per assignment and student in the gradebook (all, unless named)."""
    wanted_assignments, wanted_students = set(map(str, assignment_ids)), set(map(str, student_ids))
    rows = []
    for assignment in gradebook.assignments:
        if wanted_assignments and assignment.name not in wanted_assignments:
            continue
        for student in gradebook.students:
            if wanted_students and student.id not in wanted_students:
                continue
            row = {"assignment": assignment.name, "student_id": student.id, "last_name": student.last_name,
                   "first_name": student.first_name, "email": student.email, "duedate": assignment.duedate,
                   "max_points": assignment.max_score}
            try:
                submission = gradebook.find_submission(assignment.name, student.id)
            except MissingEntry:
                row.update(timestamp=None, auto_points=0.0, manual_points=0.0, late_penalty=0.0, total=0.0,
                           awaiting_manual_grade=0)
            else:
                row.update(_points(submission), timestamp=submission.timestamp)
            rows.append(row)
    return rows


def _points(submission) -> dict:
    grades = [grade for notebook in submission.notebooks for grade in notebook.grades]
    # nbgrader's rule: a manual score, where given, replaces the automatic one; extra credit comes on top
    auto = sum(g.auto_score for g in grades if g.manual_score is None and g.auto_score is not None)
    manual = sum(g.manual_score for g in grades if g.manual_score is not None)
    manual += sum(g.extra_credit or 0.0 for g in grades)
    penalty = submission.late_submission_penalty or 0.0
    return {"auto_points": auto, "manual_points": manual, "late_penalty": penalty,
            "total": max(0.0, auto + manual - penalty),
            "awaiting_manual_grade": sum(1 for g in grades if g.needs_manual_grade and g.manual_score is None)}


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({key: _csv_value(row.get(key)) for key in columns} for row in rows)


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ")
    return str(value)


class LatePenalty(LateSubmissionPlugin):
    """A late notebook loses ``per_day`` of its score for every started day past the due date, at most all of it.

    nbgrader asks for the penalty while autograding a submission whose timestamp is later than the assignment's
    due date in the gradebook (plus the student's extension, if any) and stores it with the notebook. It is
    computed from the score at that moment: manual grades given afterwards do not change it.
    """

    per_day = Float(0.1, help="fraction of the notebook's score lost per started day late, 0 to 1").tag(config=True)

    @validate("per_day")
    def _a_fraction(self, proposal):
        if not 0 <= proposal.value <= 1:
            raise TraitError(f"LatePenalty.per_day must be a fraction between 0 and 1, got {proposal.value}")
        return proposal.value

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
        days = math.ceil(total_seconds_late / 86400)
        penalty = min(score, score * self.per_day * days)
        self.log.warning("%s is late by %d started day(s): penalty %g of %g points (%g per day)",
                         student_id, days, penalty, score, self.per_day)
        return penalty


def _put_venv_bin_on_path() -> None:
    """nbgrader's gradebook migrations run ``alembic`` from PATH: make it this environment's."""
    import sys

    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


class ShortenTestTracebacks(Preprocessor):
    """Feedback keeps each failed test's error type and message but drops its traceback.

    IPython tracebacks quote the lines around the failing assertion, which would show hidden test code
    to students; the assertion messages are written to say what is wrong without that.
    """

    enabled = Bool(True).tag(config=True)  # nbconvert preprocessors are off unless enabled

    def preprocess_cell(self, cell, resources, index):
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and nbgrader.get("grade") and not nbgrader.get("solution"):
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    message = _strip_ansi(f"{output.ename}: {output.evalue}")
                    output.traceback = [message]
        return cell, resources


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)
