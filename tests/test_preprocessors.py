"""The nbgrader preprocessors and helpers that treat a graded notebook as hostile data, one by one (the hostile
corpus tests them end to end)."""

import json
import os

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from traitlets.config import Config

from dlcourse import grading, plugins, preprocessors, sandbox


def _test_cell(source="assert add(1, 2) == 3", outputs=()):
    cell = new_code_cell(source, metadata={"nbgrader": {"grade": True, "solution": False, "locked": True,
                                                        "grade_id": "test_add", "points": 1}})
    cell.outputs = list(outputs)
    return cell


def _answer_cell(source, outputs=()):
    cell = new_code_cell(source, metadata={"nbgrader": {"grade": False, "solution": True, "locked": False,
                                                        "grade_id": "add"}})
    cell.outputs = list(outputs)
    return cell


def test_clean_html_keeps_formatting_and_nothing_live():
    cleaned = preprocessors.clean_html(
        "<h1>Title</h1><table><tr><td>1</td></tr></table><img src='data:image/png;base64,AAAA'>"
        "<script>alert(1)</script><img src=x onerror=alert(2)><img src='https://example.com/x.png'>"
        "<a href='javascript:alert(3)' onclick='alert(4)'>link</a><iframe src='https://example.com'></iframe>"
        "<p style='background:url(https://example.com)'>text</p>")
    assert "<h1>Title</h1>" in cleaned and "<td>1</td>" in cleaned and 'src="data:image/png;base64,AAAA"' in cleaned
    for live in ("<script", "onerror", "onclick", 'src="https://', 'href="javascript:', "<iframe", "style="):
        assert live not in cleaned, live
    assert "&lt;script&gt;" in cleaned  # shown as text, not dropped silently


def test_sanitize_outputs_drops_active_types_and_cleans_student_markdown_only():
    display = new_output("display_data", data={
        "text/html": "<b>ok</b><script>alert(1)</script>", "application/javascript": "alert(2)",
        "image/svg+xml": "<svg><script>alert(3)</script></svg>", "image/png": "AAAA", "text/plain": "<HTML>"})
    code = _answer_cell("display(x)", [display])
    student_md = new_markdown_cell("My answer <img src=x onerror=alert(1)>",
                                   metadata={"nbgrader": {"solution": True, "locked": False}})
    instructor_md = new_markdown_cell("If $a < b$ then <b>this</b>", metadata={"nbgrader": {"locked": True}})
    sanitize = preprocessors.SanitizeOutputs()
    for index, cell in enumerate((code, student_md, instructor_md)):
        sanitize.preprocess_cell(cell, {}, index)
    data = code.outputs[0]["data"]
    assert set(data) == {"text/html", "image/png", "text/plain"}
    assert "<script" not in data["text/html"] and "<b>ok</b>" in data["text/html"]
    assert "onerror" not in student_md.source
    assert instructor_md.source == "If $a < b$ then <b>this</b>"


def test_failed_test_messages_are_one_bounded_line():
    long = "conv gave up " + "z" * 5000 + "\nsecond line with a secret"
    cell = _test_cell(outputs=[new_output("error", ename="RuntimeError", evalue=long, traceback=["..."])])
    preprocessors.ShortenTestTracebacks().preprocess_cell(cell, {}, 0)
    error = cell.outputs[0]
    assert error.evalue.startswith("conv gave up zzz") and error.evalue.endswith(" [message cut]")
    assert len(error.evalue) <= 300 + len(" [message cut]") and "secret" not in error.evalue
    assert error.traceback == [f"RuntimeError: {error.evalue}"]


def test_hidden_tests_are_cleared_in_test_cells_and_a_stray_marker_in_an_answer_is_left_alone():
    test = _test_cell("visible()\n### BEGIN HIDDEN TESTS\nhidden()\n### END HIDDEN TESTS")
    answer = _answer_cell("# ### BEGIN HIDDEN TESTS\ndef add(a, b):\n    return a + b")
    clear = preprocessors.ClearHiddenTestsOfTestCells()
    clear.preprocess_cell(test, {}, 0)
    clear.preprocess_cell(answer, {}, 1)
    assert test.source == "visible()"
    assert answer.source.startswith("# ### BEGIN HIDDEN TESTS")


def test_a_displayed_value_in_a_test_cell_is_text_not_a_grade():
    result = new_output("execute_result", data={"text/plain": "1.0"}, execution_count=1)
    error = new_output("error", ename="AssertionError", evalue="add is wrong", traceback=[])
    test = _test_cell(outputs=[result, error])
    answer = _answer_cell("1.0", [new_output("execute_result", data={"text/plain": "1.0"}, execution_count=2)])
    results = preprocessors.TestResultsAreNotGrades()
    results.preprocess_cell(test, {}, 0)
    results.preprocess_cell(answer, {}, 1)
    assert [o.output_type for o in test.outputs] == ["stream", "error"] and test.outputs[0].text == "1.0\n"
    assert answer.outputs[0].output_type == "execute_result"


def test_staged_files_leave_out_what_is_not_a_plain_file(tmp_path):
    (tmp_path / "data.csv").write_text("1,2\n")
    (tmp_path / "hostile.ipynb").write_text("{}")
    (tmp_path / "link.html").symlink_to("/etc/passwd")
    os.mkfifo(tmp_path / "pipe")
    kept, dropped = sandbox.staged_files(tmp_path, 2**20)
    assert kept == [tmp_path.joinpath("data.csv").relative_to(tmp_path)]
    assert {str(path): reason for path, reason in dropped} == {"link.html": sandbox.NOT_REGULAR,
                                                               "pipe": sandbox.NOT_REGULAR}


def test_feedback_folders_keep_only_their_pages_and_links_are_removed_not_followed(tmp_path):
    outside = tmp_path / "gradebook.db"
    outside.write_text("grades")
    folder = tmp_path / "feedback" / "alice" / "a1"
    folder.mkdir(parents=True)
    (folder / "a1.html").write_text("<html></html>")
    (folder / "notes.txt").write_text("student file")
    (folder / "leak.html").symlink_to(outside)
    removed = grading.keep_only(folder, (".html",))
    assert sorted(removed) == ["leak.html", "notes.txt"]
    assert [p.name for p in folder.iterdir()] == ["a1.html"] and outside.read_text() == "grades"


def test_unsafe_files_are_removed_from_a_collected_submission(tmp_path):
    folder = tmp_path / "submitted" / "alice" / "a1"
    folder.mkdir(parents=True)
    notebook = folder / "a1.ipynb"
    notebook.write_text("{}")
    (folder / ".hidden").write_text("kept")  # hidden, but harmless: nbgrader's own ignore rules apply
    gradebook = tmp_path / "gradebook.db"
    gradebook.write_text("grades")
    (folder / "leak.html").symlink_to(gradebook)
    os.link(gradebook, folder / "grades.html")
    os.mkfifo(folder / "pipe")
    plugins.drop_unsafe_submission_files(assignment="a1", student="alice", notebooks=[str(notebook)])
    assert sorted(p.name for p in folder.iterdir()) == [".hidden", "a1.ipynb"]
    assert gradebook.read_text() == "grades"


@pytest.mark.notebook
def test_figures_have_a_budget_of_their_own_apart_from_the_text_cap():
    show = ("from IPython.display import display\n"
            "display({{'image/png': 'A' * {n}, 'text/plain': '<Figure>'}}, raw=True)")
    notebook = new_notebook(cells=[new_code_cell("print('x' * 300_000)"), new_code_cell(show.format(n=1_000_000)),
                                   new_code_cell(show.format(n=600_000) + "\n" + show.format(n=600_000)),
                                   new_code_cell(show.format(n=900_000))])
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    config = Config()
    config.GuardedExecute.sandbox_kernel = False
    config.GuardedExecute.max_image_chars = 1_100_000
    config.GuardedExecute.max_notebook_image_chars = 2_000_000
    graded, _ = preprocessors.GuardedExecute(config=config).preprocess(notebook, {"metadata": {"path": "."}})
    text, one_figure, two_figures, over_budget = (cell.outputs for cell in graded.cells)
    assert len(text[0].text) == 200_000 and "[output truncated: 100001 characters]" in text[-1].text
    assert [len(o.data["image/png"]) for o in one_figure] == [1_000_000]  # five times the text cap, kept
    assert len(two_figures) == 2 and "1 image(s) left out" in two_figures[-1].text  # the cell's image budget
    assert "1 image(s) left out" in over_budget[-1].text  # the notebook's: 1.6 M of 2 M used before


def _limits_config(tmp_path, cells: dict[str, float]) -> Config:
    times = tmp_path / "reference_times.json"
    times.write_text(json.dumps({"cells": cells, "notebook": sum(cells.values())}))
    config = Config()
    config.GuardedExecute.sandbox_kernel = False
    config.GuardedExecute.reference_times = str(times)
    config.GuardedExecute.cell_timeout_factor = 10.0
    config.GuardedExecute.cell_timeout_floor = 2.0
    config.GuardedExecute.notebook_timeout_factor = 5.0
    config.GuardedExecute.notebook_timeout_floor = 7.0
    config.GuardedExecute.record_times = str(tmp_path / "recorded.json")
    return config


def _notebook(*cells):
    notebook = new_notebook(cells=list(cells))
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def test_cell_limits_follow_the_reference_and_a_slower_cell_within_them_runs(tmp_path):
    quick, loop, slow, after = (new_code_cell(s) for s in ["x = 1", "while True:\n    pass",
                                                           "import time\ntime.sleep(2.5)\nprint('slow but done')",
                                                           "print(x + 1)"])
    own = new_code_cell("print('a cell of my own')")  # not in the reference: the reference's longest applies
    config = _limits_config(tmp_path, {quick.id: 0.01, loop.id: 0.01, slow.id: 0.3, after.id: 0.01})
    graded, _ = preprocessors.GuardedExecute(config=config).preprocess(
        _notebook(quick, loop, slow, own, after), {"metadata": {"path": str(tmp_path)}})
    outputs = [cell.outputs for cell in graded.cells]
    assert outputs[1][-1].ename == "CellTimeoutError" and "stopped after 2 s" in outputs[1][-1].evalue
    assert outputs[2][0].text == "slow but done\n"  # 2.5 s: under 10 x 0.3 s, over the floor
    assert outputs[3][0].text == "a cell of my own\n" and outputs[4][0].text == "2\n"
    recorded = json.loads((tmp_path / "recorded.json").read_text())
    assert set(recorded["cells"]) == {cell.id for cell in graded.cells}
    assert 2 <= recorded["cells"][loop.id] < 6 and 2.5 <= recorded["cells"][slow.id] < 6


def test_the_notebook_budget_follows_the_reference_total(tmp_path):
    loops = [new_code_cell("while True:\n    pass") for _ in range(5)]
    config = _limits_config(tmp_path, {cell.id: 0.1 for cell in loops})  # budget: max(7, 5 x 0.5) = 7 s
    graded, _ = preprocessors.GuardedExecute(config=config).preprocess(
        _notebook(*loops), {"metadata": {"path": str(tmp_path)}})
    errors = [cell.outputs[-1] for cell in graded.cells]
    assert [e.ename for e in errors[:3]] == ["CellTimeoutError"] * 3
    assert errors[-1].ename == "CellNotRun" and "time budget of 7 s ran out" in errors[-1].evalue
