"""Assignment 1 through nbgrader's exchange with five simulated students, the late penalty and the LMS export."""

import csv
import html
import re

import pytest
from conftest import ROOT, source_notebook
from traitlets import TraitError

from dlcourse import cli, exchange, grading, mutation, plugins

A1 = "a1_gradient_descent"
ON_TIME_REFERENCE, LATE_REFERENCE, BUGGY, UNTOUCHED, ALSO_REFERENCE = "ada", "ben", "cho", "dev", "eve"


def _grade_cells(cell_type: str) -> dict[str, float]:
    """{grade_id: points} of the source notebook's graded cells of one type (tests: code, written: markdown)."""
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"])
            for c in source_notebook(A1).cells
            if c.cell_type == cell_type and c.get("metadata", {}).get("nbgrader", {}).get("grade")}


TEST_POINTS, WRITTEN_POINTS = _grade_cells("code"), _grade_cells("markdown")
AUTO_MAX = sum(TEST_POINTS.values())
BUG = next(v for v in mutation.load_variants(ROOT, A1) if v.is_bug and len(v.fails) == 1)


@pytest.fixture(scope="module")
def trip(tmp_path_factory):
    answers = mutation.reference_answers(source_notebook(A1))
    students = {
        ON_TIME_REFERENCE: answers,
        LATE_REFERENCE: answers,
        BUGGY: dict(answers, **{BUG.cell: mutation.apply_variant(BUG, answers)}),
        UNTOUCHED: None,
        ALSO_REFERENCE: answers,
    }
    return exchange.round_trip(ROOT, tmp_path_factory.mktemp("exchange"), A1, students, late=[LATE_REFERENCE],
                               progress=False)


def _expected_auto(student: str) -> float:
    if student == UNTOUCHED:
        return 0.0
    return AUTO_MAX - (sum(TEST_POINTS[cell] for cell in BUG.fails) if student == BUGGY else 0.0)


def _submissions(trip) -> dict[str, dict]:
    """{student: submission facts} straight from the gradebook."""
    with trip.api.gradebook as gradebook:
        return {s.student.id: {"score": s.score, "max": s.max_score, "penalty": s.late_submission_penalty,
                               "seconds_late": s.total_seconds_late}
                for s in gradebook.find_assignment(A1).submissions}


@pytest.mark.notebook
def test_every_submission_goes_through_the_exchange_and_scores_as_expected(trip):
    assert trip.problems == dict.fromkeys(trip.problems, "")
    assert set(trip.problems) == {ON_TIME_REFERENCE, LATE_REFERENCE, BUGGY, UNTOUCHED, ALSO_REFERENCE}
    for student, cells in grading.cell_scores(trip.api, A1).items():
        auto = sum(c.score for c in cells.values() if c.auto)
        assert auto == _expected_auto(student), f"{student}: {auto} autograded points"
    lost = {gid for gid, c in grading.cell_scores(trip.api, A1)[BUGGY].items() if c.auto and c.score < c.max_score}
    assert lost == set(BUG.fails), f"bug {BUG.name!r}"


@pytest.mark.notebook
def test_only_the_late_submission_is_penalized_by_the_configured_policy(trip):
    per_day = grading.load_config(trip.course).LatePenalty.per_day
    assert per_day > 0
    submissions = _submissions(trip)
    late = submissions.pop(LATE_REFERENCE)
    assert 0 < late["seconds_late"] < 86400  # one started day
    assert late["penalty"] == pytest.approx(per_day * AUTO_MAX)
    for student, submission in submissions.items():
        assert submission["seconds_late"] == 0 and submission["penalty"] == 0, student


@pytest.mark.notebook
def test_every_student_fetches_their_own_feedback_without_hidden_tests(trip):
    hidden = _hidden_test_lines()
    assert hidden, "the source notebook should have hidden tests to leave out"
    submissions = _submissions(trip)
    for student, files in trip.feedback.items():
        assert [f.name for f in files] == [f"{A1}.html"], f"{student} fetched {files}"
        text = _html_text(files[0].read_text())
        # feedback is generated before any manual grading: its score is the autograded one less the penalty
        total = _expected_auto(student) - submissions[student]["penalty"]
        assert f"{A1} (Score: {round(total, 2)} / {round(submissions[student]['max'], 2)})" in text, student
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"hidden test code in {student}'s feedback: {leaked[:3]}"


def _hidden_test_lines() -> list[str]:
    """Lines of hidden test code that appear nowhere else in the source or released notebook."""
    code = "\n".join(c.source for c in source_notebook(A1).cells if c.cell_type == "code")
    hidden = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
    elsewhere = hidden.sub("", code) + (ROOT / "release" / A1 / f"{A1}.ipynb").read_text()
    lines = {line.strip() for block in hidden.findall(code) for line in block.splitlines()}
    return sorted(line for line in lines if len(line) > 15 and line not in elsewhere)


def _html_text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.fixture(scope="module")
def manual_grade(trip):
    """A grader gives ON_TIME_REFERENCE 2 of the points of the first written answer."""
    written_cell = next(iter(WRITTEN_POINTS))
    with trip.api.gradebook as gradebook:
        grade = gradebook.find_grade(written_cell, A1, A1, ON_TIME_REFERENCE)
        grade.manual_score = 2.0
        grade.needs_manual_grade = False
        gradebook.db.commit()
    return 2.0


@pytest.fixture(scope="module")
def exported(trip, manual_grade):
    from contextlib import redirect_stdout
    from io import StringIO

    output = StringIO()
    with redirect_stdout(output):
        status = cli.main(["--course", str(trip.course), "export", "--to", "lms.csv"])
    assert status == 0
    by_submission = _read_csv(trip.course / "lms.csv")
    by_student = _read_csv(trip.course / "lms-by-student.csv")
    return output.getvalue(), by_submission, by_student


def _read_csv(path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.notebook
def test_the_export_separates_automatic_manual_and_late_points(trip, manual_grade, exported):
    output, rows, _ = exported
    assert "lms.csv" in output and "lms-by-student.csv" in output
    assert list(rows[0]) == plugins.SUBMISSION_COLUMNS
    per_day = grading.load_config(trip.course).LatePenalty.per_day
    row = {r["student_id"]: {k: v for k, v in r.items() if k in ("auto_points", "manual_points", "late_penalty",
                                                                   "total", "max_points", "awaiting_manual_grade")}
           for r in rows}
    full = AUTO_MAX + sum(WRITTEN_POINTS.values())
    written_cells = len(WRITTEN_POINTS)

    def expected(auto, manual=0.0, penalty=0.0, awaiting=written_cells):
        return {"auto_points": f"{auto:g}", "manual_points": f"{manual:g}", "late_penalty": f"{penalty:g}",
                "total": f"{auto + manual - penalty:g}", "max_points": f"{full:g}",
                "awaiting_manual_grade": str(awaiting)}

    assert row[ON_TIME_REFERENCE] == expected(AUTO_MAX, manual_grade, awaiting=written_cells - 1)
    assert row[LATE_REFERENCE] == expected(AUTO_MAX, penalty=per_day * AUTO_MAX)
    assert row[BUGGY] == expected(_expected_auto(BUGGY))
    # nbgrader scores unchanged answer cells 0 itself: nothing of the untouched release awaits a grader
    assert row[UNTOUCHED] == expected(0.0, awaiting=0)
    assert all(r["assignment"] == A1 and r["timestamp"] for r in rows)


@pytest.mark.notebook
def test_the_per_student_export_has_one_row_per_student_for_an_lms(trip, exported):
    _, rows, by_student = exported
    assert list(by_student[0]) == ["student_id", "last_name", "first_name", "email", A1, "overall"]
    assert sorted(r["student_id"] for r in by_student) == sorted(trip.problems)
    totals = {r["student_id"]: r["total"] for r in rows}
    for student in by_student:
        assert student[A1] == totals[student["student_id"]] == student["overall"]


def test_late_penalty_grows_per_started_day_up_to_the_score():
    plugin = plugins.LatePenalty(per_day=0.25)
    day = 86400
    penalties = [plugin.late_submission_penalty("s", 8.0, late) for late in (1, day, day + 1, 3 * day, 30 * day)]
    assert penalties == [2.0, 2.0, 4.0, 6.0, 8.0]
    assert plugin.late_submission_penalty("s", 0.0, day) == 0.0


def test_late_penalty_rate_must_be_a_fraction():
    with pytest.raises(TraitError, match="between 0 and 1"):
        plugins.LatePenalty(per_day=1.5)


def test_the_course_config_applies_the_late_penalty():
    from nbgrader.preprocessors import AssignLatePenalties

    preprocessor = AssignLatePenalties(config=grading.load_config(ROOT))
    assert preprocessor.plugin_class is plugins.LatePenalty
    preprocessor.init_plugin()
    assert 0 < preprocessor.plugin_inst.per_day < 1
