"""Class grading in parallel: the same per-cell scores as nbgrader's serial autograde, on every engine and database.

Each engine grades the same three submissions of assignment 1 (the reference, typical mistakes handed in
three days late, and the untouched release) and must record exactly the scores and late penalties that
serial ``nbgrader autograde`` records.
"""

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import hostile_corpus
import pytest
from conftest import ROOT, free_port

from dlcourse import grading, parallel
from dlcourse.cli import write_demo_submissions

pytestmark = pytest.mark.notebook

A1 = "a1_gradient_descent"
STUDENTS = ["mistakes", "reference", "untouched"]
DUE = datetime(2026, 1, 10, 12, 0)
LATE = "2026-01-12 13:00:00.000000 UTC"  # three started days after DUE


def _course(tmp_path: Path, db_url: str | None = None) -> Path:
    """A course with a1 released and three demo submissions, optionally on another gradebook database."""
    course = tmp_path / "course"
    (course / "source").mkdir(parents=True)
    shutil.copy(ROOT / grading.CONFIG_FILE, course / grading.CONFIG_FILE)
    shutil.copytree(ROOT / "source" / A1, course / "source" / A1)
    if db_url:
        with open(course / grading.CONFIG_FILE, "a") as config:
            config.write(f"\nc.CourseDirectory.db_url = {db_url!r}\n")
    nb_api = grading.api(course)
    grading.build_release(nb_api, [A1])
    with nb_api.gradebook as gradebook:
        gradebook.update_or_create_assignment(A1, duedate=DUE)
    write_demo_submissions(course, A1)
    (course / "submitted" / "mistakes" / A1 / "timestamp.txt").write_text(LATE)
    return course


def _late_penalties(course: Path) -> dict[str, float | None]:
    with grading.api(course).gradebook as gradebook:
        return {s: gradebook.find_submission_notebook(A1, A1, s).late_submission_penalty for s in STUDENTS}


@pytest.fixture(scope="module")
def serial_scores(tmp_path_factory) -> dict:
    """What nbgrader's own autograde, one submission after another, records."""
    course = _course(tmp_path_factory.mktemp("serial"))
    nb_api = grading.api(course)
    assert not any(grading.autograde(nb_api, A1, STUDENTS, progress=False).values())
    scores = grading.cell_scores(nb_api, A1)
    assert {s: sum(c.score for c in scores[s].values() if c.auto) for s in STUDENTS} == \
        {"mistakes": 4, "reference": 16, "untouched": 0}, "the serial baseline itself is off"
    assert _late_penalties(course) == {"mistakes": pytest.approx(1.2), "reference": None, "untouched": None}, \
        "the serial baseline's late penalties are off (3 days at 10% of 4 points)"
    return scores


def _assert_same_as_serial(course: Path, results: dict, serial_scores: dict) -> None:
    failed = {s: r.error for s, r in results.items() if not r.ok}
    assert not failed, f"grading failed: {failed}"
    assert sorted(results) == STUDENTS
    scores = grading.cell_scores(grading.api(course), A1)
    for student in STUDENTS:
        differ = {cell for cell in serial_scores[student] if scores[student].get(cell) != serial_scores[student][cell]}
        assert not differ, f"{student}: cells {sorted(differ)} differ from serial nbgrader autograde"
    assert _late_penalties(course) == {"mistakes": pytest.approx(1.2), "reference": None, "untouched": None}, \
        "late penalties differ from serial nbgrader autograde"
    for student in STUDENTS:
        assert (course / "autograded" / student / A1 / f"{A1}.ipynb").is_file(), f"{student}: no autograded notebook"


def test_two_local_jobs_record_what_serial_autograde_records(tmp_path, serial_scores):
    course = _course(tmp_path)
    results = parallel.grade_class(course, A1, STUDENTS, jobs=2, progress=False)
    _assert_same_as_serial(course, results, serial_scores)


def test_grading_threads_are_pinned_per_job(monkeypatch):
    for name in parallel.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    parallel.pin_threads(3)
    assert {os.environ[name] for name in parallel.THREAD_VARIABLES} == {"3"}


def _wait_for_port(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing answered on 127.0.0.1:{port} within {seconds} s")


@pytest.fixture()
def dask_scheduler():
    """A Dask scheduler and two single-threaded worker processes on loopback."""
    port = free_port()
    bin_dir = Path(sys.executable).parent
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen([bin_dir / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], **quiet)
    address = f"tcp://127.0.0.1:{port}"
    workers = subprocess.Popen([bin_dir / "dask", "worker", address, "--nworkers", "2", "--nthreads", "1",
                                "--no-dashboard", "--host", "127.0.0.1"], **quiet)
    try:
        _wait_for_port(port, 60)
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for process in (workers, scheduler):
            process.terminate()
            process.wait(30)


def test_dask_scheduler_with_two_workers_records_what_serial_autograde_records(tmp_path, serial_scores,
                                                                                dask_scheduler):
    course = _course(tmp_path)
    results = parallel.grade_class(course, A1, STUDENTS, jobs=2, cluster=dask_scheduler, progress=False)
    _assert_same_as_serial(course, results, serial_scores)


@pytest.fixture()
def postgres_url():
    """A throwaway PostgreSQL server (Debian's package) on loopback, trusting local connections."""
    bin_dirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    assert bin_dirs, "PostgreSQL is not installed: run `make setup` (it installs Debian's postgresql)"
    bin_dir = bin_dirs[-1]
    data = Path(tempfile.mkdtemp(prefix="dlcourse-pg-"))
    as_postgres = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(data, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = free_port()

    def run(*command):
        subprocess.run(as_postgres + [str(part) for part in command], check=True, capture_output=True)

    run(bin_dir / "initdb", "-D", data / "db", "--auth=trust", "-U", "grader", "--no-sync")
    run(bin_dir / "pg_ctl", "-D", data / "db", "-w", "-l", data / "server.log",
        "-o", f"-h 127.0.0.1 -p {port} -k {data}", "start")
    try:
        run(bin_dir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "grader", "gradebook")
        yield f"postgresql://grader@127.0.0.1:{port}/gradebook"
    finally:
        run(bin_dir / "pg_ctl", "-D", data / "db", "-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)


def test_postgresql_gradebook_records_what_serial_autograde_records(tmp_path, serial_scores, postgres_url):
    course = _course(tmp_path, db_url=postgres_url)
    assert not (course / "gradebook.db").exists(), "the course should not have used SQLite"
    results = parallel.grade_class(course, A1, STUDENTS, jobs=2, progress=False)
    _assert_same_as_serial(course, results, serial_scores)


def _row_counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("student", "submitted_assignment", "submitted_notebook", "grade", "comment")}


def test_a_killed_batch_completes_on_rerun_without_duplicate_rows(tmp_path, serial_scores):
    course = _course(tmp_path)
    reference_nb = course / "submitted" / "reference" / A1 / f"{A1}.ipynb"
    for twin in ("reference2", "reference3"):  # a longer batch, so the kill lands in the middle of it
        (course / "submitted" / twin / A1).mkdir(parents=True)
        shutil.copy(reference_nb, course / "submitted" / twin / A1)
    students = STUDENTS + ["reference2", "reference3"]
    command = [str(Path(sys.executable).parent / "dlcourse"), "--course", str(course), "grade", A1, "--jobs", "2"]
    batch = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while not list((course / "autograded").glob(f"*/{A1}")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(batch.pid, signal.SIGKILL)  # the grader and its workers and kernels, mid-batch
    batch.wait()
    done_before = parallel.already_graded(course, A1)
    assert 0 < len(done_before) < len(students), f"the kill did not land mid-batch: {sorted(done_before)} done"

    rerun = subprocess.run(command + ["--resume"], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert parallel.already_graded(course, A1) == set(students)
    counts = _row_counts(course / "gradebook.db")
    assert counts["student"] == counts["submitted_assignment"] == counts["submitted_notebook"] == len(students)
    cells = len(serial_scores["reference"])
    assert counts["grade"] == cells * len(students), "grade rows were lost or duplicated"
    scores = grading.cell_scores(grading.api(course), A1)
    for twin in ("reference2", "reference3"):
        assert scores[twin] == serial_scores["reference"], f"{twin} was not graded like the reference"
    for student in STUDENTS:
        assert scores[student] == serial_scores[student], f"{student}'s grades changed across the kill and rerun"
    assert not list((course / "autograded").glob("*/.*.partial")), "a half-written autograded folder was left behind"


def test_a_grader_that_dies_fails_only_its_own_student():
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    died, graded = Future(), Future()
    died.set_exception(BrokenProcessPool("a grader process was killed"))
    fine = parallel.Result("bob", True, "", 1.0, None, {("nb", "cell"): (1.0, False)}, {}, {})
    graded.set_result(fine)
    results = list(parallel._results([died, graded], {died: "alice", graded: "bob"}))
    assert results[1] is fine
    assert results[0].student_id == "alice" and not results[0].ok and not results[0].grades
    assert "grader died" in results[0].error and "killed" in results[0].error


@pytest.fixture(scope="module")
def hostile_batch(tmp_path_factory):
    """The whole hostile corpus (tests/hostile_corpus.py) graded as one batch with two parallel jobs."""
    course = tmp_path_factory.mktemp("hostile-batch")
    nb_api = hostile_corpus.make_course(course)
    listener = hostile_corpus.loopback_listener()
    try:
        students = hostile_corpus.write_submissions(course, listener.getsockname()[1])
        before = hostile_corpus.course_checksums(course)
        results = parallel.grade_class(course, hostile_corpus.ASSIGNMENT, students, jobs=2, progress=False)
        assert not hostile_corpus.reached(listener), "a grading kernel connected to a port on this machine's loopback"
    finally:
        listener.close()
    assert hostile_corpus.course_checksums(course) == before, "the course's config, source or release changed"
    return course, grading.cell_scores(nb_api, hostile_corpus.ASSIGNMENT), {s: r.error for s, r in results.items()}


@pytest.mark.parametrize("case", hostile_corpus.CASES, ids=[case.name for case in hostile_corpus.CASES])
def test_hostile_submission_in_a_parallel_batch_is_graded_as_intended(hostile_batch, case):
    course, scores, errors = hostile_batch
    problems = hostile_corpus.judge(course, case, scores.get(case.name, {}), errors[case.name])
    assert not problems, f"{case.description}:\n" + "\n".join(problems)


def test_a_parallel_batch_with_hostile_submissions_keeps_others_grades_and_the_gradebook(hostile_batch):
    course, scores, errors = hostile_batch
    for student in (hostile_corpus.REFERENCE_FIRST, hostile_corpus.REFERENCE_LAST):
        auto = [s for s in scores[student].values() if s.auto]
        assert errors[student] == "" and auto and all(s.score == s.max_score for s in auto), \
            f"{student} lost points in a batch with hostile submissions: {[s.grade_id for s in auto]}"
    assert not hostile_corpus.gradebook_problems(course)
