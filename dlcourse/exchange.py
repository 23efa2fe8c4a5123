"""An assignment's whole trip through nbgrader's exchange, with simulated students: release, fetch, submit,
collect, autograde, feedback, fetch feedback.

Every simulated student has a home folder of their own (CourseDirectory root, fetched assignments, exchange
cache) and submits under an explicit student id, which is what ``nbgrader submit --student=ID`` does: nbgrader
takes the user name from the operating system otherwise (``nbgrader.utils.get_username``), and here every
student runs under the same account.
"""

import shutil
import time
from collections.abc import Collection
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import nbformat
from traitlets.config import Config

from dlcourse import grading, mutation


@dataclass
class RoundTrip:
    """What a round trip left behind: the instructor's course and API, each phase's seconds, each student's
    fetched feedback files and grading problems ({student: error text or ""})."""

    course: Path
    api: object
    seconds: dict[str, float] = field(default_factory=dict)
    feedback: dict[str, list[Path]] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


def make_course(source_root: Path, course: Path, assignment_id: str, exchange: Path) -> Path:
    """An instructor's course at ``course``: the config and source of ``assignment_id`` from ``source_root``,
    with its exchange directory at ``exchange``."""
    course.mkdir(parents=True, exist_ok=True)
    config = (source_root / grading.CONFIG_FILE).read_text()
    # An instructor sets Exchange.root in nbgrader_config.py; ownership checks make no sense when every
    # simulated student is the same operating-system user.
    config += f"\nc.Exchange.root = {str(exchange)!r}\nc.ExchangeCollect.check_owner = False\n"
    (course / grading.CONFIG_FILE).write_text(config)
    shutil.copytree(source_root / "source" / assignment_id, course / "source" / assignment_id)
    return course


def student_config(home: Path, course_id: str, exchange: Path) -> Config:
    """A student's own nbgrader configuration: their home folder and the course's exchange."""
    config = Config()
    config.CourseDirectory.root = str(home)
    config.CourseDirectory.course_id = course_id
    config.Exchange.root = str(exchange)
    config.Exchange.assignment_dir = str(home)
    config.Exchange.cache = str(home / ".nbgrader_cache")  # the default is shared by all users of this account
    return config


def exchange_step(step: str, config: Config, assignment_id: str, student: str = "*") -> None:
    """One of nbgrader's exchange steps, named by its class in ``nbgrader.exchange.ExchangeFactory``
    ("FetchAssignment", "Submit", "FetchFeedback" for a student; "ReleaseFeedback" for the instructor)."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeFactory
    from nbgrader.utils import capture_log

    coursedir = CourseDirectory(config=config, assignment_id=assignment_id, student_id=student)
    exchange_class = getattr(ExchangeFactory(config=config), step)
    app = exchange_class(coursedir=coursedir, authenticator=Authenticator(config=config), config=config)
    grading._checked(capture_log(app), f"{step} {assignment_id}" + ("" if student == "*" else f" as {student}"))


def round_trip(source_root: Path, workdir: Path, assignment_id: str, answers: dict[str, dict[str, str] | None],
               late: Collection[str] = (), progress: bool = True) -> RoundTrip:
    """Release ``assignment_id`` through an exchange in ``workdir``, let each student of ``answers`` fetch it,
    fill in the answer cells given ({grade_id: text}; None hands in the release untouched) and submit, then
    collect, autograde, generate and release feedback, and let each student fetch it.

    The students in ``late`` submit last: the assignment's due date is set in the gradebook just before, so
    they are late by a fraction of a second (one started day for the late penalty).
    """
    exchange = workdir / "exchange"
    course = make_course(source_root, workdir / "course", assignment_id, exchange)
    trip = RoundTrip(course, grading.api(course))
    course_id = trip.api.coursedir.course_id
    homes = {student: student_config(workdir / "home" / student, course_id, exchange) for student in answers}
    on_time = [s for s in answers if s not in late]

    with _timed(trip, "release"):
        grading.build_release(trip.api, [assignment_id])
        grading._checked(trip.api.release_assignment(assignment_id), f"release_assignment {assignment_id}")
    with _timed(trip, "fetch"):
        for student, config in homes.items():
            exchange_step("FetchAssignment", config, assignment_id, student)
    with _timed(trip, "submit"):
        for student in on_time:
            _fill_and_submit(homes[student], assignment_id, student, answers[student])
        if late:
            with trip.api.gradebook as gradebook:
                gradebook.update_or_create_assignment(assignment_id, duedate=datetime.now(UTC))
        for student in late:
            _fill_and_submit(homes[student], assignment_id, student, answers[student])
    with _timed(trip, "collect"):
        grading._checked(trip.api.collect(assignment_id), f"collect {assignment_id}")
    with _timed(trip, "autograde"):
        trip.problems = grading.autograde(trip.api, assignment_id, list(answers), progress=progress)
    with _timed(trip, "feedback"):
        graded = [student for student, problem in trip.problems.items() if not problem]
        grading.generate_feedback(trip.api, assignment_id, graded)
        # not NbGraderAPI.release_feedback: nbgrader 0.9.6 misspells its authenticator argument (a warning)
        exchange_step("ReleaseFeedback", trip.api.config, assignment_id)
    with _timed(trip, "fetch_feedback"):
        for student, config in homes.items():
            exchange_step("FetchFeedback", config, assignment_id, student)
            home = Path(config.CourseDirectory.root)
            trip.feedback[student] = sorted(home.glob(f"{assignment_id}/feedback/*/*.html"))
    return trip


def _fill_and_submit(config: Config, assignment_id: str, student: str, answers: dict[str, str] | None) -> None:
    if answers is not None:
        path = Path(config.CourseDirectory.root) / assignment_id / f"{assignment_id}.ipynb"
        nbformat.write(mutation.fill_submission(nbformat.read(path, as_version=4), answers), path)
    exchange_step("Submit", config, assignment_id, student)


@contextmanager
def _timed(trip: RoundTrip, phase: str):
    start = time.perf_counter()
    yield
    trip.seconds[phase] = time.perf_counter() - start
