"""The instructor's side of nbgrader, through its Python API: release, autograde, feedback, grades.

Everything here works on a course directory: a folder with ``nbgrader_config.py`` and ``source/``.
"""

import logging
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

CONFIG_FILE = "nbgrader_config.py"
log = logging.getLogger(__name__)


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


def generate_feedback(nbgrader_api, assignment_id: str, students: Iterable[str]) -> dict[str, str]:
    """Feedback pages for each student, one at a time; returns {student: error text or ""}.

    A student whose feedback fails does not stop the others. Each student's feedback folder keeps only its
    HTML pages: files nbgrader copied beside them from the autograded folder are removed and named. The
    timestamp and the secret that ``nbgrader release_feedback`` reads come from the student's ``submitted/``
    folder, never from what was graded.
    """
    from dlcourse.sandbox import read_regular

    root = Path(nbgrader_api.coursedir.root)
    problems = {}
    for student in students:
        result = nbgrader_api.generate_feedback(assignment_id, student, force=True)
        problems[student] = "" if result.get("success") else (result.get("error") or result.get("log", ""))
        folder = root / "feedback" / student / assignment_id
        for removed in keep_only(folder, (".html",)):
            if removed not in RELEASE_FILES:
                log.warning("feedback of %s: removed %s (only the feedback pages are given back)", student, removed)
        submitted = root / "submitted" / student / assignment_id
        for name in RELEASE_FILES:
            if folder.is_dir() and (submitted / name).is_file() and not (submitted / name).is_symlink():
                (folder / name).write_bytes(read_regular(submitted / name)[:4096])
    return problems


# What nbgrader's release_feedback reads beside each feedback page (nbgrader submit writes both).
RELEASE_FILES = ("timestamp.txt", "submission_secret.txt")


def keep_only(folder: Path, suffixes: tuple[str, ...]) -> list[str]:
    """Remove from ``folder`` everything but regular files with these suffixes; returns what was removed.

    Links are removed as links, never followed.
    """
    removed = []
    if folder.is_symlink() or not folder.is_dir():
        return removed
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_symlink() or (path.is_file() and path.suffix not in suffixes) or \
                not (path.is_file() or path.is_dir()):
            path.unlink()
            removed.append(str(path.relative_to(folder)))
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return removed


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
    """Grades as two CSVs for an LMS (see :class:`dlcourse.plugins.GradesExport`): ``destination`` has one row
    per student and assignment, ``by_student`` (default: grades-by-student.csv beside it) one row per student.
    Returns ``destination``."""
    from dlcourse.plugins import GradesExport

    plugin = GradesExport(to=str(destination), by_student=str(by_student or ""))
    with nbgrader_api.gradebook as gradebook:
        plugin.export(gradebook)
    return destination





def _put_venv_bin_on_path() -> None:
    """nbgrader's gradebook migrations run ``alembic`` from PATH: make it this environment's."""
    import sys

    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
