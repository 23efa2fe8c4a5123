"""What judging hidden checks outside the kernel costs per notebook, against running them in the kernel.

    python benchmarks/bench_judge.py [ASSIGNMENT ...] [--before REV] [--pairs N]

Each assignment's reference submission is autograded by nbgrader, with the course's configuration, in two
scratch courses: one with today's source (hidden parts naming checks in grader.py, judged by the grader
against a warm reference kernel), one with the source notebook as it was at ``--before`` (hidden tests run in
the student's kernel). They are run in turn, A B A B ..., so that a drifting machine load falls on both; the
ratio is taken pair by pair and its median printed. An assignment whose tests have not moved yet compares
the same source with itself, which shows the noise. The first notebook of a grading process also starts the
reference kernel: that one-off cost is printed on its own.
"""

import argparse
import subprocess
import sys
from pathlib import Path

from bench_sandbox import autograde_seconds, paired_medians

from dlcourse import grading, mutation

BEFORE = "39aa193"  # the last commit whose hidden tests all ran in the student's kernel


def old_source(root: Path, assignment_id: str, revision: str) -> str:
    path = f"source/{assignment_id}/{assignment_id}.ipynb"
    return subprocess.run(["git", "-C", str(root), "show", f"{revision}:{path}"], check=True, capture_output=True,
                          text=True).stdout


def pairs(root: Path, assignment_id: str, revision: str, count: int) -> tuple[float, list[tuple[float, float]]]:
    notebook = f"{assignment_id}.ipynb"
    with (mutation.scratch_course(root, assignment_id) as (judged, judged_api, source_nb, release_nb),
          mutation.scratch_course(root, assignment_id) as (in_kernel, _, _, _)):
        (in_kernel / "source" / assignment_id / notebook).write_text(old_source(root, assignment_id, revision))
        (in_kernel / "source" / assignment_id / "grader.py").unlink(missing_ok=True)
        in_kernel_api = grading.api(in_kernel)
        grading.build_release(in_kernel_api, [assignment_id])  # the gradebook learns the old test cells
        submission = mutation.fill_submission(release_nb, mutation.reference_answers(source_nb))
        for course in (judged, in_kernel):
            mutation.write_submission(course, assignment_id, mutation.REFERENCE, submission)
        first = autograde_seconds(judged_api, assignment_id)  # also starts the reference kernel
        autograde_seconds(in_kernel_api, assignment_id)
        return first, [(autograde_seconds(judged_api, assignment_id), autograde_seconds(in_kernel_api, assignment_id))
                       for _ in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    root = grading.find_course_root(Path(__file__).resolve().parent)
    print(f"{'assignment':<32}{'judged (s)':>12}{'in kernel (s)':>15}{'ratio (median of pairs)':>26}"
          f"{'first notebook (s)':>20}")
    for assignment_id in args.assignments or grading.assignments(root):
        first, timed = pairs(root, assignment_id, args.before, args.pairs)
        a, b, ratio = paired_medians(timed)
        print(f"{assignment_id:<32}{a:>12.2f}{b:>15.2f}{ratio:>26.3f}{first:>20.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
