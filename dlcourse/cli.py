"""``dlcourse``: the instructor's command line, run from the course folder.

    dlcourse release [A ...]        source/ -> release/ (nbgrader generate_assignment); the reference's times
    dlcourse samples A              sample submissions in submitted/: reference, untouched, typical mistakes
    dlcourse grade A [--jobs N]     autograde submitted/ (N in parallel, or on a Dask --cluster); print scores
    dlcourse feedback A [--pdf]     feedback HTML (and PDF) in feedback/ (hidden test code left out)
    dlcourse pdf NOTEBOOK [-o PDF]  a notebook as PDF, offline, for handing in (works outside the course too)
    dlcourse check NOTEBOOK         run a notebook as the grader will; say what will differ from your run
    dlcourse export [--to CSV]      grades as CSV for an LMS: per assignment and student, and per student
    dlcourse prove A [--jobs N]     which hidden test catches which bug; correct variants keep full marks
    dlcourse demo                   all of the above for every assignment, then a table of scores
"""

import argparse
import json
import sys
from pathlib import Path

import nbformat

from dlcourse import grading, mutation, parallel, pdf, plugins, preview
from dlcourse.pdf import PDFError
from dlcourse.preprocessors import REFERENCE_TIMES

DEMO_STUDENTS = {
    "reference": "the reference solution",
    "untouched": "the release, handed in untouched",
    "mistakes": "typical mistakes: the first listed bug of every second task",
}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.run in (cmd_pdf, cmd_check):  # students' commands work anywhere, course folder or not
            return args.run(None, args)
        return args.run(grading.find_course_root(Path(args.course) if args.course else None), args)
    except (grading.GradingError, PDFError) as error:
        print(f"dlcourse: {error}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dlcourse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course", help="course folder (default: the nearest with nbgrader_config.py)")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    release = commands.add_parser("release", help="generate the student release")
    release.add_argument("assignments", nargs="*", help="default: every assignment in source/")
    release.add_argument("--keep-times", action="store_true",
                         help="keep source/<a>/reference_times.json as it is (the time limits while grading)")
    release.set_defaults(run=cmd_release)

    samples = commands.add_parser("samples", help="write sample submissions to submitted/")
    samples.add_argument("assignment")
    samples.set_defaults(run=cmd_samples)

    grade = commands.add_parser("grade", help="autograde the submissions of one assignment")
    grade.add_argument("assignment")
    grade.add_argument("--students", nargs="*", help="default: everyone in submitted/")
    grade.add_argument("--jobs", type=int, default=1,
                       help="submissions graded at once (default 1: nbgrader's own autograde, one after another)")
    grade.add_argument("--cluster", help='grade on Dask: "local", "slurm" (dask-jobqueue) or a scheduler address')
    grade.add_argument("--resume", action="store_true", help="skip students already graded (after an interrupted run)")
    grade.set_defaults(run=cmd_grade)

    feedback = commands.add_parser("feedback", help="generate feedback for one assignment")
    feedback.add_argument("assignment")
    feedback.add_argument("--pdf", action="store_true", help="also a PDF next to each feedback HTML")
    feedback.set_defaults(run=cmd_feedback)

    to_pdf = commands.add_parser("pdf", help="a notebook as PDF, offline (for handing in)")
    to_pdf.add_argument("notebook", type=Path)
    to_pdf.add_argument("-o", "--output", type=Path, help="default: next to the notebook, same name")
    to_pdf.set_defaults(run=cmd_pdf)

    check = commands.add_parser("check", help="run a notebook as the grader will (grading mode, time limits, "
                                "visible checks) and list what will differ from your own run")
    check.add_argument("notebook", type=Path)
    check.add_argument("--no-sandbox", action="store_true", help="a plain kernel, where the sandbox cannot start")
    check.set_defaults(run=cmd_check)

    export = commands.add_parser("export", help="export grades to two CSVs for an LMS")
    export.add_argument("--to", default="grades.csv",
                        help="one row per assignment and student: auto, manual, late penalty, total, max")
    export.add_argument("--by-student", help="one row per student, a column per assignment and the overall "
                        "total (default: the --to file with -by-student)")
    export.set_defaults(run=cmd_export)

    prove = commands.add_parser("prove", help="check an assignment's tests against its mutants.py")
    prove.add_argument("assignment")
    prove.add_argument("--jobs", type=int, default=2, help="parallel grading processes (default 2)")
    prove.add_argument("--pack", action="store_true",
                       help="grade variants of different tasks together (faster; mismatches are regraded alone)")
    prove.set_defaults(run=cmd_prove)

    demo = commands.add_parser("demo", help="release, sample submissions, grade, feedback, export")
    demo.set_defaults(run=cmd_demo)
    return parser


def cmd_release(root: Path, args) -> int:
    names = args.assignments or grading.assignments(root)
    for name in [] if args.keep_times else names:  # the grading time limits follow the reference's times
        times = mutation.measure_reference(root, name)
        path = root / "source" / name / REFERENCE_TIMES
        path.write_text(json.dumps(times, indent=1) + "\n")
        slowest = max(times["cells"].values(), default=0.0)
        print(f"{name}: the reference's cells take {times['notebook']:.1f} s in grading mode (the slowest "
              f"{slowest:.1f} s); written to {path.relative_to(root)}")
    grading.build_release(grading.api(root), names)
    print(f"released {', '.join(names)} to {root / 'release'}")
    return 0


def cmd_samples(root: Path, args) -> int:
    written = write_demo_submissions(root, args.assignment)
    print(f"wrote {len(written)} sample submissions of {args.assignment}: {', '.join(written)}")
    return 0


def cmd_grade(root: Path, args) -> int:
    nb_api = grading.api(root)
    students = args.students or grading.submitted_students(root, args.assignment)
    if not students:
        raise grading.GradingError(f"no submissions of {args.assignment} in {root / 'submitted'}")
    if args.jobs > 1 or args.cluster or args.resume:
        results = parallel.grade_class(root, args.assignment, students, jobs=max(1, args.jobs),
                                       cluster=args.cluster, resume=args.resume)
        problems = {student: result.error for student, result in results.items()}
    else:
        problems = grading.autograde(nb_api, args.assignment, students)
    print(score_table(grading.cell_scores(nb_api, args.assignment), args.assignment))
    for student, problem in problems.items():
        if problem:
            print(f"{student}: grading failed: {problem.strip().splitlines()[-1]}")
    return 1 if any(problems.values()) else 0


def cmd_feedback(root: Path, args) -> int:
    problems = grading.generate_feedback(grading.api(root), args.assignment,
                                         grading.submitted_students(root, args.assignment))
    for student, problem in problems.items():
        if problem:
            print(f"{student}: no feedback: {problem.strip().splitlines()[-1]}")
    print(f"feedback in {root / 'feedback'}")
    if args.pdf:
        pages = sorted((root / "feedback").glob(f"*/{args.assignment}/*.html"))
        pdf.html_files_to_pdf(pages)
        print(f"{len(pages)} feedback PDFs written next to the HTML ({pdf.ROUTE})")
    return 1 if any(problems.values()) else 0


def cmd_pdf(_root, args) -> int:
    written = pdf.notebook_to_pdf(args.notebook, args.output)
    print(f"{written} written ({pdf.ROUTE})")
    return 0


def cmd_check(_root, args) -> int:
    if not args.notebook.is_file():
        raise grading.GradingError(f"no notebook {args.notebook}")
    print(f"running {args.notebook} as the grader will; this takes as long as a graded run ...", flush=True)
    report = preview.preview(args.notebook, sandbox=not args.no_sandbox)
    print(report.text())
    return 1 if report.findings else 0


def cmd_export(root: Path, args) -> int:
    by_student = root / args.by_student if args.by_student else plugins.by_student_path(root / args.to)
    path = grading.export_grades(grading.api(root), root / args.to, by_student)
    print(f"grades per assignment and student exported to {path}, per student to {by_student}")
    return 0


def cmd_prove(root: Path, args) -> int:
    outcomes = mutation.prove(root, args.assignment, jobs=max(1, args.jobs), pack=args.pack)
    print(mutation.report(outcomes))
    wrong = [o for o in outcomes if not o.ok]
    print(f"\n{len(outcomes) - len(wrong)} of {len(outcomes)} submissions graded as intended")
    return 1 if wrong else 0


def cmd_demo(root: Path, args) -> int:
    names = grading.assignments(root)
    nb_api = grading.api(root)
    print(f"1. releasing {len(names)} assignment(s): {', '.join(names)}")
    grading.build_release(nb_api, names)
    totals: dict[str, dict[str, tuple[float, float]]] = {}
    for name in names:
        print(f"2. sample submissions of {name}: " + ", ".join(write_demo_submissions(root, name)))
        problems = grading.autograde(nb_api, name, list(DEMO_STUDENTS))
        failed = {s: p for s, p in problems.items() if p}
        if failed:
            raise grading.GradingError(f"autograde of {name} failed for {sorted(failed)}")
        failed = {s: p for s, p in grading.generate_feedback(nb_api, name, DEMO_STUDENTS).items() if p}
        if failed:
            raise grading.GradingError(f"feedback of {name} failed for {sorted(failed)}")
        scores = grading.cell_scores(nb_api, name)
        print(score_table(scores, name))
        for student, cells in scores.items():
            totals.setdefault(student, {})[name] = _auto_total(cells)
    csv_path = grading.export_grades(nb_api, root / "grades.csv")
    print(f"3. feedback in {root / 'feedback'}; grades exported to {csv_path}")
    print("\nAutograded points, students x assignments (written answers await manual grading):")
    print(summary_table(totals, names))
    return 0


def write_demo_submissions(root: Path, assignment_id: str) -> list[str]:
    notebook = f"{assignment_id}.ipynb"
    source_nb = nbformat.read(root / "source" / assignment_id / notebook, as_version=4)
    release_path = root / "release" / assignment_id / notebook
    if not release_path.is_file():
        raise grading.GradingError(f"{release_path} is missing: run `dlcourse release {assignment_id}` first")
    release_nb = nbformat.read(release_path, as_version=4)
    variants = mutation.load_variants(root, assignment_id)
    notebooks = {
        "reference": mutation.fill_submission(release_nb, mutation.reference_answers(source_nb)),
        "untouched": release_nb,
        "mistakes": mutation.typical_mistakes(source_nb, release_nb, variants),
    }
    for student, nb in notebooks.items():
        mutation.write_submission(root, assignment_id, student, nb)
    return list(notebooks)


def _auto_total(cells: dict) -> tuple[float, float]:
    auto = [c for c in cells.values() if c.auto]
    return sum(c.score for c in auto), sum(c.max_score for c in auto)


def score_table(scores: dict, assignment_id: str) -> str:
    """Per student: autograded points per test cell."""
    cells = sorted({gid for per in scores.values() for gid, s in per.items() if s.auto})
    width = max([len(c) for c in cells] + [10])
    students = sorted(scores)
    lines = [f"{assignment_id}: autograded points per test cell",
             f"{'test cell':<{width}}  " + "  ".join(f"{s:>10}" for s in students)]
    for cell in cells:
        row = [scores[s].get(cell) for s in students]
        lines.append(f"{cell:<{width}}  " + "  ".join(
            f"{'-':>10}" if c is None else f"{c.score:>4g} / {c.max_score:<3g}" for c in row))
    totals = [_auto_total(scores[s]) for s in students]
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{got:>4g} / {out:<3g}" for got, out in totals))
    return "\n".join(lines)


def summary_table(totals: dict, assignments: list[str]) -> str:
    width = max(len(s) for s in totals) + 2
    columns = [max(len(a), 9) + 2 for a in assignments]
    lines = [f"{'student':<{width}}" + "".join(f"{a:>{c}}" for a, c in zip(assignments, columns, strict=True))]
    for student in sorted(totals):
        row = totals[student]
        cells = [f"{row[a][0]:g} / {row[a][1]:g}" if a in row else "-" for a in assignments]
        lines.append(f"{student:<{width}}" + "".join(f"{t:>{c}}" for t, c in zip(cells, columns, strict=True)))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
