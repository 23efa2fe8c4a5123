import os
import socket
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
