"""Hostile and broken submissions, and what grading must make of each.

The corpus uses a tiny assignment (three answers, three tests, numpy and torch) instead of a real one:
a submission grades in a few seconds, so every case can have its own student in one course.

    course = make_course(folder)          # nbgrader_config.py of the course + short test limits, released
    write_submissions(course)             # one student per case, plus reference students
    ... autograde every student (serially or in parallel) ...
    problems = judge(course, case, scores, error)   # [] when the case was graded as it should be

``CASES`` is a plain list so that a parallel grader can take the whole corpus as one batch.
"""

import shutil
import socket
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dlcourse import grading, mutation

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "hostile"
TESTS = ("test_add", "test_conv", "test_clip")
REFERENCE_FIRST, REFERENCE_LAST = "reference_first", "reference_last"  # graded before and after the cases
CELL_TIMEOUT, NOTEBOOK_BUDGET, MEMORY_MB = 4, 12, 3072

# Short limits so that the corpus is fast; everything else is the course's own configuration.
TEST_CONFIG = f"""
c.Execute.timeout = {CELL_TIMEOUT}
c.GuardedExecute.notebook_timeout = {NOTEBOOK_BUDGET}
c.SandboxedKernelManager.memory_mb = {MEMORY_MB}
"""


def _answer(grade_id: str, source: str):
    meta = {"grade": False, "solution": True, "locked": False, "grade_id": grade_id, "schema_version": 3}
    return new_code_cell(source, metadata={"nbgrader": meta})


def _test(grade_id: str, source: str, points: int = 1):
    meta = {"grade": True, "solution": False, "locked": True, "points": points, "grade_id": grade_id,
            "schema_version": 3}
    return new_code_cell(source, metadata={"nbgrader": meta})


def source_notebook():
    cells = [
        new_markdown_cell("# A tiny assignment for grading hostile submissions"),
        new_code_cell("import numpy as np\nimport torch\nimport torch.nn.functional as F\nfrom dlcourse import checks"),
        _answer("add", "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION"),
        _test("test_add", 'assert np.allclose(add(np.arange(3), 1), [1, 2, 3]), "add(np.arange(3), 1)"\n'
              "### BEGIN HIDDEN TESTS\n"
              'assert np.allclose(add(np.full(4, 0.5), 2.0), np.full(4, 2.5)), "add on floats"\n'
              "### END HIDDEN TESTS"),
        _answer("conv", "def conv(x, w):\n"
                '    """Cross-correlation as torch.conv2d computes it: stride 1, no padding."""\n'
                "    ### BEGIN SOLUTION\n"
                "    n, _, h, width = x.shape\n"
                "    k, _, kh, kw = w.shape\n"
                "    out = w.reshape(k, -1) @ F.unfold(x, (kh, kw))\n"
                "    return out.reshape(n, k, h - kh + 1, width - kw + 1)\n"
                "    ### END SOLUTION"),
        _test("test_conv", "x = torch.randn(2, 3, 6, 5, generator=torch.Generator().manual_seed(0))\n"
              "w = torch.randn(4, 3, 3, 2, generator=torch.Generator().manual_seed(1))\n"
              "torch.testing.assert_close(conv(x, w), F.conv2d(x, w))\n"
              "### BEGIN HIDDEN TESTS\n"
              'assert torch.allclose(conv(x[:1], w[:2]), torch.conv2d(x[:1], w[:2]), atol=1e-5), "conv"\n'
              "### END HIDDEN TESTS", points=2),
        _answer("clip", "def clip_norm(v, max_norm):\n"
                '    """v scaled down so that its Euclidean norm is at most max_norm."""\n'
                "    ### BEGIN SOLUTION\n"
                "    norm = np.linalg.norm(v)\n"
                "    return v if norm <= max_norm else v * (max_norm / norm)\n"
                "    ### END SOLUTION"),
        _test("test_clip", 'checks.assert_close("clip_norm", clip_norm(np.array([3.0, 4.0]), 1.0), [0.6, 0.8])\n'
              "### BEGIN HIDDEN TESTS\n"
              "clipped = clip_norm(np.array([6.0, 8.0]), 5.0)\n"
              'assert abs(np.linalg.norm(clipped) - 5.0) < 1e-9, "the norm should be max_norm"\n'
              'assert max(abs(clipped - np.array([3.0, 4.0]))) < 1e-9, "the direction should not change"\n'
              "### END HIDDEN TESTS"),
    ]
    notebook = new_notebook(cells=cells)
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


# --- submissions ------------------------------------------------------------------------------------------

Answers = dict[str, str]


@dataclass(frozen=True)
class Case:
    """One hostile submission.

    ``make(release_nb, answers)`` returns the notebook to submit (a NotebookNode, raw text, or None for no
    notebook at all), given the release and the reference answers. ``lose`` maps each test cell that must
    lose its points to a phrase its error output must contain; every other test cell must keep its points.
    ``error`` is a phrase nbgrader's error for the student must contain (the submission cannot be graded);
    ``check(course, student)`` returns problems with anything else the case must not have harmed.
    """

    name: str
    description: str
    make: Callable
    lose: dict = field(default_factory=dict)
    error: str = ""
    check: Callable | None = None


def answered(**changes: str) -> Callable:
    """A submission with the reference answers, some of them replaced (``prefix_add=...`` prepends)."""
    def make(release_nb, answers: Answers):
        filled = dict(answers)
        for key, code in changes.items():
            if key.startswith("prefix_"):
                filled[key[7:]] = code + "\n" + filled[key[7:]]
            elif key.startswith("suffix_"):
                filled[key[7:]] = filled[key[7:]] + "\n" + code
            else:
                filled[key] = code
        return mutation.fill_submission(release_nb, filled)
    return make


def restructured(change: Callable, **answer_changes: str) -> Callable:
    """A submission whose cell list is changed by ``change(cells) -> cells`` after filling the answers."""
    def make(release_nb, answers: Answers):
        notebook = answered(**answer_changes)(release_nb, answers)
        notebook.cells = change(list(notebook.cells))
        return notebook
    return make


def _grade_id(cell) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


def _without(grade_id: str) -> Callable:
    return lambda cells: [c for c in cells if _grade_id(c) != grade_id]


def _edited(grade_id: str, source: str) -> Callable:
    def change(cells):
        for cell in cells:
            if _grade_id(cell) == grade_id:
                cell.source = source
        return cells
    return change


def _duplicated(grade_id: str) -> Callable:
    def change(cells):
        index = next(i for i, c in enumerate(cells) if _grade_id(c) == grade_id)
        return cells[:index + 1] + [nbformat.from_dict(cells[index])] + cells[index + 1:]
    return change


def _moved_to_top(grade_id: str) -> Callable:
    def change(cells):
        moved = [c for c in cells if _grade_id(c) == grade_id]
        return moved + [c for c in cells if _grade_id(c) != grade_id]
    return change


def _kernelspec(name: str, base: Callable) -> Callable:
    def make(release_nb, answers):
        notebook = base(release_nb, answers)
        notebook.metadata.kernelspec = {"name": name, "display_name": name, "language": name}
        return notebook
    return make


def _corrupted(release_nb, answers):
    return nbformat.writes(answered()(release_nb, answers))[:-200] + "\n{ not json"


def _missing(release_nb, answers):
    return None


WRONG_ADD = "def add(a, b):\n    return a - b"
WRONG_CONV = "def conv(x, w):\n    return F.conv2d(x, w.flip(-1))"
WRONG_CLIP = "def clip_norm(v, max_norm):\n    return v"
SLEEP = "import time\ntime.sleep(3.5)"
LOOPBACK_PORT = "LOOPBACK_PORT"  # replaced by a port the grading process listens on: loopback must be cut off too
NETWORK_PROBE = f"""
import socket
for host, port in [("pypi.org", 443), ("127.0.0.1", {LOOPBACK_PORT}), ("localhost", {LOOPBACK_PORT})]:
    try:
        socket.create_connection((host, port), timeout=3).close()
        print(f"NETWORK REACHED {{host}}:{{port}}")
    except OSError as error:
        print(f"network blocked: {{host}}:{{port}}: {{error}}")
"""


def _gradebook_intact(course: Path, student: str) -> list[str]:
    data = (course / "gradebook.db").read_bytes()
    return ["the submission wrote into gradebook.db"] if b"HOSTILE" in data else []


def _others_intact(course: Path, student: str) -> list[str]:
    problems = []
    for path in (course / "submitted" / REFERENCE_LAST / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
                 course / "autograded" / REFERENCE_FIRST / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"):
        if "HOSTILE" in path.read_text():
            problems.append(f"the submission wrote into {path.relative_to(course)}")
    for folder in ("submitted", "autograded"):
        if (course / folder / REFERENCE_FIRST / ASSIGNMENT / "planted.txt").exists():
            problems.append(f"the submission planted a file in {folder}/{REFERENCE_FIRST}")
    return problems


def _network_blocked(course: Path, student: str) -> list[str]:
    notebook = nbformat.read(course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    problems = ["the kernel reached the network"] if "NETWORK REACHED" in text else []
    if text.count("network blocked:") != 3:
        problems.append("the network probe did not report three blocked connections")
    return problems


def _output_capped(course: Path, student: str) -> list[str]:
    path = course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    problems = [] if path.stat().st_size < 2_000_000 else [f"the autograded notebook has {path.stat().st_size} bytes"]
    if "[output truncated: " not in path.read_text():
        problems.append("no '[output truncated: N characters]' note")
    return problems


def _stderr_visible(course: Path, student: str) -> list[str]:
    text = _autograded_text(course, student)
    return [] if "[stderr, does not cost points]" in text and "debugging add" in text else \
        ["the test cell's stderr is not shown, relabelled"]


def _autograded_text(course: Path, student: str) -> str:
    return (course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text()


CASES = [
    Case("answer_cell_mishaps", "in answer cells: an endless loop, a 64 GB allocation, sys.exit()",
         answered(suffix_add="while True:\n    pass", suffix_conv="hog = bytearray(64 * 2**30)",
                  suffix_clip="import sys\nsys.exit(1)")),
    Case("tested_functions_misbehave", "functions the tests call: an endless loop (add), sys.exit() (conv), "
         "allocating until memory runs out (clip)",
         answered(add="def add(a, b):\n    while True:\n        pass",
                  conv="def conv(x, w):\n    import sys\n    sys.exit(1)",
                  clip="def clip_norm(v, max_norm):\n    hog = []\n    while True:\n"
                       "        hog.append(bytearray(2**26))"),
         lose={"test_add": f"stopped after {CELL_TIMEOUT} s", "test_conv": "SystemExit", "test_clip": "MemoryError"}),
    Case("unstoppable_loop", "a loop that swallows the interrupt (KeyboardInterrupt)",
         answered(add="def add(a, b):\n    import time\n    while True:\n        try:\n            time.sleep(0.1)\n"
                      "        except KeyboardInterrupt:\n            pass"),
         lose={"test_add": "did not stop when interrupted and was killed",
               "test_conv": "not run: cell 4 (test_add) could not be stopped",
               "test_clip": "not run: cell 4 (test_add) could not be stopped"}),
    Case("time_budget", "every cell slow: the notebook's budget runs out",
         answered(add=SLEEP + "\ndef add(a, b):\n    time.sleep(1.5)\n    return a + b",
                  prefix_conv=SLEEP, prefix_clip=SLEEP),
         lose={"test_clip": f"time budget of {NOTEBOOK_BUDGET} s ran out"}),
    Case("os_exit", "os._exit() in an answer cell: the kernel process ends",
         answered(prefix_conv="import os\nos._exit(3)"),
         lose={"test_conv": "not run: the kernel died in cell 5 (conv)",
               "test_clip": "not run: the kernel died in cell 5 (conv)"}),
    Case("ipython_exit", "exit() in an answer cell: ipykernel shuts down after the cell",
         answered(suffix_conv="exit()"),
         lose={"test_conv": "not run: exit() or quit() in cell 5 (conv) shut the kernel down",
               "test_clip": "not run: exit() or quit() in cell 5 (conv) shut the kernel down"}),
    Case("segfault", "a segmentation fault in a function a test calls",
         answered(conv="def conv(x, w):\n    import ctypes\n    return ctypes.string_at(0)"),
         lose={"test_conv": "the kernel died while running this cell: a segmentation fault (SIGSEGV)",
               "test_clip": "not run: the kernel died in cell 6 (test_conv)"}),
    Case("deleted_test", "test_conv deleted and a kernelspec that does not exist (nbgrader restores the test "
         "and uses the course's kernel)", _kernelspec("julia-1.9", restructured(_without("test_conv")))),
    Case("edited_and_reordered_tests", "a wrong add with test_add emptied (nbgrader restores it), test_clip moved "
         "above the code it tests",
         restructured(lambda cells: _moved_to_top("test_clip")(_edited("test_add", "pass")(cells)), add=WRONG_ADD),
         lose={"test_add": "add(np.arange(3), 1)", "test_clip": "NameError"}),
    Case("duplicated_test", "test_clip duplicated", restructured(_duplicated("test_clip"))),
    Case("corrupted_json", "the notebook file is not valid JSON", _corrupted, error="Notebook does not appear"),
    Case("missing_notebook", "the submission folder has no notebook", _missing,
         error="No notebooks were matched"),
    Case("noisy_output", "prints 50 million characters; a right add that writes to stderr when a test calls it",
         answered(suffix_conv='print("x" * 50_000_000)',
                  add="def add(a, b):\n    import sys\n    print('debugging add', file=sys.stderr)\n    return a + b"),
         check=lambda course, student: [*_output_capped(course, student), *_stderr_visible(course, student)]),
    Case("replace_numpy_allclose", "a wrong add, numpy.allclose made always true",
         answered(add=WRONG_ADD + "\nnp.allclose = lambda *args, **kwargs: True"),
         lose={t: "numpy.allclose" for t in TESTS}),
    Case("rebind_np", "a wrong add, the name np bound to a fake numpy",
         answered(add=WRONG_ADD + "\nclass FakeNumpy:\n    def __getattr__(self, name):\n"
                                  "        return lambda *args, **kwargs: True\nnp = FakeNumpy()"),
         lose={"test_add": "np (it no longer refers to numpy)", "test_clip": "np (it no longer refers to numpy)"}),
    Case("replace_torch_conv2d", "a wrong conv, torch.conv2d and F.conv2d replaced by it",
         answered(conv=WRONG_CONV.replace("F.conv2d", "_genuine") + "\n_genuine = F.conv2d\n"
                  "torch.conv2d = conv\nF.conv2d = conv\ntorch.nn.functional.conv2d = conv"),
         lose={"test_conv": "torch.conv2d", "test_clip": "torch.nn.functional.conv2d"}),
    Case("replace_torch_assert_close", "a wrong conv, torch.testing.assert_close and torch.allclose made no-ops",
         answered(conv=WRONG_CONV + "\ntorch.testing.assert_close = lambda *args, **kwargs: None\n"
                  "torch.allclose = lambda *args, **kwargs: True"),
         lose={"test_conv": "torch.testing.assert_close", "test_clip": "torch.allclose"}),
    Case("replace_builtins", "a wrong clip, builtins.abs replaced, dlcourse.checks.assert_close a no-op",
         answered(clip=WRONG_CLIP + "\nimport builtins\nbuiltins.abs = lambda x: 0\n"
                  "checks.assert_close = lambda *args, **kwargs: None"),
         lose={"test_clip": "builtins.abs"}),
    Case("shadow_builtin", "a wrong clip, abs and max redefined in the notebook",
         answered(clip=WRONG_CLIP + "\ndef abs(x):\n    return 0\ndef max(x):\n    return 0\n"
                  "import dlcourse.checks\ndlcourse.checks.assert_close = lambda *args, **kwargs: None"),
         lose={"test_clip": "abs (the submission's own abs hides the builtin)"}),
    Case("input_transformer", "an IPython input transformer that turns every later cell into `pass`",
         answered(add=WRONG_ADD + "\nget_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])"),
         lose={t: "IPython's input transformers" for t in TESTS}),
    Case("escape_attempts", "appends to ../../../gradebook.db, overwrites other students' notebooks, "
         "connects to PyPI and to a port on this machine's loopback",
         answered(suffix_add="with open('../../../gradebook.db', 'ab') as db:\n    db.write(b'HOSTILE')",
                  suffix_conv=f"for p in ['../../{REFERENCE_FIRST}/{ASSIGNMENT}/{ASSIGNMENT}.ipynb',\n"
                              f"          '../../../submitted/{REFERENCE_LAST}/{ASSIGNMENT}/{ASSIGNMENT}.ipynb',\n"
                              f"          '../../../submitted/{REFERENCE_FIRST}/{ASSIGNMENT}/planted.txt']:\n"
                              "    try:\n        open(p, 'w').write('HOSTILE')\n"
                              "    except OSError as error:\n        print('refused:', error)",
                  suffix_clip=NETWORK_PROBE),
         check=lambda course, student: [*_gradebook_intact(course, student), *_others_intact(course, student),
                                        *_network_blocked(course, student)]),
]


# --- course and verdicts -----------------------------------------------------------------------------------

def make_course(folder: Path):
    """A released course in ``folder`` holding the tiny assignment; returns its nbgrader API."""
    shutil.copy(ROOT / grading.CONFIG_FILE, folder / grading.CONFIG_FILE)
    with open(folder / grading.CONFIG_FILE, "a") as config:
        config.write(TEST_CONFIG)
    nbformat.write(source_notebook(), _mkdirs(folder / "source" / ASSIGNMENT) / f"{ASSIGNMENT}.ipynb")
    nb_api = grading.api(folder)
    grading.build_release(nb_api, [ASSIGNMENT])
    return nb_api


def _mkdirs(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_submissions(course: Path, listener_port: int) -> list[str]:
    """Every case's submission plus two reference students; returns the students in grading order."""
    release_nb = nbformat.read(course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    answers = mutation.reference_answers(source_notebook())
    reference = mutation.fill_submission(release_nb, answers)
    for student in (REFERENCE_FIRST, REFERENCE_LAST):
        mutation.write_submission(course, ASSIGNMENT, student, reference)
    for case in CASES:
        submission = case.make(release_nb, answers)
        folder = _mkdirs(course / "submitted" / case.name / ASSIGNMENT)
        target = folder / f"{ASSIGNMENT}.ipynb"
        if submission is None:
            (folder / "notes.txt").write_text("I forgot to upload my notebook\n")
        elif isinstance(submission, str):
            target.write_text(submission)
        else:
            target.write_text(nbformat.writes(submission).replace(LOOPBACK_PORT, str(listener_port)))
    return [REFERENCE_FIRST, *(case.name for case in CASES), REFERENCE_LAST]


def loopback_listener() -> socket.socket:
    """A listening socket on this machine's loopback: a sandboxed kernel must not reach it."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    return listener


def reached(listener: socket.socket) -> bool:
    try:
        listener.accept()[0].close()
    except BlockingIOError:
        return False
    return True


def judge(course: Path, case: Case, scores: dict, error: str) -> list[str]:
    """What is wrong with how ``case`` was graded ([] if nothing): lost points, messages, collateral damage."""
    if case.error:
        return [] if case.error in error else [f"expected an error saying {case.error!r}, got {error[-300:]!r}"]
    if error:
        return [f"grading failed: {error.strip().splitlines()[-1]}"]
    problems = []
    lost = {gid for gid, s in scores.items() if s.auto and s.score < s.max_score}
    if lost != set(case.lose):
        problems.append(f"lost points in {sorted(lost)}, expected {sorted(case.lose)}")
    errors = cell_errors(course, case.name)
    for grade_id, phrase in case.lose.items():
        if phrase and phrase not in errors.get(grade_id, ""):
            problems.append(f"{grade_id}: expected {phrase!r} in its error, got {errors.get(grade_id, '')[:300]!r}")
    if case.check:
        problems += case.check(course, case.name)
    return problems


def cell_errors(course: Path, student: str) -> dict[str, str]:
    """{grade_id: the text of its error outputs} in a student's autograded notebook."""
    path = course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    if not path.is_file():
        return {}
    errors = {}
    for cell in nbformat.read(path, as_version=4).cells:
        texts = [f"{o.ename}: {o.evalue}" for o in cell.get("outputs", []) if o.output_type == "error"]
        if texts and _grade_id(cell):
            errors[_grade_id(cell)] = "\n".join(texts)
    return errors


def gradebook_problems(course: Path) -> list[str]:
    """Readable, consistent and without duplicated rows."""
    with sqlite3.connect(f"file:{course / 'gradebook.db'}?mode=ro", uri=True) as db:
        problems = [row[0] for row in db.execute("PRAGMA integrity_check") if row[0] != "ok"]
        duplicates = db.execute(
            "SELECT student_id, COUNT(*) FROM submitted_assignment GROUP BY student_id, assignment_id "
            "HAVING COUNT(*) > 1").fetchall()
        duplicates += db.execute(
            "SELECT notebook_id, cell_id, COUNT(*) FROM grade GROUP BY notebook_id, cell_id "
            "HAVING COUNT(*) > 1").fetchall()
    return problems + [f"duplicated gradebook rows: {row}" for row in duplicates]

