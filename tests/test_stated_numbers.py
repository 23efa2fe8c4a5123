"""What the text says a run gives is what the run prints (the list of such numbers: tests/stated_numbers.py)."""

import re
from decimal import Decimal

import pytest
from conftest import ASSIGNMENTS, executed_source, source_notebook
from stated_numbers import STATED, Stated


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _markdown(notebook) -> str:
    return _flat("\n\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown"))


def _printed(notebook) -> str:
    """Everything the code cells show as text: standard output and the plain-text form of results."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream" and output.name == "stdout":
                parts.append(output.text)
            elif "text/plain" in output.get("data", {}):
                parts.append(output.data["text/plain"])
    return _flat("\n".join(parts))


def _value(number: str) -> Decimal:
    return Decimal(number.replace(",", ""))


def _agrees(stated: str, measured: Decimal, tolerance: float | None, how: str = "each") -> bool:
    """``measured`` rounds to ``stated`` at the digits the text shows (or lies within ``tolerance`` of it); for
    ``how="order"``, ``stated`` is the power of ten of ``measured``."""
    value = _value(stated)
    if how == "order":
        return measured > 0 and measured.adjusted() == value
    if tolerance is not None:
        return abs(measured - value) <= Decimal(str(tolerance))
    half_unit = Decimal(1).scaleb(_value(stated).as_tuple().exponent) / 2
    return value - half_unit <= measured < value + half_unit or abs(measured - value) <= Decimal("1e-12")


def _problems(entry: Stated, markdown: str, printed: str) -> list[str]:
    said = re.search(entry.text, markdown)
    if not said:
        return [f"the text no longer says {entry.text!r}: update tests/stated_numbers.py with it"]
    scale = Decimal(str(entry.scale))
    if entry.how == "span":
        measured = [_value(number) * scale for m in re.finditer(entry.printed, printed) for number in m.groups()]
        if not measured:
            return [f"nothing printed matches {entry.printed!r}"]
        pairs = list(zip(said.groups(), [min(measured), max(measured)], strict=True))
    else:
        shown = re.search(entry.printed, printed)
        if not shown:
            return [f"nothing printed matches {entry.printed!r}"]
        if said.groupdict():
            pairs = [(number, _value(shown.group(name)) * scale) for name, number in said.groupdict().items()]
        else:
            pairs = [(number, _value(value) * scale) for number, value in zip(said.groups(), shown.groups(),
                                                                                strict=True)]
    return [f"the text says {number} ({said.group(0)!r}), the notebook prints {measured:g}"
            for number, measured in pairs if not _agrees(number, measured, entry.tolerance, entry.how)]


def _cases():
    for assignment_id in ASSIGNMENTS:
        key = assignment_id.split("_")[0]
        for mode in ("grading", "full"):
            entries = [entry for entry in STATED.get(key, []) if entry.mode == mode]
            if entries:
                yield pytest.param(assignment_id, mode, entries, id=f"{key}-{mode}")


def test_every_assignment_has_its_stated_numbers_listed():
    assert {a.split("_")[0] for a in ASSIGNMENTS} == set(STATED)


@pytest.mark.notebook
@pytest.mark.parametrize("assignment_id, mode, entries", list(_cases()))
def test_numbers_the_text_states_are_the_ones_the_notebook_prints(assignment_id, mode, entries):
    markdown = _markdown(source_notebook(assignment_id))
    printed = _printed(executed_source(assignment_id, mode))
    problems = [problem for entry in entries for problem in _problems(entry, markdown, printed)]
    assert not problems, "\n".join(problems)


def test_a_stale_number_a_stale_range_and_a_changed_text_are_each_reported():
    stated = Stated(r"ends at (\d\.\d+) on the validation data", r"validation (\d\.\d+);")
    assert not _problems(stated, "ends at 0.931 on the validation data", "training 0.957, validation 0.9314;")
    assert _problems(stated, "ends at 0.893 on the validation data", "training 0.957, validation 0.931;")
    assert "no longer says" in _problems(stated, "ends near 0.9 on the validation data", "validation 0.931;")[0]
    span = Stated(r"here (\d\.\d+) to (\d\.\d+) over", r"accuracy (\d\.\d+)", how="span")
    assert not _problems(span, "here 0.51 to 0.59 over", "accuracy 0.5089 accuracy 0.5880 accuracy 0.55")
    assert _problems(span, "here 0.51 to 0.59 over", "accuracy 0.5089 accuracy 0.5960")
    about = Stated(r"about (\d+)%", r"accuracy (\d\.\d+)", scale=100, tolerance=2)
    assert not _problems(about, "about 10%", "accuracy 0.084")
    assert _problems(about, "about 10%", "accuracy 0.071")
    order = Stated(r"about \$10\^\{(-?\d+)\}\$", r"ratio (\S+)", how="order")
    assert not _problems(order, "about $10^{-31}$", "ratio 5.32e-31")
    assert _problems(order, "about $10^{-31}$", "ratio 5.32e-30")
