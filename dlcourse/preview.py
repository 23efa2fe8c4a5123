"""A preview of grading for students: run a notebook as the grader will and say what will differ.

    dlcourse check a3_networks_from_primitives.ipynb

The notebook is run from top to bottom in a fresh kernel, by the grader's own executor
(:class:`dlcourse.preprocessors.GuardedExecute`): in grading mode (``NBGRADER_EXECUTION`` is set, so
``scaled()`` runs shrink as they will), in the grading sandbox where it can start, with the grader's limits per
cell, per notebook and on output. The test cells run their visible checks only: hidden tests are not in a
student's notebook, and any left in one are cut out first. Nothing of the instructor's is used.

The report compares each cell with the student's own saved run: cells that fail only when graded, cells
stopped by a time limit or not run, outputs that will be truncated, and which visible checks pass.
JupyterLab offers the same as *File > Save and Export Notebook As > Grading_check* (an HTML report).
"""

import copy
import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbconvert.exporters import Exporter
from nbgrader.utils import setenv
from traitlets.config import Config, PyFileConfigLoader

from dlcourse import judge
from dlcourse.preprocessors import IMAGES_LEFT_OUT, REFERENCE_TIMES, TRUNCATED, GuardedExecute
from dlcourse.runtime import GRADING_ENV

CONFIG_FILE = "nbgrader_config.py"
CELL_TIMEOUT = 300  # the course's Execute.timeout, used when no nbgrader_config.py is found
GRADER_ERRORS = ("CellTimeoutError", "CellNotRun", "DeadKernelError")  # a limit or a dead kernel, said by the grader


@dataclass
class CellReport:
    index: int  # 1-based, as the notebook shows cells
    grade_id: str
    test: bool
    findings: list[str] = field(default_factory=list)
    passed: bool | None = None  # for test cells: the visible check's outcome when graded


@dataclass
class Preview:
    notebook: Path
    limits: str
    sandboxed: bool
    cells: list[CellReport]

    @property
    def findings(self) -> list[CellReport]:
        return [cell for cell in self.cells if cell.findings]

    def text(self) -> str:
        lines = [f"{self.notebook.name}, run as the grader will: {self.limits}"
                 + ("" if self.sandboxed else " (without the grading sandbox, which could not start here)")]
        for cell in self.findings:
            lines += [f"  cell {cell.index}{f' ({cell.grade_id})' if cell.grade_id else ''}: {finding}"
                      for finding in cell.findings]
        return "\n".join(lines + self._summary())

    def _summary(self) -> list[str]:
        tests = [c for c in self.cells if c.test]
        return [f"visible checks passing when graded: {sum(bool(c.passed) for c in tests)} of {len(tests)}",
                "nothing will differ from your own run" if not self.findings else
                f"{len(self.findings)} cell(s) will differ from your own run: fix them before you submit"]

    def html(self) -> str:
        rows = "".join(f"<tr><td>{c.index}</td><td>{html.escape(c.grade_id)}</td><td>{html.escape(f)}</td></tr>"
                       for c in self.findings for f in c.findings)
        table = (f"<table><tr><th>cell</th><th>grade id</th><th>what will differ</th></tr>{rows}</table>"
                 if rows else "")
        summary = "<br>".join(map(html.escape, self._summary()))
        return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Grading check: "
                f"{html.escape(self.notebook.name)}</title><style>body{{font-family:sans-serif;margin:2em}}"
                f"td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}table{{border-collapse:collapse}}"
                f"</style></head><body><h1>Grading check: {html.escape(self.notebook.name)}</h1>"
                f"<p>Run as the grader will: {html.escape(self.limits)}</p>{table}<p>{summary}</p></body></html>")


def course_config(folder: Path) -> Config:
    """The grader's limits: from the nearest nbgrader_config.py above ``folder``, else the course's defaults."""
    for candidate in [folder, *folder.parents]:
        if (candidate / CONFIG_FILE).is_file():
            return PyFileConfigLoader(CONFIG_FILE, path=str(candidate)).load_config()
    config = Config()
    config.Execute.timeout = CELL_TIMEOUT
    return config


def preview(notebook: Path, config: Config | None = None, sandbox: bool = True) -> Preview:
    notebook = Path(notebook).resolve()
    own = nbformat.read(notebook, as_version=4)
    config = copy.deepcopy(config if config is not None else course_config(notebook.parent))
    config.GuardedExecute.sandbox_kernel = sandbox
    graded = _without_hidden_tests(own)
    times = notebook.parent / REFERENCE_TIMES  # released with the assignment: the grader's limits per cell
    if times.is_file():
        config.GuardedExecute.reference_times = str(times)
    executor = GuardedExecute(config=config)
    resources = {"metadata": {"path": str(notebook.parent)}}
    with setenv(**{GRADING_ENV: "autograde"}):
        graded, _ = executor.preprocess(graded, resources)
    limits = (f"{executor.time_limits()}, {executor.max_output_chars:,} characters of text output and "
              f"{executor.max_image_chars:,} of images per cell, grading mode on")
    cells = [_compare(index, mine, theirs) for index, (mine, theirs) in enumerate(zip(own.cells, graded.cells,
                                                                                      strict=True))
             if mine.cell_type == "code" and mine.source.strip()]
    return Preview(notebook, limits, sandbox, cells)


def _without_hidden_tests(notebook):
    stripped = copy.deepcopy(notebook)
    for cell in stripped.cells:
        if judge.is_test_cell(cell):
            cell.source = judge.visible_part(cell.source)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return stripped


def _note(template: str) -> re.Pattern:
    """A note GuardedExecute writes into a cell's output, its number as group 1."""
    return re.compile(re.escape(template).replace(re.escape("{}"), r"(\d+)"))


def _errors(cell) -> list:
    return [o for o in cell.outputs if o.output_type == "error"]


def _compare(index: int, mine, theirs) -> CellReport:
    meta = mine.get("metadata", {}).get("nbgrader", {})
    report = CellReport(index + 1, meta.get("grade_id", ""), judge.is_test_cell(mine))
    errors = _errors(theirs)
    if errors:
        limits = [e for e in errors if e.ename in GRADER_ERRORS]  # the grader's reason, not the interrupt's
        error = (limits or errors)[0]
        first_line = f"{error.ename}: {str(error.evalue).splitlines()[0] if error.evalue else ''}"[:300]
        if limits:
            report.findings.append(first_line)
        elif mine.execution_count is None and not mine.outputs:
            report.findings.append(f"fails when graded, and you have not run it: {first_line}")
        elif not _errors(mine):
            report.findings.append(f"fails only when graded: {first_line}")
    notes = "".join(o.get("text", "") for o in theirs.outputs if o.output_type == "stream")
    if match := _note(TRUNCATED).search(notes):
        report.findings.append(f"its output will be cut at the grader's limit ({match.group(1)} characters over): "
                               "print less")
    if match := _note(IMAGES_LEFT_OUT).search(notes):
        report.findings.append(match.group(0).strip("[]"))
    if report.test:
        report.passed = not errors
    return report


class GradingCheckExporter(Exporter):
    """JupyterLab's *Save and Export Notebook As > Grading_check*: the preview as an HTML page."""

    export_from_notebook = "Grading check (run as the grader will)"
    output_mimetype = "text/html"

    def _file_extension_default(self):
        return ".grading-check.html"

    def from_notebook_node(self, nb, resources=None, **kw):
        nb_copy, resources = super().from_notebook_node(nb, resources, **kw)
        folder = Path((resources or {}).get("metadata", {}).get("path") or os.getcwd())
        name = (resources or {}).get("metadata", {}).get("name") or "notebook"
        target = folder / f".{name}.grading-check.ipynb"  # the saved notebook, run where its files are
        nbformat.write(nb_copy, target)
        try:
            report = preview(target)
        finally:
            target.unlink(missing_ok=True)
        report.notebook = folder / f"{name}.ipynb"
        return report.html(), resources
