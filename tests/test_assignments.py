"""Every assignment: the source runs cleanly, grading is right both ways, and the release is what it should be."""

import json
from pathlib import Path

import nbformat
import pytest
from conftest import (
    ASSIGNMENTS,
    ROOT,
    executed_source,
    nbgrader_meta,
    proven,
    release_notebook,
    source_notebook,
    variant_params,
)

from dlcourse import judge, mutation
from dlcourse.preprocessors import REFERENCE_TIMES

each_assignment = pytest.mark.parametrize("assignment_id", ASSIGNMENTS)


@pytest.mark.notebook
@each_assignment
def test_source_runs_top_to_bottom_without_errors_or_stderr(assignment_id):
    notebook = executed_source(assignment_id, "grading")
    problems = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                problems.append(f"cell {index}: {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr":
                problems.append(f"cell {index} writes to stderr: {output.text[:300]!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.notebook
@each_assignment
def test_reference_solution_scores_full_marks(assignment_id):
    outcome = proven(assignment_id)[mutation.REFERENCE]
    assert not outcome.error, outcome.error
    assert outcome.autograded_cells, "no autograded test cells were found"
    assert not outcome.failing, f"the reference loses points in {sorted(outcome.failing)}"


@pytest.mark.notebook
@each_assignment
def test_untouched_release_scores_zero_and_grades_without_crashing(assignment_id):
    outcome = proven(assignment_id)[mutation.UNTOUCHED]
    assert not outcome.error, outcome.error
    assert outcome.failing == outcome.autograded_cells, \
        f"the untouched release keeps points in {sorted(outcome.autograded_cells - outcome.failing)}"


@each_assignment
def test_release_matches_generate_assignment(assignment_id):
    committed = ROOT / "release" / assignment_id
    with mutation.scratch_course(ROOT, assignment_id) as (course, *_):
        fresh = course / "release" / assignment_id
        assert _files(fresh) == _files(committed), "release/ has other files than generate_assignment makes now"
        for name in _files(fresh):
            if name.endswith(".ipynb"):
                assert nbformat.read(fresh / name, 4) == nbformat.read(committed / name, 4), \
                    f"release/{assignment_id}/{name} is stale: run `dlcourse release {assignment_id}`"
            else:
                assert (fresh / name).read_bytes() == (committed / name).read_bytes(), f"{name} is stale"


@each_assignment
def test_reference_times_cover_every_code_cell_of_the_source(assignment_id):
    """The grading limits come from these times: a code cell added since the last `dlcourse release` has none."""
    path = ROOT / "source" / assignment_id / REFERENCE_TIMES
    assert path.is_file(), f"no {REFERENCE_TIMES}: run `dlcourse release {assignment_id}`"
    times = json.loads(path.read_text())
    code_cells = {cell.id for cell in source_notebook(assignment_id).cells
                  if cell.cell_type == "code" and cell.source.strip()}
    assert set(times["cells"]) == code_cells, f"{path.name} is stale: run `dlcourse release {assignment_id}`"
    assert all(seconds >= 0 for seconds in times["cells"].values())
    assert times["notebook"] == pytest.approx(sum(times["cells"].values()), abs=0.01)
    released = ROOT / "release" / assignment_id / REFERENCE_TIMES  # for `dlcourse check`
    assert released.read_bytes() == path.read_bytes(), f"release/{assignment_id}/{REFERENCE_TIMES} is stale"


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@each_assignment
def test_release_has_no_solutions_or_hidden_tests(assignment_id):
    release_text = (ROOT / "release" / assignment_id / f"{assignment_id}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in release_text
    assert not (ROOT / "release" / assignment_id / "mutants.py").exists()
    released_lines = {line.strip() for cell in release_notebook(assignment_id).cells
                      for line in cell.source.splitlines()}
    for cell in source_notebook(assignment_id).cells:
        for secret in _secret_lines(cell.source):
            assert secret not in released_lines, f"release shows solution or hidden-test line {secret!r}"


def _secret_lines(source: str) -> list[str]:
    """Distinctive lines inside solution and hidden-test regions (short ones such as `return x` may recur)."""
    secrets, inside = [], False
    for line in source.splitlines():
        if "BEGIN SOLUTION" in line or "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END SOLUTION" in line or "END HIDDEN TESTS" in line:
            inside = False
        elif inside and len(line.strip()) > 25:
            secrets.append(line.strip())
    return secrets


@each_assignment
def test_source_is_stored_without_outputs(assignment_id):
    for index, cell in enumerate(source_notebook(assignment_id).cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"cell {index} has stored output"


@each_assignment
def test_grade_ids_are_unique_and_graded_cells_have_points(assignment_id):
    metas = [nbgrader_meta(c) for c in source_notebook(assignment_id).cells if nbgrader_meta(c)]
    ids = [m["grade_id"] for m in metas]
    assert len(ids) == len(set(ids)), f"duplicate grade ids: {sorted({i for i in ids if ids.count(i) > 1})}"
    for meta in metas:
        if meta.get("grade"):
            assert float(meta.get("points", 0)) > 0, f"{meta['grade_id']} is graded but has no points"


@each_assignment
def test_every_autograded_answer_is_followed_by_a_test_cell(assignment_id):
    cells = source_notebook(assignment_id).cells
    for index, cell in enumerate(cells):
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and meta.get("solution") and not meta.get("grade"):
            following = [nbgrader_meta(c) for c in cells[index + 1:] if c.cell_type == "code" and nbgrader_meta(c)]
            assert following and following[0].get("grade") and not following[0].get("solution"), \
                f"answer cell {meta['grade_id']} is not followed by a test cell"


@each_assignment
def test_every_test_cell_is_locked_and_every_variant_names_real_cells(assignment_id):
    cells = source_notebook(assignment_id).cells
    tests = {nbgrader_meta(c)["grade_id"] for c in cells
             if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")}
    answers = {nbgrader_meta(c)["grade_id"] for c in cells if nbgrader_meta(c).get("solution")}
    for cell in cells:
        if nbgrader_meta(cell).get("grade") and not nbgrader_meta(cell).get("solution"):
            assert nbgrader_meta(cell).get("locked"), f"test cell {nbgrader_meta(cell)['grade_id']} is not locked"
    variants = mutation.load_variants(ROOT, assignment_id)
    assert any(v.is_bug for v in variants), "mutants.py lists no bugs"
    assert any(not v.is_bug for v in variants), "mutants.py lists no correct alternatives"
    for variant in variants:
        assert variant.cell in answers, f"{variant.name}: {variant.cell} is not an answer cell"
        assert set(variant.fails) <= tests, f"{variant.name}: {set(variant.fails) - tests} are not test cells"
    answered = {v.cell for v in variants if v.is_bug}
    autograded = {nbgrader_meta(c)["grade_id"] for c in cells
                  if c.cell_type == "code" and nbgrader_meta(c).get("solution")}
    assert autograded <= answered, f"no bug exercises the tests of {sorted(autograded - answered)}"


@each_assignment
def test_every_test_cell_is_judged_by_a_check_of_its_grader_module(assignment_id):
    """No hidden test runs in the student's kernel: each names a check in source/<a>/grader.py, and each check
    there is named by a test cell."""
    checks = judge.load_checks(ROOT / "source" / assignment_id / "grader.py")
    named = []
    for cell in source_notebook(assignment_id).cells:
        if judge.is_test_cell(cell):
            name = judge.judged_check(cell.source)
            assert name, f"{nbgrader_meta(cell)['grade_id']} runs hidden test code in the student's kernel"
            judge.find_check(checks, name)
            named.append(name)
    defined = {n for n, f in vars(checks).items() if getattr(f, "is_check", False)}
    assert sorted(named) == sorted(defined), f"checks no test cell names: {sorted(defined - set(named))}"


@pytest.mark.notebook
@pytest.mark.parametrize(("assignment_id", "student"), variant_params())
def test_variant_is_graded_as_intended(assignment_id, student):
    outcome = proven(assignment_id)[student]
    assert not outcome.error, outcome.error
    lost = ", ".join(sorted(outcome.failing)) or "nothing"
    wanted = ", ".join(sorted(outcome.expected_failing)) or "nothing"
    assert outcome.failing == outcome.expected_failing, \
        f"{outcome.description}: loses points in {lost}, should lose them in {wanted}"
