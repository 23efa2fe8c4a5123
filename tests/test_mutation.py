import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dlcourse import grading, mutation


def _meta(grade_id, solution=True, grade=False, points=None):
    meta = {"grade_id": grade_id, "solution": solution, "grade": grade, "locked": not solution}
    if points:
        meta["points"] = points
    return {"nbgrader": meta}


def _source_and_release():
    source = new_notebook(cells=[
        new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", metadata=_meta("f")),
        new_code_cell("assert f(1) == 2", metadata=_meta("test_f", solution=False, grade=True, points=1)),
        new_markdown_cell("Because.", metadata=_meta("why", grade=True, points=1)),
    ])
    release = new_notebook(cells=[
        new_code_cell("def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()", metadata=_meta("f")),
        new_code_cell("assert f(1) == 2", metadata=_meta("test_f", solution=False, grade=True, points=1)),
        new_markdown_cell("YOUR ANSWER HERE", metadata=_meta("why", grade=True, points=1)),
    ])
    return source, release


def test_reference_answers_drop_the_solution_delimiters():
    source, _ = _source_and_release()
    assert mutation.reference_answers(source) == {"f": "def f(x):\n    return 2 * x", "why": "Because."}


def test_fill_submission_changes_only_answer_cells_and_leaves_the_release_alone():
    source, release = _source_and_release()
    filled = mutation.fill_submission(release, mutation.reference_answers(source))
    assert filled.cells[0].source == "def f(x):\n    return 2 * x"
    assert filled.cells[1].source == release.cells[1].source
    assert "NotImplementedError" in release.cells[0].source
    nbformat.validate(filled)


def test_apply_variant_by_replacement_or_whole_code():
    answers = {"f": "def f(x):\n    return 2 * x"}
    bug = mutation.Variant("adds", "f", replace=[("2 * x", "2 + x")], fails=["test_f"])
    assert bug.is_bug and mutation.apply_variant(bug, answers) == "def f(x):\n    return 2 + x"
    alternative = mutation.Variant("lambda", "f", code="f = lambda x: x + x")
    assert not alternative.is_bug and mutation.apply_variant(alternative, answers) == "f = lambda x: x + x"


@pytest.mark.parametrize(("variant", "message"), [
    (mutation.Variant("missing", "g", code="x"), "no answer cell"),
    (mutation.Variant("absent text", "f", replace=[("3 * x", "x")]), "occurs 0 times"),
    (mutation.Variant("ambiguous", "f", replace=[("x", "y")]), "occurs 2 times"),
])
def test_apply_variant_refuses_what_does_not_apply(variant, message):
    with pytest.raises(ValueError, match=message):
        mutation.apply_variant(variant, {"f": "def f(x):\n    return 2 * x"})


def test_packs_share_a_submission_only_across_cells_with_disjoint_failures():
    variants = [mutation.Variant("a1", "f", code="", fails=["t_f"]),
                mutation.Variant("a2", "f", code="", fails=["t_f"]),
                mutation.Variant("b1", "g", code="", fails=["t_g"]),
                mutation.Variant("alt", "h", code=""),
                mutation.Variant("c1", "k", code="", fails=["t_f"])]
    assert mutation._packs(variants) == [["bug01", "bug03", "alt04"], ["bug02"], ["bug05"]]


def test_a_confirmed_pack_credits_each_member_with_its_own_cells():
    score = grading.CellScore
    scores = {
        "reference": {"t_f": score("t_f", 1, 1, True), "t_g": score("t_g", 1, 1, True)},
        "untouched": {"t_f": score("t_f", 0, 1, True), "t_g": score("t_g", 0, 1, True)},
        "pack01": {"t_f": score("t_f", 0, 1, True), "t_g": score("t_g", 0, 1, True)},
    }
    variants = [mutation.Variant("a", "f", code="", fails=["t_f"]), mutation.Variant("b", "g", code="", fails=["t_g"])]
    outcomes = mutation._judge(variants, scores, {}, {"bug01": "pack01", "bug02": "pack01"})
    assert all(o.ok for o in outcomes)
    assert outcomes[2].failing == {"t_f"} and "[graded in pack01]" in outcomes[2].description


def test_judge_compares_lost_points_with_expectations():
    ok = grading.CellScore
    scores = {
        "reference": {"t1": ok("t1", 2, 2, True), "t2": ok("t2", 1, 1, True), "why": ok("why", 0, 1, False)},
        "untouched": {"t1": ok("t1", 0, 2, True), "t2": ok("t2", 0, 1, True)},
        "bug01": {"t1": ok("t1", 0, 2, True), "t2": ok("t2", 0, 1, True)},
    }
    variants = [mutation.Variant("b", "f", code="", fails=["t1"])]
    outcomes = {o.student: o for o in mutation._judge(variants, scores, {})}
    assert outcomes["reference"].ok and outcomes["untouched"].ok
    assert not outcomes["bug01"].ok, "a bug that also costs points elsewhere is a wrong grading"
    assert "expected to lose points in: t1" in mutation.report(list(outcomes.values()))
