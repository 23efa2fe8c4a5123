"""Hidden checks judged outside the student's process.

A test cell's hidden part is one line naming its check::

    ### BEGIN HIDDEN TESTS
    # judged by grader.py: optimize_f_constant
    ### END HIDDEN TESTS

The check is a function of that name in ``source/<assignment>/grader.py`` (instructor only: never released,
never in a grading kernel), marked with :func:`check`. While autograding,
:class:`dlcourse.preprocessors.GuardedExecute` does not send such a cell to the student's kernel; it calls the
check with a :class:`Trial`, in the grader's own process:

- ``trial.student`` and ``trial.reference`` are :class:`Kernel` probes: ``call(name, *args)`` runs a function
  in the student's kernel, or in the reference kernel that ran the source notebook's solution, and gives back
  what it returned as plain data (:mod:`dlcourse.probe`). The expected value is never in the student's kernel.
- ``trial.rng`` draws the hidden inputs from the course secret, the student and the check: reproducible for
  regrades, different for each student.
- ``trial.close``, ``trial.number``, ``trial.expect`` compare in the grader and fail with a message that says
  which quantity is wrong and by how much, never the expected value.
- ``trial.student_code(name)`` is the submitted code defining ``name``, parsed with :mod:`ast`, for properties
  of how something is computed.

The grader writes the cell's outputs itself: nothing the student's kernel prints during a check can score it.
"""

import ast
import atexit
import contextlib
import hashlib
import hmac
import importlib.util
import os
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from time import monotonic

import nbformat
import numpy as np
from jupyter_core.utils import ensure_async, run_sync

from dlcourse import checks
from dlcourse.probe import Opaque, ProbeError, StandIn, TensorData, decode, encode

JUDGED = re.compile(r"^# judged by grader\.py: (\w+)$")
SECRET_FILE = "grader_secret.key"


class Failed(AssertionError):
    """The check's verdict: the submission is wrong, and the message says how."""


class KernelFailure(Exception):
    """The probe got no answer: the kernel timed out, died or sent too much. ``ename`` says which."""

    def __init__(self, ename: str, message: str, recoverable: bool = False):
        super().__init__(message)
        self.ename = ename
        self.recoverable = recoverable  # the kernel was interrupted and answers again: the check may go on


def judged_check(test_source: str) -> str | None:
    """The check a test cell's hidden part names, or None for a test that runs in the kernel."""
    hidden = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)\n### END HIDDEN TESTS", test_source, re.S)
    if len(hidden) != 1:
        return None
    match = JUDGED.match(hidden[0].strip())
    return match.group(1) if match else None


def visible_part(test_source: str) -> str:
    return re.sub(r"### BEGIN HIDDEN TESTS\n.*?### END HIDDEN TESTS\n?", "", test_source, flags=re.S)


def check(function: Callable) -> Callable:
    """Marks a function of a grader module as a check that test cells may name."""
    function.is_check = True
    return function


def load_checks(path: Path):
    """The grader module at ``path`` (``source/<assignment>/grader.py``), loaded in the grader's process once
    (again if the file changed)."""
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _grader_modules:
        spec = importlib.util.spec_from_file_location(f"dlcourse_checks_{path.parent.name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _grader_modules[key] = module
    return _grader_modules[key]


_grader_modules: dict[tuple, object] = {}


def find_check(module, name: str) -> Callable:
    function = getattr(module, name, None)
    if not getattr(function, "is_check", False):
        raise LookupError(f"{module.__file__} has no check named {name!r}")
    return function


# --- per-student inputs ------------------------------------------------------------------------------------

def course_secret(root: Path) -> bytes:
    """The course's secret for hidden inputs, created on first use, readable by the grader only."""
    path = Path(root) / SECRET_FILE
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32) + "\n")
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise ValueError(f"{path}: the grader secret is too short")
    return secret.encode()


def share_secret(root: Path, course: Path) -> None:
    """Give a scratch course (a grading kit, a proof) the course's secret, so it draws the same inputs."""
    target = Path(course) / SECRET_FILE
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(course_secret(root))


def input_rng(secret: bytes, assignment: str, student: str, check_name: str) -> np.random.Generator:
    digest = hmac.new(secret, f"{assignment}\0{student}\0{check_name}".encode(), hashlib.sha256).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


# --- probes ------------------------------------------------------------------------------------------------

class Kernel:
    """Calls functions in one kernel through ``run(expression) -> execute reply content``."""

    def __init__(self, run: Callable[..., dict], whose: str, trusted: bool = False,
                 max_answer_chars: int | None = None, serve: Callable | None = None):
        self._run = run  # (expression, on_input, timeout) -> the reply's content; on_input answers input requests
        self.whose = whose  # "your code" or "the reference solution", for messages
        self._trusted = trusted  # the reference: its failures are the grader's, not the student's
        self._limit = max_answer_chars  # larger answers are refused in the kernel, with a message
        self._serve = serve  # (stand-in request) -> the reference's answer to it, for stand-ins

    def call(self, name: str, *args, **kwargs):
        """What ``name(*args, **kwargs)`` returned; Failed if it raised or is not defined."""
        return self._ask({"call": name, "args": list(args), "kwargs": kwargs}, name)["ok"]

    def value(self, name: str):
        return self._ask({"get": name}, name)["ok"]

    def run(self, code: str, label: str, stand_ins: tuple = (), about_student: bool = False,
            timeout: float | None = None, served: list | None = None, carried: tuple = (), **inputs):
        """Run the check's ``code`` with ``inputs`` in this kernel and return what it left in ``result``.

        ``stand_ins`` names functions (or ``Class.method``s, which the code finds in ``__stand_ins__``) that,
        in the student's kernel, are answered by the reference solution while the code runs (the reference
        kernel uses its own). ``carried`` names the attributes a method stand-in's object sends along (default:
        all of them). ``served`` collects each request the stand-ins made, as data: the batches a training
        loop fed to the network, whatever the student's process says about them.
        ``about_student``: the reference is given the student's data (a graph, weights to evaluate), so its
        failure is the student's, not the grader's. ``timeout`` (seconds) shortens the cell's time limit for
        this call: KernelFailure when it runs out.
        """
        query = {"run": code, "inputs": inputs}
        if stand_ins and not self._trusted:
            query["stand_ins"] = list(stand_ins)
            if carried:
                query["carried"] = list(carried)
        return self._ask(query, label, blame_grader=self._trusted and not about_student, timeout=timeout,
                         served=served)["ok"]

    def run_each(self, code: str, labels: list[str], cases: list[dict], stand_ins: tuple = (),
                 about_student: bool = False) -> list:
        """``run`` for many cases in one round trip: one result per case, in order; the first case that raised
        fails the check with its label."""
        query = {"run": code, "each": cases}
        if stand_ins and not self._trusted:
            query["stand_ins"] = list(stand_ins)
        blame_grader = self._trusted and not about_student
        answers = self._ask(query, labels[0] if labels else "", blame_grader=blame_grader)["ok"]
        if type(answers) is not list or len(answers) != len(cases) or any(type(a) is not dict for a in answers):
            raise Failed(f"{labels[0] if labels else 'the check'}: the answers could not be read as data")
        for label, answer in zip(labels, answers, strict=True):
            if "raised" in answer:
                raise self._blamed(Failed(f"{label}: raised {str(answer['raised'])[:300]}"), blame_grader)
        return [answer.get("ok") for answer in answers]

    def answer_stand_in(self, request: dict) -> dict:
        """The reference's answer to a stand-in's request: its result (for a method, with the object's state
        after the call; for a backward pass, the gradients)."""
        query = {"call": request["stand_in"], **{k: v for k, v in request.items() if k != "stand_in"}}
        reply = self._ask(query, request["stand_in"])
        return {k: reply[k] for k in ("ok", "self") if k in reply}

    def _ask(self, query: dict, name: str, blame_grader: bool | None = None, timeout: float | None = None,
             served: list | None = None) -> dict:
        try:
            return self._answer(query, name, timeout, served)
        except Failed as failure:
            raise self._blamed(failure, self._trusted if blame_grader is None else blame_grader) from None

    @staticmethod
    def _blamed(failure: Failed, blame_grader: bool) -> Exception:
        """A failure of the reference on the grader's own inputs is the grader's: never a verdict on a student."""
        return RuntimeError(f"the reference solution: {failure}") if blame_grader else failure

    def _answer(self, query: dict, name: str, timeout: float | None, served: list | None = None) -> dict:
        request = encode(query if self._limit is None else {**query, "max_chars": self._limit})
        failures = []
        on_input = self._stand_ins(frozenset(query["stand_ins"]), served, failures) if query.get("stand_ins") else None
        content = self._run(f"__import__('dlcourse.probe').probe.answer({request!r})", on_input, timeout)
        if failures:  # the grader could not answer a stand-in: its fault, never a verdict on the student
            raise RuntimeError(f"answering {name}'s stand-in failed: {failures[0]!r}")
        value = content.get("user_expressions", {}).get("value", {})
        if content.get("status") != "ok" or value.get("status") != "ok":
            error = f"{value.get('ename') or content.get('ename')}: {value.get('evalue') or content.get('evalue')}"
            raise Failed(f"calling {name} failed in {self.whose}'s kernel: {error[:200]}")
        try:
            text = ast.literal_eval(value["data"]["text/plain"])
            reply = decode(text)
        except (ProbeError, ValueError, SyntaxError, KeyError, TypeError, MemoryError, RecursionError) as error:
            raise Failed(f"what {name} returned could not be read as data ({str(error)[:200]})") from None
        if type(reply) is not dict:
            raise Failed(f"what {name} returned could not be read as data")
        if "missing" in reply:
            raise Failed(f"NameError: {str(reply['missing'])[:100]} is not defined (its cell has not run, or failed)")
        if "raised" in reply:
            raise Failed(f"{name} raised {str(reply['raised'])[:300]}")
        if "ok" not in reply:
            raise Failed(f"what {name} returned could not be read as data")
        return reply

    def _stand_ins(self, allowed: frozenset, served: list | None = None,
                   failures: list | None = None) -> Callable[[str], str]:
        """Answers the kernel's requests for the reference's result of a function in ``allowed``, and only those.

        It always answers: a kernel left waiting for input would hold up every later cell. An error of the
        grader's own goes to ``failures`` (the probe then fails as the grader's) and the kernel is told no."""
        def answer(prompt: str) -> str:
            try:
                request = decode(prompt)
                if type(request) is not dict or request.get("stand_in") not in allowed:
                    raise ProbeError("not a function this test stands in for")
                if not _well_formed(request):
                    raise ProbeError("malformed request")
                if not _stand_ins_within(request, allowed):
                    raise ProbeError("a function passed along is not one this test stands in for")
                if served is not None:
                    served.append(request)
                return encode(self._serve(request))
            except (ProbeError, RuntimeError) as error:
                return encode({"raised": str(error)[:500]})
            except Exception as error:
                if failures is not None:
                    failures.append(error)
                return encode({"raised": "the grader could not answer"})
        return answer


# --- the trial a check runs in -----------------------------------------------------------------------------

@dataclass
class Trial:
    student: Kernel
    reference: Kernel
    rng: np.random.Generator
    cells: list = field(default_factory=list)  # the submitted notebook's code cells before the test, as text
    comparisons: int = 0
    _parsed: list | None = field(default=None, repr=False)

    def number(self, label: str, value) -> float:
        """``value`` as a float: a number, or a NumPy array or tensor of one element; Failed otherwise."""
        if type(value) in (int, float):
            number = float(value)
        elif type(value) in (np.ndarray, TensorData) and _array_of(value).size == 1 \
                and _array_of(value).dtype.kind in "iuf":
            number = float(_array_of(value).reshape(()))
        else:
            raise Failed(f"{label}: expected a single number, got {_describe(value)}")
        if not np.isfinite(number):
            raise Failed(f"{label}: {number}, not a finite number")
        return number

    def array(self, label: str, value) -> np.ndarray:
        """``value`` (numbers, arrays, tensors, nested lists of them) as a float64 array; Failed otherwise."""
        try:
            return _as_float64(value)
        except TypeError as error:
            raise Failed(f"{label}: expected numbers, got {error}") from None

    def close(self, label: str, actual, expected, rtol: float = 1e-6, atol: float = 1e-9) -> None:
        """``actual`` (from the student) matches ``expected`` (from the reference) within the tolerances."""
        self.comparisons += 1
        actual, expected = self.array(label, actual), _as_float64(expected)
        try:
            checks.assert_close(label, actual, expected, rtol=rtol, atol=atol)  # the self-checks' own messages
        except AssertionError as failure:
            raise Failed(str(failure)) from None

    def expect(self, condition: bool, message: str) -> None:
        self.comparisons += 1
        if not condition:
            raise Failed(message)

    def student_code(self, name: str) -> ast.AST | None:
        """The last definition of ``name`` in the submitted cells before the test (a def, a class or an assignment)."""
        found = None
        for tree in self._trees():
            for node in ast.walk(tree):
                if _defines(node, name):
                    found = node
        return found


    def _trees(self) -> list[ast.AST]:
        if self._parsed is None:
            self._parsed = [tree for tree in map(_parse, self.cells) if tree is not None]
        return self._parsed

    def names_used(self, name: str) -> set[str]:
        """Names, attributes, imported modules and string constants in the student's definition of ``name``
        and in the notebook functions it calls: what a property of *how* a value is computed reads."""
        words, pending, seen = set(), [name], set()
        while pending:
            current = pending.pop()
            seen.add(current)
            node = self.student_code(current)
            for sub in ast.walk(node) if node is not None else ():
                if isinstance(sub, ast.Attribute):
                    words.add(sub.attr)
                elif isinstance(sub, ast.Name):
                    words.add(sub.id)
                    if sub.id not in seen and self.student_code(sub.id) is not None:
                        pending.append(sub.id)
                elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    words.add(sub.value)
                elif isinstance(sub, ast.Import):
                    words |= {alias.name.split(".")[0] for alias in sub.names}
                elif isinstance(sub, ast.ImportFrom):
                    words.add((sub.module or "").split(".")[0])
        return words

    def imported_from(self, packages: tuple[str, ...]) -> set[str]:
        """Names the submitted cells bind to ``packages`` or anything in them (``import torch.nn.functional as F``
        binds F, ``from scipy import signal`` binds signal), and the packages' own names."""
        names = set(packages)
        for tree in self._trees():
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names |= {(a.asname or a.name).split(".")[0] for a in node.names
                              if a.name.split(".")[0] in packages}
                elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in packages:
                    names |= {a.asname or a.name for a in node.names}
        return names


def _well_formed(request: dict) -> bool:
    """A stand-in's request: arguments, and only for ``Class.method`` an object's state; a backward pass's
    gradient is a tensor."""
    return (set(request) <= {"stand_in", "args", "kwargs", "self", "vjp"}
            and type(request.get("args", [])) is list and type(request.get("kwargs", {})) is dict
            and ("self" not in request or (type(request["self"]) is dict and "." in request["stand_in"]))
            and ("vjp" not in request or type(request["vjp"]) is TensorData))


def _stand_ins_within(value, allowed: frozenset) -> bool:
    if type(value) is StandIn:
        return value.name in allowed
    if type(value) is list:
        return all(_stand_ins_within(v, allowed) for v in value)
    if type(value) is dict:
        return all(_stand_ins_within(v, allowed) for v in value.values())
    return True


def _defines(node: ast.AST, name: str) -> bool:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name == name
    return isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)


def _parse(source: str) -> ast.AST | None:
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError):
        return None


def _array_of(value) -> np.ndarray:
    return value.array if type(value) is TensorData else value


def _as_float64(value) -> np.ndarray:
    if type(value) in (np.ndarray, TensorData):
        array = _array_of(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"an array of {array.dtype}")
        return array.astype(np.float64)
    if type(value) in (int, float):
        return np.asarray(float(value))
    if type(value) is list:
        parts = [_as_float64(v) for v in value]
        if len({p.shape for p in parts}) > 1:
            raise TypeError("a ragged list")
        return np.array(parts, dtype=np.float64) if parts else np.zeros(0)
    raise TypeError(_describe(value))


def _describe(value) -> str:
    if type(value) is Opaque:
        return f"an object of type {value.type_name}"
    if type(value) is TensorData:
        return f"a tensor of shape {tuple(value.shape)}"
    if type(value) is np.ndarray:
        return f"an array of shape {value.shape}"
    if type(value) is list:
        return f"a sequence of {len(value)} items"
    return "None" if value is None else f"a {type(value).__name__}"


# --- kernels -----------------------------------------------------------------------------------------------

async def await_reply(kc, msg_id: str, timeout: float,
                      alive: Callable[[], Awaitable[bool]] | None = None) -> dict | None:
    """The shell reply to ``msg_id`` within ``timeout`` seconds, or None (also as soon as ``alive()`` is False)."""
    deadline = monotonic() + timeout
    while (remaining := deadline - monotonic()) > 0:
        try:
            msg = await ensure_async(kc.shell_channel.get_msg(timeout=min(remaining, 1.0)))
        except Empty:
            if alive is not None and not await ensure_async(alive()):
                return None
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg
    return None


async def input_request(kc, msg_id: str, timeout: float) -> str | None:
    """The prompt of the kernel's next input request for ``msg_id`` within ``timeout`` seconds, or None."""
    deadline = monotonic() + timeout
    while (remaining := deadline - monotonic()) > 0:
        try:
            msg = await ensure_async(kc.stdin_channel.get_msg(timeout=remaining))
        except Empty:
            return None
        if msg["msg_type"] == "input_request" and msg["parent_header"].get("msg_id") == msg_id:
            return msg["content"].get("prompt", "")
    return None


def is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


class ReferenceKernel:
    """The source notebook's solution, run once in a kernel of its own: the only source of expected values.

    It runs every code cell of the source notebook but the test cells, in the same kind of kernel (and
    sandbox) as the students', with the source folder as its working folder. It stays up for the grader's
    whole run: one per grader process and assignment (:func:`reference_kernel`).
    """

    def __init__(self, notebook: Path, kernel_manager):
        self.notebook = notebook
        self.km = kernel_manager
        self.kc = None

    def start(self, cell_timeout: float) -> None:
        run_sync(self.km.start_kernel)(cwd=str(self.notebook.parent),
                                       extra_arguments=["--HistoryManager.hist_file=:memory:"])
        self.kc = self.km.client()
        self.kc.start_channels()
        run_sync(self.kc.wait_for_ready)(timeout=120)
        self.run("from dlcourse import kernel_guard\nkernel_guard.enter_submission()", timeout=120)
        for index, cell in enumerate(nbformat.read(self.notebook, as_version=4).cells):
            if cell.cell_type == "code" and cell.source.strip() and not is_test_cell(cell):
                content = self.run(cell.source, timeout=cell_timeout)
                if content.get("status") != "ok":
                    raise RuntimeError(f"the reference solution failed in cell {index + 1} of {self.notebook.name}: "
                                       f"{content.get('ename')}: {content.get('evalue')}")

    def run(self, code: str, expression: str = "", timeout: float = 300) -> dict:
        msg_id = self.kc.execute(code, silent=True, store_history=False,
                                 user_expressions={"value": expression} if expression else {})
        reply = run_sync(await_reply)(self.kc, msg_id, timeout, self.km.is_alive)
        self._drain()
        if reply is None:
            raise RuntimeError(f"the reference kernel gave no answer within {timeout} s")
        return reply["content"]

    def probe(self) -> Kernel:
        return Kernel(lambda expression, on_input, timeout: self.run("", expression), "the reference solution",
                      trusted=True)

    def _drain(self) -> None:
        while True:
            try:
                run_sync(ensure_async)(self.kc.iopub_channel.get_msg(timeout=0))
            except Empty:
                return

    def shutdown(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
        run_sync(self.km.shutdown_kernel)(now=True)


_references: dict[tuple, ReferenceKernel] = {}


def reference_kernel(notebook: Path, make_manager: Callable[[], object], cell_timeout: float) -> ReferenceKernel:
    """The warm reference kernel of ``notebook`` (started on first use, restarted if the notebook changed)."""
    key = (str(notebook.resolve()), notebook.stat().st_mtime_ns)
    if key not in _references:
        for old in [k for k in _references if k[0] == key[0]]:
            _references.pop(old).shutdown()
        kernel = ReferenceKernel(notebook, make_manager())
        try:
            kernel.start(cell_timeout)
        except BaseException:
            kernel.shutdown()
            raise
        _references[key] = kernel
    return _references[key]


@atexit.register
def _shutdown_references() -> None:
    while _references:
        _, kernel = _references.popitem()
        with contextlib.suppress(Exception):  # the interpreter is exiting; the sandbox reaps what is left
            kernel.shutdown()
