"""nbgrader plugins of the course: the grades export for an LMS and the late-submission penalty.

Configured in nbgrader_config.py (``c.AssignLatePenalties.plugin_class``) or named on the command line
(``nbgrader export --exporter=dlcourse.plugins.GradesExport``).
"""

import csv
import logging
import math
from collections.abc import Iterable
from pathlib import Path

from nbgrader.api import MissingEntry
from nbgrader.plugins import ExportPlugin, LateSubmissionPlugin
from traitlets import Float, TraitError, Unicode, validate


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

    Also usable as ``nbgrader export --exporter=dlcourse.plugins.GradesExport --to grades.csv``.
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


def drop_unsafe_submission_files(assignment: str, student: str, notebooks: list[str]) -> None:
    """``Autograde.pre_convert_hook``: a collected submission holds only regular files before nbgrader copies it.

    nbgrader copies ``submitted/`` with ``shutil.copy``, which follows links, and then changes the copies'
    modes: a link planted in the exchange would bring the target's content (the gradebook, a classmate's
    work) into the autograded and feedback folders. Links, fifos, sockets, devices and hard links are not
    a student's work: they are removed (as links, never followed) and named in the log.
    """
    from dlcourse.sandbox import HARD_LINK, NOT_REGULAR, staged_files

    if not notebooks:
        return
    folder = Path(notebooks[0]).parent
    for relative, reason in staged_files(folder, max_bytes=2**63, notebooks=True)[1]:
        if reason in (NOT_REGULAR, HARD_LINK):
            (folder / relative).unlink()
            logging.getLogger("nbgrader").warning("%s/%s: removed %s from the submission (%s)", student, assignment,
                                                  relative, reason)
