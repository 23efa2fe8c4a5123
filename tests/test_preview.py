"""``dlcourse check``: a student's notebook run as the grader will, and what will differ from their own run."""

import json

import nbconvert
import nbformat
import pytest
from conftest import ASSIGNMENTS, ROOT, release_notebook, source_notebook
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from dlcourse import cli, mutation, preview
from dlcourse.preprocessors import REFERENCE_TIMES, GuardedExecute


def _test_cell(source: str, grade_id: str):
    meta = {"grade": True, "solution": False, "locked": True, "points": 1, "grade_id": grade_id, "schema_version": 3}
    return new_code_cell(source, metadata={"nbgrader": meta})


@pytest.fixture
def own_run(tmp_path):
    """A notebook the student ran (outputs saved) whose cells behave differently when graded."""
    notebook = new_notebook(cells=[
        new_code_cell("import time\nfrom dlcourse.runtime import scaled\nEPOCHS = scaled(30, 10)"),
        _test_cell("assert EPOCHS >= 20, f'only {EPOCHS} epochs: too few to reach the accuracy'", "test_epochs"),
        new_code_cell("time.sleep(scaled(0, 30))"),
        new_code_cell("print('x' * 250_000)"),
        _test_cell("print('fine')\n### BEGIN HIDDEN TESTS\nraise AssertionError('hidden')\n### END HIDDEN TESTS",
                   "test_fine"),
    ])
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(notebook, timeout=60, allow_errors=True).execute()  # the hidden part fails in the own run
    path = tmp_path / "homework.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.mark.notebook
def test_check_lists_what_fails_only_when_graded_runs_too_long_or_is_cut(own_run):
    config = Config()
    config.Execute.timeout = 3
    config.GuardedExecute.notebook_timeout = 60
    report = preview.preview(own_run, config)
    found = {cell.index: " ".join(cell.findings) for cell in report.findings}
    assert set(found) == {2, 3, 4}, report.text()
    assert "fails only when graded: AssertionError: only 10 epochs" in found[2]
    assert "CellTimeoutError: stopped after 3 s" in found[3]
    assert "will be cut at the grader's limit (50001 characters over)" in found[4]
    assert [cell.passed for cell in report.cells if cell.test] == [False, True]  # hidden tests are not run
    assert "3 cell(s) will differ from your own run" in report.text()
    assert "fails only when graded" in report.html() and "<script" not in report.html()


@pytest.mark.notebook
def test_check_command_and_the_notebook_budget(own_run, tmp_path, capsys):
    (tmp_path / "nbgrader_config.py").write_text("c.Execute.timeout = 60\nc.GuardedExecute.notebook_timeout = 8\n")
    assert cli.main(["check", str(own_run)]) == 1  # the course's limits, read from the folder's config
    out = capsys.readouterr().out
    assert "60 s per cell, 8 s per notebook" in out
    assert "cell 3: CellTimeoutError: stopped: the notebook's time budget of 8 s ran out" in out
    assert "cell 4: CellNotRun: not run" in out


@pytest.mark.notebook
def test_check_applies_the_limits_from_the_reference_times_released_beside_the_notebook(own_run, tmp_path, capsys):
    (tmp_path / "nbgrader_config.py").write_text("c.Execute.timeout = 60\nc.GuardedExecute.cell_timeout_floor = 2\n"
                                                 "c.GuardedExecute.cell_timeout_factor = 10\n")
    cells = [cell.id for cell in nbformat.read(own_run, as_version=4).cells]
    (tmp_path / REFERENCE_TIMES).write_text(json.dumps({"cells": dict.fromkeys(cells, 0.1), "notebook": 0.5}))
    assert cli.main(["check", str(own_run)]) == 1
    out = capsys.readouterr().out
    assert "each cell 10x the reference solution's time (at least 2 s, at most 60 s)" in out
    assert "cell 3: CellTimeoutError: stopped after 2 s" in out


@pytest.mark.notebook
def test_check_on_the_a3_settings_that_meet_the_task_only_in_the_students_run(tmp_path):
    """lr 0.05 with batches of 32 reaches 0.95 in the task's 30 epochs but not in grading mode's 10: the grader
    judges the task's 30 epochs, so the check must not warn and the self-check must pass when graded."""
    assignment = "a3_networks_from_primitives"
    trap = next(v for v in mutation.load_variants(ROOT, assignment) if "0.05" in str(v.replace))
    answers = mutation.reference_answers(source_notebook(assignment))
    answers[trap.cell] = mutation.apply_variant(trap, answers)
    path = tmp_path / f"{assignment}.ipynb"
    nbformat.write(mutation.fill_submission(release_notebook(assignment), answers), path)
    report = preview.preview(path, preview.course_config(ROOT))
    assert not report.findings, report.text()
    settings = next(cell for cell in report.cells if cell.grade_id == "test_trained_network")
    assert settings.passed


@pytest.mark.parametrize("assignment_id", ASSIGNMENTS)
def test_every_header_states_the_graders_limits_and_the_check(assignment_id):
    grader = GuardedExecute(config=preview.course_config(ROOT))
    header = source_notebook(assignment_id).cells[0].source.replace("\n", " ")
    assert (f"each cell given at most {grader.cell_timeout_factor:g} times what it takes in the reference solution "
            f"(at least {grader.cell_timeout_floor:g} s) and the whole notebook {grader.notebook_timeout_factor:g} "
            f"times the reference's total (at least {grader.notebook_timeout_floor:g} s)") in header
    assert f"{grader.max_output_chars:,} characters of text output per cell" in header
    assert "Grading_check" in header and "dlcourse check NOTEBOOK.ipynb" in header


@pytest.mark.notebook
def test_jupyterlab_export_gives_the_report_as_a_page(tmp_path):
    code = "from dlcourse.runtime import grading_mode\nassert not grading_mode(), "
    notebook = new_notebook(cells=[new_code_cell(code + "'this cell only works outside grading'")])
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    exporter = nbconvert.exporters.get_exporter("grading_check")()
    page, _ = exporter.from_notebook_node(notebook, {"metadata": {"path": str(tmp_path), "name": "homework"}})
    assert "Grading check: homework.ipynb" in page and "this cell only works outside grading" in page
    assert list(tmp_path.iterdir()) == []  # the copy it ran is gone
