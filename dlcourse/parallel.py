"""Grading a whole class at once: nbgrader's own autograde, many submissions in parallel.

nbgrader autogrades one submission after another and writes to the gradebook as it goes. Here each
submission is graded by nbgrader's ``Autograde`` in a private copy of the course: a *kit* (the config, the
assignment's source and a gradebook that knows the assignment's cells) plus that one submission, so graders
share no file and need no shared disk. Graders are local processes or the workers of a Dask cluster.
Only this process writes to the course's gradebook, one student at a time as results arrive, the way
nbgrader's own preprocessors would (``record``): writes cannot collide, whatever the database, and a batch
that was killed can be rerun; with ``resume`` the students already graded are kept.
"""

import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path

from dlcourse import grading, judge, sandbox

# torch, OpenBLAS and MKL size their thread pools from these; kernels inherit them from their grader.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
KIT_GRADEBOOK = "gradebook.db"


@dataclass(frozen=True)
class Kit:
    """What a grader needs, as files, to grade submissions of one assignment."""

    assignment_id: str
    files: dict[str, bytes]


@dataclass(frozen=True)
class Submission:
    student_id: str
    files: dict[str, bytes]  # the student's submitted/<student>/<assignment>/ folder


@dataclass(frozen=True)
class Result:
    """One graded submission, as the grader's own gradebook recorded it."""

    student_id: str
    ok: bool
    error: str  # nbgrader's error and log when grading failed
    seconds: float
    timestamp: datetime | None
    grades: dict[tuple[str, str], tuple[float | None, bool]]  # (notebook, cell) -> (auto score, needs a person)
    comments: dict[tuple[str, str], str | None]  # (notebook, cell) -> automatic comment
    autograded: dict[str, bytes]  # the autograded/<student>/<assignment>/ folder


def make_kit(root: Path, assignment_id: str) -> Kit:
    """The course's config and the assignment's source, with a gradebook that knows its cells."""
    with tempfile.TemporaryDirectory(prefix=f"kit-{assignment_id}-") as scratch:
        course = Path(scratch)
        shutil.copy(root / grading.CONFIG_FILE, course / grading.CONFIG_FILE)
        shutil.copytree(root / "source" / assignment_id, course / "source" / assignment_id)
        judge.share_secret(root, course)
        grading.build_release(_kit_api(course), [assignment_id])
        shutil.rmtree(course / "release")
        return Kit(assignment_id, _read_tree(course))


def read_submission(root: Path, assignment_id: str, student_id: str, max_mb: int = 200) -> Submission:
    """The student's submitted files, as data: regular files only, never through a link, ``max_mb`` in all."""
    folder = root / "submitted" / student_id / assignment_id
    files, dropped = sandbox.staged_files(folder, max_mb * 2**20, notebooks=True)
    for relative, reason in dropped:
        grading.log.warning("submission of %s: left out %s (%s)", student_id, relative, reason)
    return Submission(student_id, {relative.as_posix(): sandbox.read_regular(folder / relative) for relative in files})


def grade(kit: Kit, submission: Submission, threads: int | None = None) -> Result:
    """Autograde one submission with nbgrader in a scratch course (runs in a grader process)."""
    if threads:
        pin_threads(threads)
    started = time.perf_counter()
    student, assignment_id = submission.student_id, kit.assignment_id
    with tempfile.TemporaryDirectory(prefix=f"grade-{assignment_id}-") as scratch:
        course = Path(scratch)
        _write_tree(course, kit.files)
        _write_tree(course / "submitted" / student / assignment_id, submission.files)
        nb_api = _kit_api(course)
        outcome = nb_api.autograde(assignment_id, student, force=True, create=True)
        timestamp, grades, comments = _recorded_scores(nb_api, assignment_id, student)
        graded = course / "autograded" / student / assignment_id
        return Result(student, bool(outcome.get("success")),
                      "" if outcome.get("success") else f"{outcome.get('error') or ''}\n{outcome.get('log', '')}",
                      time.perf_counter() - started, timestamp, grades, comments,
                      _read_tree(graded) if graded.is_dir() else {})


def record(nb_api, assignment_id: str, result: Result) -> None:
    """Write one grader's result into the course: gradebook first, then the autograded folder.

    The gradebook gets what nbgrader's SaveAutoGrades and AssignLatePenalties would have written, using
    this course's manual grades, extensions and late policy; rows are updated or created, never added twice.
    """
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import AssignLatePenalties

    with Gradebook(nb_api.coursedir.db_url, nb_api.coursedir.course_id) as gradebook:
        student = result.student_id
        gradebook.update_or_create_student(student)
        stamp = {"timestamp": result.timestamp} if result.timestamp else {}
        submission = gradebook.update_or_create_submission(assignment_id, student, **stamp)
        for (notebook, cell), (auto_score, needs_person) in result.grades.items():
            row = gradebook.find_grade(cell, notebook, assignment_id, student)
            row.auto_score = auto_score
            row.needs_manual_grade = needs_person or row.manual_score is not None
        for (notebook, cell), auto_comment in result.comments.items():
            gradebook.find_comment(cell, notebook, assignment_id, student).auto_comment = auto_comment
        gradebook.db.commit()  # notebook scores are read back from the database below

        late_policy = AssignLatePenalties(config=nb_api.config)
        late_policy.init_plugin()
        graded_notebooks = {name for name, _ in result.grades}
        for notebook in submission.notebooks:
            if notebook.name not in graded_notebooks:
                continue
            notebook.late_submission_penalty = None
            if submission.total_seconds_late > 0:
                penalty = late_policy.plugin_inst.late_submission_penalty(
                    student, notebook.score, submission.total_seconds_late)
                if penalty is not None:
                    notebook.late_submission_penalty = min(max(penalty, 0.0), notebook.score)
        gradebook.db.commit()
    graded = Path(nb_api.coursedir.root) / "autograded" / result.student_id / assignment_id
    if result.ok:
        _replace_folder(graded, result.autograded)
    else:  # as nbgrader does: a submission that could not be graded has no autograded folder
        shutil.rmtree(graded, ignore_errors=True)


def already_graded(root: Path, assignment_id: str) -> set[str]:
    """Students with both a gradebook submission and an autograded folder (``record`` writes them in that order)."""
    nb_api = grading.api(root)
    with nb_api.gradebook as gradebook:
        in_gradebook = {s.student.id for s in gradebook.assignment_submissions(assignment_id)}
    return {s for s in in_gradebook if (root / "autograded" / s / assignment_id).is_dir()}


def grade_class(root: Path, assignment_id: str, students: Iterable[str], jobs: int = 2, cluster: str | None = None,
                resume: bool = False, progress: bool = True) -> dict[str, Result]:
    """Autograde ``students`` with ``jobs`` parallel graders and record each result as it arrives.

    ``cluster`` is None for local processes, or a Dask cluster: "local", "slurm" (dask-jobqueue) or a
    scheduler address such as "tcp://10.0.0.5:8786". With ``resume``, students already graded are skipped.
    """
    from tqdm.auto import tqdm

    nb_api = grading.api(root)
    students = sorted(set(students) - (already_graded(root, assignment_id) if resume else set()))
    _check_gradebook_knows(nb_api, assignment_id)
    kit = make_kit(root, assignment_id)
    submissions = (read_submission(root, assignment_id, s) for s in students)
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    results = {}
    runner = _on_dask(cluster, jobs, threads) if cluster else _on_processes(jobs, threads)
    with tqdm(total=len(students), desc=f"autograde {assignment_id} ({jobs} jobs)", unit="student",
              disable=not progress) as bar:
        for result in runner(kit, submissions):
            if result.grades or result.ok:
                record(nb_api, assignment_id, result)
            results[result.student_id] = result
            bar.update()
    return results


def pin_threads(threads: int) -> None:
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)


def _on_processes(jobs: int, threads: int):
    def run(kit: Kit, submissions: Iterable[Submission]) -> Iterator[Result]:
        # spawn: the graders start clean, without this process's threads or open gradebook connections
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=pin_threads,
                                 initargs=(threads,)) as pool:
            futures = {pool.submit(grade, kit, submission): submission.student_id for submission in submissions}
            yield from _results(as_completed(futures), futures)
    return run


def _on_dask(cluster: str, jobs: int, threads: int):
    def run(kit: Kit, submissions: Iterable[Submission]) -> Iterator[Result]:
        from distributed import as_completed

        with dask_client(cluster, jobs) as client:
            print(f"grading on Dask: {client.scheduler.address} ({cluster})")
            shared_kit = client.scatter(kit, broadcast=True)
            futures = {client.submit(grade, shared_kit, submission, threads, key=f"grade-{submission.student_id}",
                                     pure=False): submission.student_id for submission in submissions}
            yield from _results(as_completed(futures), futures)
    return run


def _results(done: Iterable, students: dict) -> Iterator[Result]:
    """Each finished grading's result; a grader that died (not a kernel: nbgrader handles those) fails only
    its own students, who are left out of the gradebook so that a rerun with ``resume`` grades them."""
    for future in done:
        try:
            yield future.result()
        except Exception as error:  # noqa: BLE001 -- whatever killed one grader must not stop the batch
            yield Result(students[future], False, f"the grader died: {type(error).__name__}: {error}", 0.0,
                         None, {}, {}, {})


def dask_client(cluster: str, jobs: int):
    """A Dask client: "local" (``jobs`` worker processes here), "slurm" (``jobs`` SLURM jobs) or an address."""
    from distributed import Client, LocalCluster

    if cluster == "local":
        return Client(LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None))
    if cluster == "slurm":
        return Client(slurm_cluster(jobs))
    return Client(cluster)


def slurm_cluster(jobs: int, memory: str = "8GB", walltime: str = "02:00:00"):
    """``jobs`` SLURM jobs of one single-threaded grader each; queue and account come from dask's config."""
    from dask_jobqueue import SLURMCluster

    cluster = SLURMCluster(cores=1, processes=1, memory=memory, walltime=walltime,
                           job_script_prologue=[f"export {name}=1" for name in THREAD_VARIABLES])
    cluster.scale(jobs=jobs)
    return cluster


def _kit_api(course: Path):
    """An NbGraderAPI on a scratch course, always with its own SQLite gradebook (whatever the course uses)."""
    return grading.api(course, db_url=f"sqlite:///{course / KIT_GRADEBOOK}")


def _recorded_scores(nb_api, assignment_id: str, student: str):
    from nbgrader.api import MissingEntry

    grades, comments = {}, {}
    with nb_api.gradebook as gradebook:
        try:
            submission = gradebook.find_submission(assignment_id, student)
        except MissingEntry:
            return None, grades, comments
        for notebook in submission.notebooks:
            for row in notebook.grades:
                grades[notebook.name, row.name] = (row.auto_score, bool(row.needs_manual_grade))
            for row in notebook.comments:
                comments[notebook.name, row.name] = row.auto_comment
        return submission.timestamp, grades, comments


def _check_gradebook_knows(nb_api, assignment_id: str) -> None:
    from nbgrader.api import MissingEntry

    with nb_api.gradebook as gradebook:
        try:
            gradebook.find_assignment(assignment_id)
        except MissingEntry:
            raise grading.GradingError(f"the gradebook has no assignment {assignment_id}: "
                                       f"run `dlcourse release {assignment_id}` first") from None


def _read_tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _write_tree(folder: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)


def _replace_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Swap in the new autograded folder whole, so a kill leaves the old one or the new one."""
    partial = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    _write_tree(partial, files)
    partial.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
