import atexit
import os
import shutil
import socket
import tempfile
from functools import cache
from pathlib import Path

import nbformat
import pytest

from dlcourse import grading, mutation

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = grading.assignments(ROOT)

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("DLCOURSE_OFFLINE", "1")


def source_notebook(assignment_id: str):
    return nbformat.read(ROOT / "source" / assignment_id / f"{assignment_id}.ipynb", as_version=4)


def release_notebook(assignment_id: str):
    return nbformat.read(ROOT / "release" / assignment_id / f"{assignment_id}.ipynb", as_version=4)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


@cache
def executed_source(assignment_id: str, mode: str = "grading"):
    """The source notebook run top to bottom once per test session, as nbgrader runs it ("grading") or as a
    student does ("full"), in a copy of its folder (notebooks may create files beside themselves)."""
    from nbclient import NotebookClient

    notebook = source_notebook(assignment_id)
    workdir = Path(tempfile.mkdtemp(prefix=f"{assignment_id}-{mode}-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    shutil.copytree(ROOT / "source" / assignment_id, workdir / assignment_id)
    environment = {"NBGRADER_EXECUTION": "autograde"} if mode == "grading" else {}
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("NBGRADER_EXECUTION", raising=False)
        for name, value in environment.items():
            patch.setenv(name, value)
        NotebookClient(notebook, timeout=1200, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(workdir / assignment_id)}}).execute()
    return notebook


@cache
def proven(assignment_id: str) -> dict[str, mutation.Outcome]:
    """Grade the reference, the untouched release and every variant once per test session."""
    outcomes = mutation.prove(ROOT, assignment_id, jobs=2, progress=False, pack=True)
    return {outcome.student: outcome for outcome in outcomes}


def variant_params():
    params = []
    for assignment_id in ASSIGNMENTS:
        for number, variant in enumerate(mutation.load_variants(ROOT, assignment_id), 1):
            student = mutation.variant_id(number, variant)
            params.append(pytest.param(assignment_id, student, id=f"{assignment_id}-{student}"))
    return params


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
