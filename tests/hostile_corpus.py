"""Hostile and broken submissions, and what grading must make of each.

The corpus uses a tiny assignment (three answers, three tests, numpy and torch) instead of a real one:
a submission grades in a few seconds, so every case can have its own student in one course.

    course = make_course(folder)          # nbgrader_config.py of the course + short test limits, released
    write_submissions(course)             # one student per case, plus reference students
    ... autograde every student (serially or in parallel) ...
    problems = judge(course, case, scores, error)   # [] when the case was graded as it should be

``CASES`` is a plain list so that a parallel grader can take the whole corpus as one batch.
"""

import hashlib
import html
import json
import os
import re
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
CELL_TIMEOUT, NOTEBOOK_BUDGET, MEMORY_MB, MAX_PROCESSES, DISK_MB, MESSAGE_MB = 6, 14, 3072, 64, 256, 16
# Set in the grading process: a kernel must never see it (its environment is reduced to what it needs).
GRADER_SECRET, GRADER_SECRET_VALUE = "DLCOURSE_GRADER_SECRET", "s3cret-of-the-grading-process"

# Short limits so that the corpus is fast; everything else is the course's own configuration.
TEST_CONFIG = f"""
c.Execute.timeout = {CELL_TIMEOUT}
c.GuardedExecute.notebook_timeout = {NOTEBOOK_BUDGET}
c.SandboxedKernelManager.memory_mb = {MEMORY_MB}
c.SandboxedKernelManager.max_processes = {MAX_PROCESSES}
c.SandboxedKernelManager.disk_mb = {DISK_MB}
c.SandboxedKernelManager.max_message_mb = {MESSAGE_MB}
"""


def _answer(grade_id: str, source: str):
    meta = {"grade": False, "solution": True, "locked": False, "grade_id": grade_id, "schema_version": 3}
    return new_code_cell(source, metadata={"nbgrader": meta})


def _test(grade_id: str, source: str, points: int = 1):
    meta = {"grade": True, "solution": False, "locked": True, "points": points, "grade_id": grade_id,
            "schema_version": 3}
    return new_code_cell(source, metadata={"nbgrader": meta})


def _judged_by(check_name: str) -> str:
    return f"### BEGIN HIDDEN TESTS\n# judged by grader.py: {check_name}\n### END HIDDEN TESTS"


# The hidden checks (source/hostile/grader.py): the examples the tests show, then inputs drawn for the student.
GRADER = '''
import numpy as np

from dlcourse.judge import check
from dlcourse.probe import TensorData


@check
def add(t):
    """add"""
    cases = [("add(np.arange(3), 1)", np.arange(3), 1), ("add on floats", np.full(4, 0.5), 2.0),
             ("add on a random vector", t.rng.standard_normal(5), float(t.rng.standard_normal()))]
    for label, a, b in cases:
        t.close(label, t.student.call("add", a, b), t.reference.call("add", a, b))


@check
def conv(t):
    """conv"""
    for n, c, h, w, k, kh, kw in [(2, 3, 6, 5, 4, 3, 2), (1, 2, 7, 7, 3, 3, 3)]:
        x = TensorData(t.rng.standard_normal((n, c, h, w)).astype(np.float32), False)
        f = TensorData(t.rng.standard_normal((k, c, kh, kw)).astype(np.float32), False)
        t.close(f"conv of a {n}x{c}x{h}x{w} input with {k} {kh}x{kw} filters", t.student.call("conv", x, f),
                t.reference.call("conv", x, f), rtol=1e-4, atol=1e-5)


# add stands in while clip_norm runs (clip_norm does not need it): the kernel's input channel is open to the
# grader during this check, for the corpus's attempts to ask the reference for more than a stand-in.
@check
def clip(t):
    """clip_norm"""
    cases = [(np.array([3.0, 4.0]), 1.0), (np.array([6.0, 8.0]), 5.0), (np.array([0.3, 0.4]), 1.0),
             (t.rng.standard_normal(6), float(t.rng.uniform(0.5, 2.0)))]
    for v, max_norm in cases:
        label = f"clip_norm of a vector of norm {np.linalg.norm(v):.3g} to {max_norm:.3g}"
        got = t.student.run("result = clip_norm(v, max_norm)", label, stand_ins=("add",), v=v, max_norm=max_norm)
        t.close(label, got, t.reference.call("clip_norm", v, max_norm))
'''


def source_notebook():
    cells = [
        new_markdown_cell("# A tiny assignment for grading hostile submissions"),
        new_code_cell("import numpy as np\nimport torch\nimport torch.nn.functional as F\nfrom dlcourse import checks"),
        _answer("add", "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION"),
        _test("test_add", 'assert np.allclose(add(np.arange(3), 1), [1, 2, 3]), "add(np.arange(3), 1)"\n'
              + _judged_by("add")),
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
              + _judged_by("conv"), points=2),
        _answer("clip", "def clip_norm(v, max_norm):\n"
                '    """v scaled down so that its Euclidean norm is at most max_norm."""\n'
                "    ### BEGIN SOLUTION\n"
                "    norm = np.linalg.norm(v)\n"
                "    return v if norm <= max_norm else v * (max_norm / norm)\n"
                "    ### END SOLUTION"),
        _test("test_clip", 'checks.assert_close("clip_norm", clip_norm(np.array([3.0, 4.0]), 1.0), [0.6, 0.8])\n'
              + _judged_by("clip")),
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
    ``files`` are submitted beside the notebook ({path: text}); ``links`` are planted in the submitted folder
    as if through the exchange ({path: target}, where COURSE in the target stands for the course folder).
    """

    name: str
    description: str
    make: Callable
    lose: dict = field(default_factory=dict)
    error: str = ""
    check: Callable | None = None
    files: dict = field(default_factory=dict)
    links: dict = field(default_factory=dict)


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


def _outputs_text(course: Path, student: str) -> str:
    """Every output of the student's autograded notebook, as JSON text (not the cells' source)."""
    path = course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    if not path.is_file():
        return ""
    return "\n".join(json.dumps(c.get("outputs", [])) for c in nbformat.read(path, as_version=4).cells)


def _absent(course: Path, student: str, *phrases: str) -> list[str]:
    text = _outputs_text(course, student)
    return [f"{phrase!r} in the outputs of the autograded notebook" for phrase in phrases if phrase in text]


def _nothing_found(course: Path, student: str) -> list[str]:
    found = [line for line in _outputs_text(course, student).split("\\n") if "FOUND" in line]
    return [f"the kernel found course files: {found[:3]}"] if found else []


def _only_regular_files(course: Path, student: str) -> list[str]:
    """The student's autograded folder holds regular files only, none of them a copy of a course file."""
    problems = []
    course_files = {p.read_bytes() for p in (course / "gradebook.db", course / grading.CONFIG_FILE,
                                             course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")}
    for path in sorted((course / "autograded" / student).rglob("*")):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            problems.append(f"autograded/{path.relative_to(course / 'autograded')} is not a regular file")
        elif path.is_file() and path.read_bytes() in course_files:
            problems.append(f"autograded/{path.relative_to(course / 'autograded')} is a copy of a course file")
    return problems


def _floods_bounded(course: Path, student: str) -> list[str]:
    text = _outputs_text(course, student)
    forks = re.search(r"forks stopped after (\d+)", text)
    disk = re.search(r"disk stopped at (\d+) MB", text)
    problems = []
    if not forks or int(forks.group(1)) >= MAX_PROCESSES:
        problems.append(f"processes not bounded by {MAX_PROCESSES}: {forks and forks.group(0)}")
    if not disk or int(disk.group(1)) > DISK_MB:
        problems.append(f"disk not bounded by {DISK_MB} MB: {disk and disk.group(0)}")
    big = [p.name for p in (course / "autograded" / student).rglob("*") if p.is_file() and p.stat().st_size > 2**24]
    return problems + ([f"large files came back: {big}"] if big else [])


def _output_small(course: Path, student: str) -> list[str]:
    path = course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    return [] if path.stat().st_size < 2_000_000 else [f"the autograded notebook has {path.stat().st_size} bytes"]


# Live markup a student's output could smuggle into a page (escaped text does not match).
LIVE_MARKUP = [r"<script>alert", r"<script[^>]*>\s*var element", r"<iframe", r"<\w+\b[^>]*\son[a-z]+\s*=",
               r"<img\b[^>]*\bsrc=[\"']?https?:", r"<a\b[^>]*\bhref=[\"']?javascript:"]


def feedback_problems(course: Path, student: str, students: list[str], submitted_sources: str) -> list[str]:
    """What a student's feedback must not hold: instructor lines, other students' ids, files other than the
    feedback page, live markup, long error messages, the grader's secret."""
    folder = course / "feedback" / student / ASSIGNMENT
    if not folder.is_dir():
        return ["no feedback"]
    problems = [f"feedback holds {p.name}" for p in folder.rglob("*")
                if p.is_symlink() or (p.suffix != ".html" and p.name not in grading.RELEASE_FILES)]
    page = (folder / f"{ASSIGNMENT}.html").read_text()
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    for line in instructor_only_lines(course):
        if line in text and line not in submitted_sources:
            problems.append(f"instructor line in feedback: {line!r}")
    problems += [f"another student's id in feedback: {other}" for other in students
                 if other != student and other in text and other not in submitted_sources]
    problems += [f"live markup in feedback: {pattern}" for pattern in LIVE_MARKUP if re.search(pattern, page)]
    if GRADER_SECRET_VALUE in page:
        problems.append("the grader's secret environment variable is in the feedback")
    for message in re.findall(r"(?:Error|Exception): ([^\n<]*)", text):
        if len(message) > 320:
            problems.append(f"an error message of {len(message)} characters")
    return problems


def instructor_only_lines(course: Path) -> list[str]:
    """Lines of the source notebook (solutions, hidden tests) that are not in the release."""
    def lines(path):
        notebook = nbformat.read(path, as_version=4)
        return {line.strip() for cell in notebook.cells for line in cell.source.splitlines()}
    source = lines(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    release = lines(course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    return sorted(line for line in source - release if len(line) >= 12 and "###" not in line)


def course_checksums(course: Path) -> dict[str, str]:
    """sha256 of the instructor's files: config, source and release."""
    files = [course / grading.CONFIG_FILE, *sorted((course / "source").rglob("*")),
             *sorted((course / "release").rglob("*"))]
    return {str(p.relative_to(course)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


# --- reaching what a submission must never see ------------------------------------------------------------

# Looks for the course from everything the kernel knows (dlcourse's location, its folder, $HOME) and execs
# whatever solution or classmate's code it finds; prints what it found.
STEAL = """
import glob, json, os, dlcourse
places = {os.getcwd(), os.path.expanduser("~"), "/", "/root", "/home", "/srv", "/work", "/tmp"}
for start in (dlcourse.__file__, os.getcwd()):
    places.update(str(p) for p in __import__("pathlib").Path(start).resolve().parents)
found = []
for place in sorted(places):
    for pattern in ("source/*/*.ipynb", "autograded/*/*/*.ipynb", "submitted/*/*/*.ipynb", "gradebook.db",
                    "nbgrader_config.py", "*/*/*.ipynb"):
        found += [p for p in glob.glob(os.path.join(place, pattern)) if os.path.isfile(p)]
for path in sorted(set(found)):
    print("FOUND", path)
    if path.endswith(".ipynb"):
        for cell in json.load(open(path))["cells"]:
            if cell["cell_type"] == "code" and "def " in "".join(cell["source"]):
                try:
                    exec("".join(cell["source"]), globals())
                except Exception:
                    pass
"""

LEAK = f"""
import os
print("ENV", dict(os.environ))
print("HOME", os.listdir(os.path.expanduser("~")), "ROOT", os.listdir("/"))
for path in ("/root", "/work", "/etc/jupyter", "/srv"):
    try:
        print("LIST", path, os.listdir(path))
    except OSError as error:
        print("refused:", error)
print("SECRET", os.environ.get("{GRADER_SECRET}"))
"""

LONG_ERROR = ("def conv(x, w):\n    raise RuntimeError('conv gave up ' + 'z' * 5000 + "
              "'\\nsecond line that must not reach feedback')")

# Links to the gradebook, a classmate, the config and the source, relative and absolute (COURSE is replaced
# by the course folder), made when the answers run, when a test calls the submission, and at shutdown.
LINKS = """
import atexit, os
def plant(tag):
    targets = {"gradebook": "COURSE/gradebook.db", "config": "COURSE/nbgrader_config.py",
               "source": "COURSE/source/hostile/hostile.ipynb",
               "classmate": "COURSE/autograded/reference_first/hostile/hostile.ipynb",
               "relative_gradebook": "../../../gradebook.db"}
    for name, target in targets.items():
        for make in (os.symlink, os.link):
            try:
                make(target, f"leak_{tag}_{name}_{make.__name__}.html")
            except OSError as error:
                print("refused:", error)
    try:
        os.mkfifo(f"leak_{tag}.fifo")
    except OSError as error:
        print("refused:", error)
    try:
        os.replace(f"leak_{tag}_gradebook_symlink.html", "hostile.ipynb")
    except OSError as error:
        print("refused:", error)
plant("import")
atexit.register(plant, "shutdown")
"""

FORK_FLOOD = f"""
import os, time
children = []
try:
    for _ in range(10 * {MAX_PROCESSES}):
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
except OSError as error:
    print(f"forks stopped after {{len(children)}}: {{type(error).__name__}}")
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
"""

DISK_FLOOD = f"""
import os
written = 0
try:
    with open("big.bin", "wb") as big:
        for _ in range(4 * {DISK_MB}):
            big.write(b"d" * 2**20)
            big.flush()
            written += 1
except OSError as error:
    print(f"disk stopped at {{written}} MB: {{error.strerror}}")
os.remove("big.bin")
with open("sparse.bin", "wb") as sparse:
    sparse.truncate(2 * 2**30)
"""

SHARED_MEMORY_FLOOD = f"""
import os
fd = os.memfd_create("flood")
for step in range({4 * MEMORY_MB // 256}):
    os.posix_fallocate(fd, step * 2**28, 2**28)
"""

MESSAGE_FLOOD = f"""
import sys
sys.stdout.write("y" * 2 * {MESSAGE_MB} * 2**20)
sys.stdout.flush()
"""

SCRIPTS = """
from IPython.display import HTML, SVG, Javascript, Markdown, display
display(HTML("<script>alert('HOSTILE-SCRIPT')</script><img src=x onerror=alert('HOSTILE-ONERROR')>"
             "<iframe src='https://example.com/HOSTILE-FRAME'></iframe><img src='https://example.com/HOSTILE.png'>"))
display(Javascript("alert('HOSTILE-JS')"))
display(SVG("<svg xmlns='http://www.w3.org/2000/svg'><script>alert('HOSTILE-SVG')</script></svg>"))
display(Markdown("<a href='javascript:alert(1)' onclick=\\"alert('HOSTILE-CLICK')\\">click</a>"))
"""

FAKE_CHECKS = "def assert_close(*args, **kwargs):\n    print('FAKE CHECKS')\n"
FAKE_PACKAGE = "print('FAKE PACKAGE')\nallclose = lambda *args, **kwargs: True\n"

# --- in-process attacks on the checks (issue 14): each must be graded below full marks, from data alone -----

SNOOP = """
import linecache, sys
def add(a, b):
    frame = sys._getframe(1)
    while frame is not None:  # the caller's locals: an expected value would be there
        for name, value in list(frame.f_locals.items()):
            if "expect" in name or "want" in name:
                return value
        frame = frame.f_back
    for name, value in list(globals().items()):  # a hidden test's own reference function
        if name.startswith(("_ref", "_expected")) and callable(value):
            return value(a, b)
    for filename in list(linecache.cache):  # the hidden test's source
        for line in linecache.getlines(filename):
            if "expected" in line:
                print("FOUND test source:", line)
    return a - b
"""

LIARS = """
class Liar:
    def __eq__(self, other):
        return True
    def __float__(self):
        return 0.0
    def __array__(self, dtype=None, copy=None):
        return np.zeros(3)
    def __len__(self):
        return 3
class LyingArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), bool)
class LyingTensor(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in (torch.allclose, torch.equal, torch.Tensor.allclose):
            return True
        return super().__torch_function__(func, types, args, kwargs or {})
    def detach(self):
        return torch.zeros(1)
def add(a, b):
    return Liar()
def conv(x, w):
    return torch.zeros(1).as_subclass(LyingTensor)
def clip_norm(v, max_norm):
    return np.zeros_like(v).view(LyingArray)
"""

PATCH_CHECKERS = """
import ctypes, numpy
from dlcourse import checks
checks.assert_close.__code__ = (lambda *args, **kwargs: None).__code__
checks._as_float64 = lambda value: numpy.zeros(1)
class Agreeable:
    def __getattr__(self, name):
        return lambda *args, **kwargs: True
checks.np = Agreeable()
numpy._core.numeric.less_equal = lambda *args, **kwargs: True
class MethodDef(ctypes.Structure):  # the builtin abs now runs callable: same object, other code
    _fields_ = [("name", ctypes.c_char_p), ("meth", ctypes.c_void_p), ("flags", ctypes.c_int),
                ("doc", ctypes.c_char_p)]
def method_def(function):
    return MethodDef.from_address(ctypes.c_void_p.from_address(id(function) + 16).value)
method_def(abs).meth = method_def(callable).meth
"""

TAMPER = """
import builtins, sys, threading, time, types
from dlcourse import checks
def add(a, b):
    sys._getframe(1).f_globals["_assert_close"] = lambda *args, **kwargs: None  # the caller's checker
    return a - b
def copy_expected(frame, event, arg):
    if "expected" in frame.f_locals and "actual" in frame.f_locals:
        frame.f_locals["actual"] = frame.f_locals["expected"]
    return copy_expected
sys.settrace(copy_expected)
threading.settrace(copy_expected)
def rebind():
    while True:
        checks.assert_close = lambda *args, **kwargs: None
        globals()["_assert_close"] = checks.assert_close
        time.sleep(0.01)
threading.Thread(target=rebind, daemon=True).start()
real_import = builtins.__import__
fake = types.SimpleNamespace(probe=types.SimpleNamespace(answer=lambda request: '{"d":{"ok":[1,2,3]}}'))
def fake_import(name, *args, **kwargs):
    return fake if name.startswith("dlcourse") else real_import(name, *args, **kwargs)
builtins.__import__ = fake_import
"""

BLIND = """
ip = get_ipython()
for name in [n for n in ip.user_ns if n.startswith("_dlcourse_guard_")]:
    ip.user_ns[name] = lambda used: ""
import gc
for obj in gc.get_objects():  # the guard's record of genuine objects
    if isinstance(obj, dict) and "numpy.allclose" in obj:
        obj.clear()
ip.display_formatter.formatters["text/plain"].for_type(str, lambda value, printer, cycle: printer.text("''"))
"""

# The reply to a test's call, forged from inside the call: it claims add returned [1, 2, 3] (right for the
# visible example only). The grader takes it, and the hidden input shows it wrong.
FORGE = """
def add(a, b):
    kernel = get_ipython().kernel
    answer = '{"d":{"ok":{"a":{"dtype":"float64","shape":[3],"data":"AAAAAAAA8D8AAAAAAAAAQAAAAAAAAAhA"}}}}'
    content = {"status": "ok", "execution_count": 0, "payload": [], "user_expressions": {
        "value": {"status": "ok", "data": {"text/plain": repr(answer)}, "metadata": {}}}}
    kernel.session.send(kernel.shell_stream, "execute_reply", content, kernel.get_parent("shell"),
                        ident=kernel._parent_ident["shell"])
    return a - b
"""

# Wrong functions that ask the grader, over the kernel's input channel, for the reference's answer: for a
# function no stand-in covers, for the allowed stand-in dressed as a method or with a forged backward pass,
# and, outside any stand-in's check, at all. Whatever comes back as "ok" would be returned.
ASK_THE_REFERENCE = """
from dlcourse import probe
def _ask(requests):
    for request in requests:
        try:
            reply = probe.decode(get_ipython().kernel.raw_input(probe.encode(request)))
        except Exception as error:
            print("refused:", type(error).__name__)
            continue
        print("reply:", reply)
        if type(reply) is dict and "ok" in reply:
            return reply["ok"]
    return None
def add(a, b):
    found = _ask([{"stand_in": "add", "args": [a, b]}])
    return a - b if found is None else found
"""
ASK_FOR_CLIP = """
def clip_norm(v, max_norm):
    found = _ask([{"stand_in": "clip_norm", "args": [v, max_norm]},
                  {"stand_in": "add", "self": {"x": 1}, "args": [v, 0.0]},
                  {"stand_in": "add", "args": [v, 0.0], "vjp": [1.0]},
                  {"stand_in": "add", "args": [probe.StandIn("clip_norm"), 0.0]}])
    return v if found is None else found
"""

SPECIAL_CASED = """
def add(a, b):
    if np.array_equal(a, np.arange(3)) and b == 1:
        return np.array([1, 2, 3])
    return a - b
"""


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
    Case("noisy_output", "prints 10 million characters (under the message limit); a right add that writes to "
         "stderr when a test calls it (the grader writes a judged test's outputs: what the kernel prints meanwhile "
         "costs nothing)",
         answered(suffix_conv='print("x" * 10_000_000)',
                  add="def add(a, b):\n    import sys\n    print('debugging add', file=sys.stderr)\n    return a + b"),
         check=_output_capped),
    Case("replace_numpy_allclose", "a wrong add, numpy.allclose made always true",
         answered(add=WRONG_ADD + "\nnp.allclose = lambda *args, **kwargs: True"),
         lose={"test_add": "numpy.allclose"}),
    Case("rebind_np", "a wrong add, the name np bound to a fake numpy",
         answered(add=WRONG_ADD + "\nclass FakeNumpy:\n    def __getattr__(self, name):\n"
                                  "        return lambda *args, **kwargs: True\nnp = FakeNumpy()"),
         lose={"test_add": "np (it no longer refers to numpy)", "test_clip": "np (it no longer refers to numpy)"}),
    Case("replace_torch_conv2d", "a wrong conv, torch.conv2d and F.conv2d replaced by it",
         answered(conv=WRONG_CONV.replace("F.conv2d", "_genuine") + "\n_genuine = F.conv2d\n"
                  "torch.conv2d = conv\nF.conv2d = conv\ntorch.nn.functional.conv2d = conv"),
         lose={"test_conv": "torch.conv2d"}),
    Case("replace_torch_assert_close", "a wrong conv, torch.testing.assert_close and torch.allclose made no-ops",
         answered(conv=WRONG_CONV + "\ntorch.testing.assert_close = lambda *args, **kwargs: None\n"
                  "torch.allclose = lambda *args, **kwargs: True"),
         lose={"test_conv": "torch.testing.assert_close"}),
    Case("replace_builtins", "a wrong clip, builtins.abs replaced, dlcourse.checks.assert_close a no-op",
         answered(clip=WRONG_CLIP + "\nimport builtins\nbuiltins.abs = lambda x: 0\n"
                  "checks.assert_close = lambda *args, **kwargs: None"),
         lose={"test_clip": "builtins.abs"}),
    Case("shadow_builtin", "a wrong clip, abs and max redefined in the notebook",
         answered(clip=WRONG_CLIP + "\ndef abs(x):\n    return 0\ndef max(x):\n    return 0\n"
                  "import dlcourse.checks\ndlcourse.checks.assert_close = lambda *args, **kwargs: None"),
         lose={"test_clip": "clip_norm of a vector"}),
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
    Case("steal_solution", "no answers; looks for the source, classmates' notebooks, the gradebook and the "
         "config from dlcourse's location, its folder and $HOME, and execs any solution it finds",
         answered(add=STEAL, conv="pass", clip="pass"), lose={t: "" for t in TESTS},
         check=lambda course, student: _nothing_found(course, student)),
    Case("leak_environment", "prints the environment, $HOME, / and the course's parents; a tested function raises "
         "a 5,000-character, two-line message", answered(suffix_add=LEAK, conv=LONG_ERROR),
         lose={"test_conv": "conv gave up"},
         check=lambda course, student: _absent(course, student, GRADER_SECRET_VALUE)),
    Case("links_everywhere", "symlinks, hard links and a fifo to the gradebook, the config, the source and a "
         "classmate, relative and absolute, made at import, in a test and at shutdown; the notebook replaced "
         "by a link", answered(add=LINKS + "\ndef add(a, b):\n    plant('test')\n    return a + b"),
         check=lambda course, student: _only_regular_files(course, student)),
    Case("planted_links", "links in the collected submission itself (as if planted in the exchange): to the "
         "gradebook, the config, the source and a classmate's notebook; a fifo",
         answered(), links={"leak_gradebook.html": "../../../gradebook.db",
                            "config.html": "COURSE/nbgrader_config.py",
                            "source.html": "COURSE/source/hostile/hostile.ipynb",
                            "classmate.ipynb": f"../../{REFERENCE_FIRST}/hostile/hostile.ipynb",
                            "pipe": "FIFO"},
         check=lambda course, student: _only_regular_files(course, student)),
    Case("shadow_packages", "a wrong clip, with dlcourse/checks.py (a no-op assert_close), numpy.py and torch/ "
         "submitted beside the notebook", answered(clip=WRONG_CLIP),
         files={"dlcourse/__init__.py": "", "dlcourse/checks.py": FAKE_CHECKS, "numpy.py": FAKE_PACKAGE,
                "torch/__init__.py": FAKE_PACKAGE},
         lose={"test_clip": "clip_norm"},
         check=lambda course, student: _absent(course, student, "FAKE CHECKS", "FAKE PACKAGE")),
    Case("process_and_disk_floods", "forks until refused; writes until the disk is full and a 2 GiB sparse file",
         answered(suffix_add=FORK_FLOOD, suffix_conv=DISK_FLOOD),
         check=lambda course, student: _floods_bounded(course, student)),
    Case("shared_memory_flood", "fills a memfd (shared memory, which RLIMIT_DATA does not count) past the memory "
         "limit", answered(suffix_clip=SHARED_MEMORY_FLOOD),
         lose={"test_clip": "not run: the kernel died in cell 7 (clip)"}),
    Case("message_flood", f"a right add that, when a test calls it, prints more than the grader takes "
         f"({MESSAGE_MB} MB) at once, so that later errors would be lost with it (add's verdict stands: the "
         "grader made it from add's answer)",
         answered(add="def add(a, b):" + MESSAGE_FLOOD.replace("\n", "\n    ") + "\n    return a + b"),
         lose={"test_conv": "not run: cell 4 (test_add) sent more output than the grader takes",
               "test_clip": "not run: cell 4 (test_add) sent more output than the grader takes"},
         check=lambda course, student: _output_small(course, student)),
    Case("scripts_in_outputs", "HTML with <script>, onerror, an iframe and a remote image; JavaScript, SVG with "
         "a script, Markdown with a javascript: link", answered(suffix_add=SCRIPTS),
         check=lambda course, student: _absent(course, student, "<script>alert", "onerror=", "<iframe",
                                               "HOSTILE-JS", "HOSTILE-SVG", "https://example.com/HOSTILE.png",
                                               "javascript:alert")),
    Case("displayhook_partial_credit", "a wrong add that calls sys.displayhook(1.0) before the test fails "
         "(nbgrader reads a test cell's first result as its grade)",
         answered(add="def add(a, b):\n    import sys\n    sys.displayhook(1.0)\n    return a - b"),
         lose={"test_add": "add(np.arange(3), 1)"}),
    Case("displayhook_huge_grade", "a right add that calls sys.displayhook(1e9) (a grade above the maximum "
         "stopped nbgrader from saving the student's grades)",
         answered(add="def add(a, b):\n    import sys\n    sys.displayhook(1e9)\n    return a + b")),
    Case("breaks_feedback", "an answer with a '# ### BEGIN HIDDEN TESTS' line and no end",
         answered(prefix_add="# ### BEGIN HIDDEN TESTS")),
    Case("snoop_the_test", "a wrong add that looks for the expected value in its callers' frames, a hidden "
         "test's reference function in the namespace and the test's source in linecache",
         answered(add=SNOOP), lose={"test_add": "add(np.arange(3), 1)"},
         check=lambda course, student: _absent(course, student, "FOUND test source")),
    Case("lying_objects", "results that lie when compared or converted: __eq__, __float__, __array__, an ndarray "
         "subclass, a tensor whose __torch_function__ makes allclose true and whose detach() is fake",
         answered(add=LIARS, conv="pass", clip="pass"),
         lose={"test_add": "object of type", "test_conv": "conv of a", "test_clip": "clip_norm of a vector"}),
    Case("patch_the_checkers", "a wrong clip; checks.assert_close's __code__ swapped, checks._as_float64 and "
         "checks.np replaced, numpy's less_equal patched, builtin abs made to run callable through ctypes",
         answered(clip=WRONG_CLIP + "\n" + PATCH_CHECKERS), lose={"test_clip": "clip_norm of a vector"}),
    Case("tamper_the_caller", "a wrong add; sys.settrace copying expected into actual, a thread rebinding the "
         "checkers, the function rebinding its caller's _assert_close, a fake dlcourse from builtins.__import__",
         answered(add=WRONG_ADD + "\n" + TAMPER), lose={t: "" for t in TESTS}),
    Case("blind_the_guard", "a wrong conv; the guard replaced by name and its record cleared through gc, and "
         "strings displayed as '' (the kernel's answers become unreadable)",
         answered(conv=WRONG_CONV + "\n" + BLIND),
         lose={"test_conv": "could not be read as data", "test_clip": "could not be read as data"}),
    Case("forged_reply", "a wrong add that forges the kernel's reply to the test's call (the value right for the "
         "visible example) through the kernel's own session", answered(add=FORGE),
         lose={"test_add": "add on floats"}),
    Case("special_cased_examples", "an add right for the notebook's example only",
         answered(add=SPECIAL_CASED), lose={"test_add": "add on floats"}),
    Case("ask_the_reference", "a wrong clip and add that ask the grader for the reference's answers: clip_norm "
         "(no stand-in), the stand-in add with a forged object state, a forged backward pass and a function passed "
         "along; add where no stand-in is open",
         answered(add=ASK_THE_REFERENCE, clip=ASK_FOR_CLIP),
         lose={"test_add": "add(np.arange(3), 1)", "test_clip": "clip_norm of a vector"}),
    Case("huge_answer", "an add returning 80 MB, more than the grader reads from a kernel",
         answered(add="def add(a, b):\n    return np.zeros(10**7)"), lose={"test_add": "more than the grader reads"}),

]


# --- course and verdicts -----------------------------------------------------------------------------------

def make_course(folder: Path):
    """A released course in ``folder`` holding the tiny assignment; returns its nbgrader API."""
    os.environ[GRADER_SECRET] = GRADER_SECRET_VALUE
    shutil.copy(ROOT / grading.CONFIG_FILE, folder / grading.CONFIG_FILE)
    with open(folder / grading.CONFIG_FILE, "a") as config:
        config.write(TEST_CONFIG)
    nbformat.write(source_notebook(), _mkdirs(folder / "source" / ASSIGNMENT) / f"{ASSIGNMENT}.ipynb")
    (folder / "source" / ASSIGNMENT / "grader.py").write_text(GRADER)
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
            target.write_text(nbformat.writes(submission).replace(LOOPBACK_PORT, str(listener_port))
                              .replace("COURSE", str(course)))
        for name, text in case.files.items():
            _mkdirs((folder / name).parent)
            (folder / name).write_text(text)
        for name, link_target in case.links.items():
            if link_target == "FIFO":
                os.mkfifo(folder / name)
            else:
                (folder / name).symlink_to(link_target.replace("COURSE", str(course)))
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

