"""Grading a class: serial nbgrader autograde against parallel jobs, and nbgrader's overhead over nbclient.

    python benchmarks/bench_class_grading.py [--assignment A] [--submissions 40] [--jobs 2] [--raw-sample 10]

In one scratch course, the same generated submissions (the reference, its correct alternatives, its bugs
and the untouched release, in turn) are graded twice into two copies of the course: once by nbgrader's
own autograde one after another, once by ``dlcourse grade --jobs N``. Prints both wall times, the speedup,
whether every per-cell score agrees, and, for a sample of the notebooks, the time nbgrader's autograde
takes per notebook against executing the very notebook it executed with plain nbclient (the overhead).
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

from dlcourse import grading, mutation, parallel


def write_class(course: Path, assignment_id: str, count: int, source_nb, release_nb) -> list[str]:
    answers = mutation.reference_answers(source_nb)
    variants = mutation.load_variants(course, assignment_id)
    notebooks = [mutation.fill_submission(release_nb, answers), release_nb]
    notebooks += [mutation.fill_submission(release_nb, dict(answers, **{v.cell: mutation.apply_variant(v, answers)}))
                  for v in variants]
    students = [f"student{number:03d}" for number in range(count)]
    for number, student in enumerate(students):
        mutation.write_submission(course, assignment_id, student, notebooks[number % len(notebooks)])
    return students


def copy_course(course: Path, folder: Path) -> Path:
    shutil.copytree(course, folder)
    return folder


def time_serial(course: Path, assignment_id: str, students: list[str]) -> tuple[float, dict[str, float]]:
    from tqdm.auto import tqdm

    nb_api = grading.api(course)
    each, start = {}, time.perf_counter()
    for student in tqdm(students, desc="serial nbgrader autograde", unit="student"):
        began = time.perf_counter()
        if not nb_api.autograde(assignment_id, student, force=True, create=True).get("success"):
            raise grading.GradingError(f"serial autograde failed for {student}")
        each[student] = time.perf_counter() - began
    return time.perf_counter() - start, each


def time_raw_nbclient(course: Path, assignment_id: str, student: str, timeout: int) -> float:
    """Execute the notebook nbgrader executed for ``student``, outputs cleared, with nbclient alone."""
    graded = course / "autograded" / student / assignment_id
    notebook = nbformat.read(graded / f"{assignment_id}.ipynb", as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    with tempfile.TemporaryDirectory(prefix="raw-") as scratch:
        shutil.copytree(graded, scratch, dirs_exist_ok=True)
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=True,
                                resources={"metadata": {"path": scratch}},
                                config=grading.load_config(course))  # the same kernel transport as grading
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", default="a1_gradient_descent")
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--raw-sample", type=int, default=10, help="notebooks also executed with plain nbclient")
    args = parser.parse_args()
    root = grading.find_course_root(Path(__file__).resolve().parent)
    os.environ["NBGRADER_EXECUTION"] = "autograde"  # nbclient's kernels inherit it, as under nbgrader
    parallel.pin_threads(max(1, (os.cpu_count() or 1) // args.jobs))  # the same threads per kernel in each run

    with (mutation.scratch_course(root, args.assignment) as (course, _, source_nb, release_nb),
          tempfile.TemporaryDirectory(prefix="bench-") as copies):
        students = write_class(course, args.assignment, args.submissions, source_nb, release_nb)
        serial_course = copy_course(course, Path(copies) / "serial")
        parallel_course = copy_course(course, Path(copies) / "parallel")

        serial_seconds, each = time_serial(serial_course, args.assignment, students)
        start = time.perf_counter()
        results = parallel.grade_class(parallel_course, args.assignment, students, jobs=args.jobs)
        parallel_seconds = time.perf_counter() - start

        failed = sorted(s for s, r in results.items() if not r.ok)
        serial_scores = grading.cell_scores(grading.api(serial_course), args.assignment)
        parallel_scores = grading.cell_scores(grading.api(parallel_course), args.assignment)
        differ = sorted(s for s in students if serial_scores.get(s) != parallel_scores.get(s))

        sample = students[:args.raw_sample]
        timeout = grading.load_config(root).Execute.timeout
        raw = {s: time_raw_nbclient(serial_course, args.assignment, s, timeout) for s in sample}

    graded_mean = sum(each[s] for s in sample) / len(sample)
    raw_mean = sum(raw.values()) / len(sample)
    print(f"\n{args.submissions} submissions of {args.assignment} on {os.cpu_count()} cores")
    print(f"serial nbgrader autograde   {serial_seconds:8.1f} s  ({serial_seconds / len(students):.1f} s each)")
    print(f"dlcourse grade --jobs {args.jobs}     {parallel_seconds:8.1f} s  "
          f"({parallel_seconds / len(students):.1f} s each)")
    print(f"speedup                     {serial_seconds / parallel_seconds:8.2f}x")
    print(f"per-cell scores identical   {'yes' if not differ and not failed else f'NO: {differ} failed: {failed}'}")
    print(f"per notebook, {len(sample)} sampled: nbgrader autograde {graded_mean:.2f} s, "
          f"plain nbclient {raw_mean:.2f} s, overhead {100 * (graded_mean / raw_mean - 1):.1f}%")
    return 1 if differ or failed else 0


if __name__ == "__main__":
    sys.exit(main())
