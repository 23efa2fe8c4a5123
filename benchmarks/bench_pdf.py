"""PDF export time per assignment: each reference notebook, executed in grading mode, exported offline.

    python benchmarks/bench_pdf.py [ASSIGNMENT ...]

Prints one row per assignment: seconds for `dlcourse pdf` (HTML, MathJax typesetting, chromium printing),
pages and size. Execution time is not counted.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from pypdf import PdfReader

from dlcourse import grading, pdf


def executed_reference(root: Path, assignment_id: str, folder: Path) -> Path:
    shutil.copytree(root / "source" / assignment_id, folder, dirs_exist_ok=True)
    path = folder / f"{assignment_id}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, kernel_name="python3", timeout=600,
                   resources={"metadata": {"path": str(folder)}}).execute()
    nbformat.write(notebook, path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*")
    args = parser.parse_args()
    root = grading.find_course_root(Path(__file__).resolve().parent)
    os.environ["NBGRADER_EXECUTION"] = "autograde"  # short training runs, as when grading
    os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend, so figures land in the notebook
    print(f"{'assignment':<32}{'PDF export (s)':>16}{'pages':>8}{'size (kB)':>11}")
    for assignment_id in args.assignments or grading.assignments(root):
        with tempfile.TemporaryDirectory(prefix=f"pdf-{assignment_id}-") as scratch:
            notebook = executed_reference(root, assignment_id, Path(scratch))
            start = time.perf_counter()
            written = pdf.notebook_to_pdf(notebook)
            seconds = time.perf_counter() - start
            pages = len(PdfReader(written).pages)
            print(f"{assignment_id:<32}{seconds:>16.1f}{pages:>8}{written.stat().st_size / 1000:>11.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
