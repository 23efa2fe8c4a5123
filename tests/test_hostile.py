"""Grading survives hostile and broken submissions (tests/hostile_corpus.py), each graded through nbgrader's
Python API in one scratch course with the course's own pipeline (dlcourse/sandbox.py) and short limits."""

import nbformat
import pytest
from hostile_corpus import (
    ASSIGNMENT,
    CASES,
    REFERENCE_FIRST,
    REFERENCE_LAST,
    course_checksums,
    feedback_problems,
    gradebook_problems,
    judge,
    loopback_listener,
    make_course,
    reached,
    write_submissions,
)

from dlcourse import grading


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The whole corpus graded once, then its feedback generated:
    (course folder, {student: {grade_id: CellScore}}, {student: error}, {student: feedback error},
    checksums of the course files before and after)."""
    course = tmp_path_factory.mktemp("hostile-course")
    nb_api = make_course(course)
    listener = loopback_listener()
    try:
        students = write_submissions(course, listener.getsockname()[1])
        before = course_checksums(course)
        errors = {student: _autograde(nb_api, student) for student in students}
        assert not reached(listener), "a grading kernel connected to a port on this machine's loopback"
    finally:
        listener.close()
    feedback = grading.generate_feedback(nb_api, ASSIGNMENT, [s for s in students if not errors[s]])
    return course, grading.cell_scores(nb_api, ASSIGNMENT), errors, feedback, (before, course_checksums(course))


def _autograde(nb_api, student: str) -> str:
    """nbgrader's error and log for a submission it could not grade, else ""."""
    result = nb_api.autograde(ASSIGNMENT, student, force=True, create=True)
    return "" if result["success"] else f"{result.get('error', '')}\n{result.get('log', '')}"


@pytest.mark.notebook
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_submission_is_graded_as_intended(graded, case):
    course, scores, errors, _, _ = graded
    problems = judge(course, case, scores.get(case.name, {}), errors[case.name])
    assert not problems, f"{case.description}:\n" + "\n".join(problems)


@pytest.mark.notebook
@pytest.mark.parametrize("case", [c for c in CASES if not c.error], ids=[c.name for c in CASES if not c.error])
def test_feedback_carries_nothing_but_the_students_own_work(graded, case):
    course, scores, errors, feedback, _ = graded
    assert feedback[case.name] == "", f"no feedback for {case.name}: {feedback[case.name][-500:]}"
    submitted = nbformat.read(course / "submitted" / case.name / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    own = "\n".join(cell.source for cell in submitted.cells)
    problems = feedback_problems(course, case.name, list(errors), own)
    assert not problems, f"{case.description}:\n" + "\n".join(problems)


@pytest.mark.notebook
def test_course_files_are_unchanged(graded):
    *_, (before, after) = graded
    assert before == after


@pytest.mark.notebook
@pytest.mark.parametrize("student", [REFERENCE_FIRST, REFERENCE_LAST])
def test_reference_students_in_the_same_course_keep_full_marks(graded, student):
    _, scores, errors, _, _ = graded
    assert errors[student] == ""
    auto = [s for s in scores[student].values() if s.auto]
    assert auto and all(s.score == s.max_score for s in auto), {s.grade_id: s.score for s in auto}


@pytest.mark.notebook
def test_gradebook_stays_readable_without_duplicated_rows(graded):
    course, scores, *_ = graded
    assert not gradebook_problems(course)
    graded_students = {case.name for case in CASES if not case.error} | {REFERENCE_FIRST, REFERENCE_LAST}
    assert graded_students <= set(scores), f"no grades for {sorted(graded_students - set(scores))}"


def test_protections_the_sandbox_cannot_set_up_are_named_once(caplog, tmp_path):
    import logging
    import sys

    from dlcourse.sandbox import SandboxedKernelManager

    manager = SandboxedKernelManager(memory_mb=1)  # a key of its own in the once-per-process record
    unprivileged = [sys.executable, "-c", "import sys; print('sandbox: not enforced: no network isolation "
                    "(unshare: Operation not permitted)', file=sys.stderr)"]
    try:
        with caplog.at_level(logging.WARNING):
            manager._warn_once(unprivileged)
            manager._warn_once(unprivileged)
    finally:
        SandboxedKernelManager._probed.pop(manager._probe_key(), None)
    warnings = [r.getMessage() for r in caplog.records if "not enforced" in r.getMessage()]
    assert warnings == ["grading kernels run with less protection: sandbox: not enforced: no network isolation "
                        "(unshare: Operation not permitted)"]
