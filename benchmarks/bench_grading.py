"""Wall time of autograding each assignment's reference solution with nbgrader, in a scratch course.

    python benchmarks/bench_grading.py [ASSIGNMENT ...]

Prints one row per assignment: seconds for `nbgrader autograde` of the reference submission (kernel start,
grading-mode execution, gradebook writes) and the points it got.
"""

import argparse
import sys
import time
from pathlib import Path

from dlcourse import grading, mutation


def time_reference_autograde(root: Path, assignment_id: str) -> tuple[float, float, float]:
    with mutation.scratch_course(root, assignment_id) as (course, nb_api, source_nb, release_nb):
        submission = mutation.fill_submission(release_nb, mutation.reference_answers(source_nb))
        mutation.write_submission(course, assignment_id, mutation.REFERENCE, submission)
        start = time.perf_counter()
        problems = grading.autograde(nb_api, assignment_id, [mutation.REFERENCE], progress=False)
        seconds = time.perf_counter() - start
        if problems[mutation.REFERENCE]:
            raise grading.GradingError(problems[mutation.REFERENCE])
        cells = grading.cell_scores(nb_api, assignment_id)[mutation.REFERENCE].values()
        auto = [c for c in cells if c.auto]
        return seconds, sum(c.score for c in auto), sum(c.max_score for c in auto)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*")
    args = parser.parse_args()
    root = grading.find_course_root(Path(__file__).resolve().parent)
    print(f"{'assignment':<32}{'autograde reference (s)':>26}{'points':>12}")
    for assignment_id in args.assignments or grading.assignments(root):
        seconds, score, max_score = time_reference_autograde(root, assignment_id)
        print(f"{assignment_id:<32}{seconds:>26.1f}{f'{score:g}/{max_score:g}':>12}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
