"""What a submission that never returns costs the grader, against the reference solution, paired in one run.

    python benchmarks/bench_endless_loop.py [--assignment A] [--variant TEXT] [--pairs N]

Grades, N times each and alternating, the reference and the variant of the assignment's mutants.py whose name
contains TEXT (default: a1's while loop without its stopping test) with `nbgrader autograde` in a scratch course,
under the course's limits from the reference (source/<a>/reference_times.json). Prints the median seconds of each,
their ratio, and the cells the variant lost.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

from dlcourse import grading, mutation


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", default="a1_gradient_descent")
    parser.add_argument("--variant", default="never returns")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    root = grading.find_course_root(Path(__file__).resolve().parent)
    variants = [v for v in mutation.load_variants(root, args.assignment) if args.variant in v.name]
    if len(variants) != 1:
        parser.error(f"{len(variants)} variants of {args.assignment} match {args.variant!r}; name one")
    variant = variants[0]
    times = {"reference": [], "variant": []}
    with mutation.scratch_course(root, args.assignment) as (course, nb_api, source_nb, release_nb):
        answers = mutation.reference_answers(source_nb)
        notebooks = {"reference": mutation.fill_submission(release_nb, answers),
                     "variant": mutation.fill_submission(
                         release_nb, dict(answers, **{variant.cell: mutation.apply_variant(variant, answers)}))}
        for pair in range(args.pairs):
            for student, notebook in notebooks.items():
                mutation.write_submission(course, args.assignment, student, notebook)
                start = time.perf_counter()
                problems = grading.autograde(nb_api, args.assignment, [student], progress=False)
                times[student].append(time.perf_counter() - start)
                if problems[student]:
                    raise grading.GradingError(problems[student])
            print(f"pair {pair + 1}: reference {times['reference'][-1]:.1f} s, variant {times['variant'][-1]:.1f} s",
                  flush=True)
        scores = grading.cell_scores(nb_api, args.assignment)["variant"]
    lost = sorted(gid for gid, s in scores.items() if s.auto and s.score < s.max_score)
    reference, looping = statistics.median(times["reference"]), statistics.median(times["variant"])
    print(f"{args.assignment}: reference {reference:.1f} s, '{variant.name}' {looping:.1f} s "
          f"(median of {args.pairs}): {looping / reference:.1f}x; it lost points in {', '.join(lost) or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
