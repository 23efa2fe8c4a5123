"""The instructor's main job end to end on assignment 1, in a scratch copy of the course."""

import csv
import shutil

import nbformat
import pytest
from conftest import ROOT

from dlcourse import cli, grading, mutation

A1 = "a1_gradient_descent"


@pytest.fixture(scope="module")
def demo_course(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / grading.CONFIG_FILE, course / grading.CONFIG_FILE)
    shutil.copytree(ROOT / "source" / A1, course / "source" / A1)
    return course


@pytest.fixture(scope="module")
def demo_output(demo_course):
    from contextlib import redirect_stdout
    from io import StringIO

    captured = StringIO()
    with redirect_stdout(captured):
        status = cli.main(["--course", str(demo_course), "demo"])
    return status, captured.getvalue()


@pytest.mark.notebook
def test_demo_releases_grades_and_prints_the_score_table(demo_course, demo_output):
    status, output = demo_output
    assert status == 0, output
    assert (demo_course / "release" / A1 / f"{A1}.ipynb").is_file()
    lines = {line.split()[0]: line for line in output.splitlines() if line.split()}
    total = sum(float(c.metadata.nbgrader["points"]) for c in nbformat.read(
        demo_course / "source" / A1 / f"{A1}.ipynb", 4).cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"))
    assert f"{total:g} / {total:g}" in lines["reference"]
    assert f"0 / {total:g}" in lines["untouched"]
    mistakes_score = float(lines["mistakes"].split()[1])
    assert 0 < mistakes_score < total


@pytest.mark.notebook
def test_demo_exports_grades_for_every_student(demo_course, demo_output):
    with open(demo_course / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["student_id"] for row in rows} == set(cli.DEMO_STUDENTS)
    assert all(row["assignment"] == A1 for row in rows)


@pytest.mark.notebook
def test_feedback_shows_results_but_not_hidden_tests(demo_course, demo_output):
    html = (demo_course / "feedback" / "mistakes" / A1 / f"{A1}.html").read_text()
    text = html_to_text(html)
    assert "AssertionError: f from (3, 2) with step_size 0.1: " in text, "the failure message should reach the student"
    assert "BEGIN HIDDEN TESTS" not in text
    assert "_reference_descent" not in text, "hidden reference code leaked into the feedback"
    assert "default_rng(977)" not in text, "hidden test seeds leaked into the feedback"
    assert "---->" not in text, "tracebacks quote the code around the failing line, hidden tests included"


def html_to_text(html: str) -> str:
    import html as html_module
    import re

    return html_module.unescape(re.sub(r"<[^>]+>", "", html))


@pytest.mark.notebook
def test_a_deleted_test_cell_is_restored_and_graded(demo_course, demo_output):
    source_nb = nbformat.read(demo_course / "source" / A1 / f"{A1}.ipynb", 4)
    release_nb = nbformat.read(demo_course / "release" / A1 / f"{A1}.ipynb", 4)
    submission = mutation.fill_submission(release_nb, mutation.reference_answers(source_nb))
    submission.cells = [c for c in submission.cells
                        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") != "test_momentum"]
    mutation.write_submission(demo_course, A1, "deleter", submission)
    nb_api = grading.api(demo_course)
    assert grading.autograde(nb_api, A1, ["deleter"], progress=False) == {"deleter": ""}
    momentum = grading.cell_scores(nb_api, A1)["deleter"]["test_momentum"]
    assert momentum.score == momentum.max_score > 0


@pytest.mark.notebook
def test_feedback_as_pdf_shows_the_message_and_no_hidden_tests(demo_course, demo_output):
    from pypdf import PdfReader

    assert cli.main(["--course", str(demo_course), "feedback", A1, "--pdf"]) == 0
    reader = PdfReader(demo_course / "feedback" / "mistakes" / A1 / f"{A1}.pdf")
    text = " ".join(page.extract_text() for page in reader.pages).replace("\n", " ")
    assert "f from (3, 2) with step_size 0.1:" in text, "the failure message should reach the student's PDF"
    assert "BEGIN HIDDEN TESTS" not in text and "_reference_descent" not in text, "hidden test code in the PDF"
