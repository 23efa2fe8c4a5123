"""What the grading sandbox costs per notebook: the reference autograded with it and without it, in pairs.

    python benchmarks/bench_sandbox.py [ASSIGNMENT ...] [--pairs N]

Each assignment's reference submission is autograded by nbgrader with the course's configuration in two
scratch courses that differ in one line, ``c.GuardedExecute.sandbox_kernel = False`` (a plain kernel, the
grading guard and everything else unchanged). The two are run in turn, A B A B ..., so that a drifting
machine load falls on both; the ratio is taken pair by pair and its median printed.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

from dlcourse import grading, mutation

PLAIN_KERNEL = "\nc.GuardedExecute.sandbox_kernel = False\n"


def autograde_seconds(nb_api, assignment_id: str) -> float:
    start = time.perf_counter()
    problems = grading.autograde(nb_api, assignment_id, [mutation.REFERENCE], progress=False)
    seconds = time.perf_counter() - start
    if problems[mutation.REFERENCE]:
        raise grading.GradingError(problems[mutation.REFERENCE])
    cells = [c for c in grading.cell_scores(nb_api, assignment_id)[mutation.REFERENCE].values() if c.auto]
    if any(c.score < c.max_score for c in cells):
        raise grading.GradingError(f"{assignment_id}: the reference lost points")
    return seconds


def pairs(root: Path, assignment_id: str, count: int) -> list[tuple[float, float]]:
    with (mutation.scratch_course(root, assignment_id) as (sandboxed, sandboxed_api, source_nb, release_nb),
          mutation.scratch_course(root, assignment_id) as (plain, _, _, _)):
        with open(plain / grading.CONFIG_FILE, "a") as config:
            config.write(PLAIN_KERNEL)
        plain_api = grading.api(plain)
        submission = mutation.fill_submission(release_nb, mutation.reference_answers(source_nb))
        for course in (sandboxed, plain):
            mutation.write_submission(course, assignment_id, mutation.REFERENCE, submission)
        autograde_seconds(sandboxed_api, assignment_id)  # warm-up: file caches, the sandbox's first probe
        autograde_seconds(plain_api, assignment_id)
        return [(autograde_seconds(sandboxed_api, assignment_id), autograde_seconds(plain_api, assignment_id))
                for _ in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*", default=["a1_gradient_descent"])
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    root = grading.find_course_root(Path(__file__).resolve().parent)
    print(f"{'assignment':<32}{'sandboxed (s)':>15}{'plain kernel (s)':>18}{'ratio (median of pairs)':>26}")
    for assignment_id in args.assignments:
        a, b, ratio = paired_medians(pairs(root, assignment_id, args.pairs))
        print(f"{assignment_id:<32}{a:>15.2f}{b:>18.2f}{ratio:>26.3f}", flush=True)
    return 0


def paired_medians(timed: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Median seconds of A, of B, and the median of the pairs' ratios A / B."""
    return (statistics.median(a for a, _ in timed), statistics.median(b for _, b in timed),
            statistics.median(a / b for a, b in timed))


if __name__ == "__main__":
    sys.exit(main())
