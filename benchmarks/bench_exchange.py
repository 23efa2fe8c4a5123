"""Seconds from a clean state to a graded, fed-back assignment for simulated students through nbgrader's exchange.

    python benchmarks/bench_exchange.py [ASSIGNMENT] [--students N]

A fresh course and exchange in a temporary folder; every student fetches the release, hands in the reference
answers (the last one after the due date) and fetches feedback. Prints each phase's seconds and the total:
release (generate_assignment + release_assignment), fetch, submit, collect, autograde (serial, one student
after the other), feedback (generate_feedback + release_feedback), fetch_feedback.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import nbformat

from dlcourse import exchange, grading, mutation


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment", nargs="?", default="a1_gradient_descent")
    parser.add_argument("--students", type=int, default=5)
    args = parser.parse_args()
    root = grading.find_course_root(Path(__file__).resolve().parent)
    source_nb = nbformat.read(root / "source" / args.assignment / f"{args.assignment}.ipynb", as_version=4)
    answers = mutation.reference_answers(source_nb)
    students = {f"student{number:02d}": answers for number in range(1, args.students + 1)}
    with tempfile.TemporaryDirectory(prefix="bench-exchange-") as workdir:
        trip = exchange.round_trip(root, Path(workdir), args.assignment, students, late=list(students)[-1:])
    failed = sorted(student for student, problem in trip.problems.items() if problem)
    missing = sorted(student for student, files in trip.feedback.items() if not files)
    if failed or missing:
        raise grading.GradingError(f"grading failed for {failed}; no feedback fetched by {missing}")
    print(f"{args.assignment}, {args.students} students through the exchange")
    for phase, seconds in trip.seconds.items():
        print(f"{phase:<16}{seconds:>8.2f} s")
    print(f"{'total':<16}{sum(trip.seconds.values()):>8.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
