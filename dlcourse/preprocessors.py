"""nbgrader preprocessors of the course, named in nbgrader_config.py.

Autograding (``Autograde.sanitize_preprocessors`` and ``autograde_preprocessors``):

- :class:`GuardedExecute` replaces nbgrader's Execute: kernels start in the sandbox
  (:class:`dlcourse.sandbox.SandboxedKernelManager`), a time budget per notebook on top of the per-cell
  timeout, a clear error in every cell a timeout or a dead kernel kept from running, a cap on each cell's
  output, and a check that hidden tests still use the genuine numpy / torch / builtins / dlcourse.checks
  functions (:mod:`dlcourse.kernel_guard`, run inside the kernel).
- :class:`TestStderrKeepsPoints` stops stray stderr from zeroing a test cell that passed.
- :class:`TestResultsAreNotGrades` keeps a displayed value from being read as a test cell's grade.
- :class:`DropEmptyGradeMetadata` keeps a copied test cell from crashing nbgrader's sanitizing.
- :class:`SanitizeOutputs` leaves nothing live in what the student's code displayed (also for formgrader).

Feedback (``GenerateFeedback.preprocessors``):

- :class:`ClearHiddenTestsOfTestCells`: nbgrader's ClearHiddenTests, on test cells only.
- :class:`ShortenTestTracebacks` keeps the first line of each failed test's message, not the hidden code.

Students' Validate is untouched: none of this runs when they validate in JupyterLab.
"""

import ast
import json
import math
import re
import secrets
import signal
from pathlib import Path
from time import monotonic

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_output
from nbgrader.preprocessors import ClearHiddenTests, Execute, NbGraderPreprocessor
from traitlets import Bool, Float, Integer, List, Unicode

from dlcourse import judge
from dlcourse.sandbox import SandboxedKernelClient, SandboxedKernelManager

# Objects whose replacement would let a wrong answer pass a test; numpy, torch (if the notebook uses it)
# and dlcourse.checks are imported before the first cell so that the genuine objects are recorded.
GUARDED = [
    "numpy.allclose", "numpy.isclose", "numpy.array_equal", "numpy.all", "numpy.any", "numpy.abs",
    "numpy.isfinite", "numpy.linalg.norm", "numpy.testing.assert_allclose", "numpy.testing.assert_array_equal",
    "numpy.testing.assert_array_almost_equal", "numpy.testing.assert_almost_equal", "numpy.testing.assert_equal",
    "torch.allclose", "torch.isclose", "torch.equal", "torch.conv2d", "torch.nn.functional.conv2d",
    "torch.testing.assert_close", "torch.Tensor.allclose", "torch.Tensor.__eq__", "torch.Tensor.item",
    "dlcourse.checks.*",
]
GUARDED_BUILTINS = [
    "abs", "all", "any", "len", "max", "min", "sum", "round", "sorted", "isinstance", "issubclass", "float",
    "int", "bool", "range", "zip", "print", "repr", "getattr", "hasattr", "type", "exec", "compile", "eval",
    "AssertionError", "Exception",
]


_is_test_cell = judge.is_test_cell
REFERENCE_TIMES = "reference_times.json"  # beside each source notebook, grader-only


def _error(ename: str, message: str):
    return new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


def _size(output) -> int:
    if output.output_type == "stream":
        return len(output.text)
    if output.output_type == "error":
        return len(output.evalue) + sum(len(line) for line in output.traceback)
    return sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in output.get("data", {}).values())


def _death_cause(exit_code: int | None) -> str:
    if exit_code is None:
        return "it stopped answering"
    if exit_code < 0:
        name = signal.Signals(-exit_code).name
        why = {"SIGSEGV": "a segmentation fault", "SIGKILL": "killed, e.g. by the out-of-memory killer",
               "SIGABRT": "aborted, e.g. a failed allocation in native code", "SIGBUS": "a bus error"}
        return f"{why.get(name, 'killed by a signal')} ({name})"
    return f"the process exited with code {exit_code} (os._exit() or a call that ends the process)"


# The notes a cell gets when its output was cut (dlcourse.preview reads them back)
TRUNCATED = "[output truncated: {} characters]"
IMAGES_LEFT_OUT = "[{} image(s) left out: over the grader's limit for images; save figures smaller]"


class GuardedExecute(Execute):
    """nbgrader's Execute, made robust for grading: see the module docstring.

    Every cell that cannot be graded normally still gets an error output saying why, so it scores 0 with a
    readable reason in the feedback, and the notebook's other cells are graded as usual.
    """

    notebook_timeout = Integer(900, help="Seconds for the whole notebook; later cells are not run.").tag(
        config=True)
    # Limits from the reference: a cell may take factor x what the reference solution's took in grading mode
    # (at least the floor, at most Execute.timeout), the notebook factor x the reference's total (at least its
    # floor, at most notebook_timeout). A loop that never ends then costs a few times the reference, not 900 s.
    reference_times = Unicode(REFERENCE_TIMES, help="File beside the source notebook (or an absolute path) with "
                              "the reference solution's seconds per cell in grading mode (written by `dlcourse "
                              "release`); without it Execute.timeout and notebook_timeout apply.").tag(config=True)
    cell_timeout_factor = Float(10.0, help="A cell's limit: this many times the reference's time.").tag(config=True)
    cell_timeout_floor = Float(5.0, help="Seconds a cell may always take.").tag(config=True)
    notebook_timeout_factor = Float(5.0, help="The notebook's budget: this many times the reference's total.").tag(
        config=True)
    notebook_timeout_floor = Float(60.0, help="Seconds the notebook's cells may always take.").tag(config=True)
    record_times = Unicode("", help="Write the seconds each cell took to this JSON file (how `dlcourse release` "
                           "measures the reference).").tag(config=True)
    max_output_chars = Integer(200_000, help="Characters of text output kept per cell (streams, errors, text "
                               "data).").tag(config=True)
    # Figures are what a grader reads in formgrader and the feedback: they get a budget of their own, so a
    # cell's photo grid is not cut by the text cap, and the notebook's images stay bounded as a whole.
    max_image_chars = Integer(8_000_000, help="Characters of images (base64 PNG, JPEG, ...) kept per cell.").tag(
        config=True)
    max_notebook_image_chars = Integer(40_000_000, help="Characters of images kept in the whole notebook.").tag(
        config=True)
    guarded = List(Unicode(), GUARDED, help="Dotted names hidden tests rely on ('module.*': its public "
                   "callables); a test cell fails if the submission replaced one.").tag(config=True)
    guarded_builtins = List(Unicode(), GUARDED_BUILTINS, help="Builtins guarded the same way.").tag(config=True)
    sandbox_kernel = Bool(True, help="Start kernels through dlcourse.sandbox_launcher.").tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.sandbox_kernel:
            self.kernel_manager_class = SandboxedKernelManager

    def preprocess(self, nb, resources=None, km=None):
        self._nbgrader = (resources or {}).get("nbgrader", {})
        self._reference_seconds = self._load_reference_times()
        self._seconds = {}
        nb, resources = super().preprocess(nb, resources, km)
        if self.record_times:
            Path(self.record_times).write_text(json.dumps(
                {"cells": self._seconds, "notebook": round(sum(self._seconds.values()), 3)}, indent=1) + "\n")
        return nb, resources

    def _load_reference_times(self) -> dict | None:
        if Path(self.reference_times).is_absolute():
            path = Path(self.reference_times)
        elif self.reference_times and self._nbgrader.get("assignment"):
            path = self._source_folder() / self.reference_times
        else:
            return None
        return json.loads(path.read_text()) if path.is_file() else None

    def reset_execution_trackers(self) -> None:
        super().reset_execution_trackers()
        self._deadline = None  # set once the kernel is up: the budget is for running cells
        self._cell = None  # the cell being run (judged checks ask for its limit with no cell at hand)
        self._limit = self.timeout  # the running cell's limit
        self._grader_seconds = 0.0  # of this cell's time, spent starting the reference (not the student's)
        self._budget_limited = False  # whether the last timeout came from the notebook's budget
        self._timed_out = False
        self._halted = ""  # why the remaining cells are not run
        self._exit_asked = False  # exit() or quit() ran: ipykernel shuts down after the cell
        self._guard = ""  # the guard's name in the kernel, once installed
        self._output_chars = 0
        self._truncated = 0
        self._image_chars = 0  # this cell's
        self._notebook_image_chars = 0
        self._images_dropped = 0

    # --- time limits -------------------------------------------------------------------------------------

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        limit = self._cell_limit(cell if cell is not None else self._cell)
        if limit is not None:
            timeout = limit if timeout is None else min(timeout, limit)
        self._limit = timeout
        if self._deadline is None:
            return timeout
        remaining = max(1, math.ceil(self._deadline - monotonic()))
        self._budget_limited = timeout is None or remaining < timeout
        return remaining if self._budget_limited else timeout

    def _cell_limit(self, cell) -> float | None:
        """factor x the reference's seconds for this cell (by cell id; a cell of the student's own: the
        reference's longest), at least the floor; None without reference times."""
        if not self._reference_seconds or cell is None:
            return None
        seconds = self._reference_seconds["cells"]
        reference = seconds.get(cell.get("id", ""), max(seconds.values(), default=0.0))
        return math.ceil(max(self.cell_timeout_floor, self.cell_timeout_factor * reference))

    def time_limits(self) -> str:
        """The limits of the last run, in words."""
        if not getattr(self, "_reference_seconds", None):
            return f"{self.timeout} s per cell, {self.notebook_timeout} s per notebook"
        return (f"each cell {self.cell_timeout_factor:g}x the reference solution's time (at least "
                f"{self.cell_timeout_floor:g} s, at most {self.timeout} s), "
                f"{self._budget()} s for the notebook's cells")

    def _budget(self) -> int:
        if not self._reference_seconds:
            return self.notebook_timeout
        budget = max(self.notebook_timeout_floor, self.notebook_timeout_factor * self._reference_seconds["notebook"])
        return min(self.notebook_timeout, math.ceil(budget))

    async def _async_handle_timeout(self, timeout, cell=None):
        self._timed_out = True
        return await super()._async_handle_timeout(timeout, cell)

    def _timeout_message(self) -> str:
        if self._budget_limited:
            return f"stopped: {self._budget_text()} during this cell"
        return f"stopped after {self._limit} s, the longest this cell may run while grading (an endless loop?)"

    def _budget_text(self) -> str:
        return f"the notebook's time budget of {self._budget()} s ran out"

    # --- cells -------------------------------------------------------------------------------------------

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        where = self._describe(cell, index)
        if not self._guard and not self._halted:
            self._install_guard()
        if not self._halted and monotonic() >= self._deadline:
            self._halted = f"not run: {self._budget_text()}"
        if self._halted:
            cell.outputs = [_error("CellNotRun", self._halted)]
            return cell, resources
        self._timed_out, self._output_chars, self._truncated = False, 0, 0
        self._cell, self._grader_seconds, started = cell, 0.0, monotonic()
        try:
            return self._run_cell(cell, resources, index, where)
        finally:
            self._seconds[cell.get("id", str(index))] = round(monotonic() - started - self._grader_seconds, 3)

    def _run_cell(self, cell, resources, index, where):
        self._image_chars, self._images_dropped = 0, 0
        check_name = judge.judged_check(cell.source) if _is_test_cell(cell) else None
        if check_name:
            cell.outputs = self._judged(check_name, index, where)
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cell.outputs.append(_error("DeadKernelError", "the kernel died while running this cell: "
                                       + _death_cause(self._exit_code())))
            self._halted = f"not run: the kernel died in {where}"
        except CellTimeoutError:  # the kernel ignored the interrupt, or its output channel was cut
            self._kill_kernel()
            if self._output_lost():
                self._fail_for_lost_output(cell, where)
            else:
                cell.outputs.append(_error("CellTimeoutError", self._timeout_message()
                                           + "; the kernel did not stop when interrupted and was killed"))
                self._halted = f"not run: {where} could not be stopped after its time limit"
        else:
            if self._output_lost():
                self._fail_for_lost_output(cell, where)
            else:
                self._after_cell(cell, where)
        if self._truncated:
            cell.outputs.append(new_output("stream", name="stdout", text=f"\n{TRUNCATED.format(self._truncated)}\n"))
        if self._images_dropped:
            cell.outputs.append(new_output("stream", name="stdout",
                                           text=f"\n{IMAGES_LEFT_OUT.format(self._images_dropped)}\n"))
        return cell, resources

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        payloads = kwargs["execute_reply"]["content"].get("payload", [])
        self._exit_asked = any(p.get("source") == "ask_exit" and not p.get("keepkernel") for p in payloads)

    def _after_cell(self, cell, where: str) -> None:
        if self._exit_asked:
            self._halted = f"not run: exit() or quit() in {where} shut the kernel down"
            return
        if any(o.output_type == "error" and o.ename == "MemoryError" for o in cell.outputs):
            self._silent("from dlcourse import kernel_guard\nkernel_guard.release_memory()")
        if self._timed_out:
            for output in cell.outputs:
                if output.output_type == "error" and output.ename == self.error_on_timeout["ename"]:
                    output.evalue = self._timeout_message()
                    output.traceback = [f"{output.ename}: {output.evalue}"]
            if self._budget_limited:
                self._halted = f"not run: {self._budget_text()} in {where}"
        if self._halted:
            return
        # every cell: the guard also learns which names are bound to genuine modules and functions
        replaced = self._replaced(cell.source if _is_test_cell(cell) else "")
        if _is_test_cell(cell) and replaced:
            cell.outputs.append(_error("GradingGuardError", f"{replaced}: replaced by the submission; "
                                       "this test cannot be trusted"))

    @staticmethod
    def _describe(cell, index: int) -> str:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        return f"cell {index + 1}" + (f" ({grade_id})" if grade_id else "")

    # --- checks judged outside the kernel (dlcourse.judge) -------------------------------------------------------

    def _judged(self, check_name: str, index: int, where: str) -> list:
        """The outputs of a test cell whose check the grader runs: written here, never taken from the kernel."""
        try:
            function = judge.find_check(judge.load_checks(self._source_folder() / "grader.py"), check_name)
            reference = self._reference()
            rng = judge.input_rng(judge.course_secret(self._coursedir().root), self._nbgrader.get("assignment", ""),
                                  self._nbgrader.get("student", ""), check_name)
        except Exception as error:  # the course's own set-up is wrong: say so, never blame the student
            self.log.error("cannot judge %s: %s", where, error)
            return [_error("GraderError", f"the grader could not run this test ({error}); tell your instructor")]
        cells = [c.source for c in self.nb.cells[:index] if c.cell_type == "code" and not _is_test_cell(c)]
        expected = reference.probe()
        student = judge.Kernel(lambda expression, on_input, timeout: self._probe(expression, where, on_input, timeout),
                               "your code", max_answer_chars=self.km.max_message_mb * 2**20 // 2
                               if isinstance(self.km, SandboxedKernelManager) else None,
                               serve=expected.answer_stand_in)
        trial = judge.Trial(student=student, reference=expected, rng=rng, cells=cells)
        try:
            function(trial)
        except judge.Failed as failure:
            outputs = [_error("AssertionError", str(failure) + self._replaced_note(self.nb.cells[index].source))]
        except judge.KernelFailure as failure:
            outputs = [_error(failure.ename, str(failure))]
        except Exception as error:
            self.log.error("check %s failed in the grader: %r", check_name, error)
            outputs = [_error("GraderError", f"the grader could not finish this test ({error}); tell your instructor")]
        else:
            summary = (function.__doc__ or check_name).strip().splitlines()[0].rstrip(".")
            outputs = [new_output("stream", name="stdout",
                                  text=f"{summary}: passed ({trial.comparisons} checks, judged by the grader)\n")]
        if not self._halted and self._output_lost():  # the verdict stands; what the kernel says next is lost
            self._kill_kernel()
            self._halted = f"not run: {where} sent more output than the grader takes"
        return outputs

    def _replaced_note(self, test_source: str) -> str:
        """For a student who broke numpy or a builtin by accident: what the guard saw replaced, if anything.

        Only an explanation: the verdict was made in the grader, whatever the kernel's guard says.
        """
        replaced = self._replaced(judge.visible_part(test_source)) if self._guard and not self._halted else ""
        return f" (note: your notebook replaced {replaced})" if replaced else ""

    def _probe(self, expression: str, where: str, on_input=None, limit: float | None = None) -> dict:
        """One probe of the student's kernel, on the cell's time limit (or ``limit``, if shorter); KernelFailure
        when it gets no answer.

        With ``on_input``, the kernel's input requests meanwhile (stand-ins asking for the reference's result)
        are answered with ``on_input(prompt)``.
        """
        timeout = min(self._get_timeout(None) or 300, limit or math.inf)
        msg_id = self.kc.execute("", silent=True, store_history=False, allow_stdin=on_input is not None,
                                 user_expressions={"value": expression})
        deadline = monotonic() + timeout
        reply = None
        while reply is None and (remaining := deadline - monotonic()) > 0:
            # with stand-ins, most of the wait is for the kernel's requests: each one is answered at once
            reply = run_sync(judge.await_reply)(self.kc, msg_id, min(remaining, 0.001) if on_input else remaining,
                                                self.km.is_alive)
            if reply is None and on_input is not None:
                prompt = run_sync(judge.input_request)(self.kc, msg_id, 0.02)
                if prompt is not None:
                    self.kc.input(on_input(prompt))
                elif not run_sync(self.km.is_alive)():
                    break
        if reply is not None:
            return reply["content"]
        if not run_sync(self.km.is_alive)():
            self._halted = f"not run: the kernel died in {where}"
            raise judge.KernelFailure("DeadKernelError", "the kernel died while running this cell: "
                                      + _death_cause(self._exit_code()))
        self._timed_out = True
        run_sync(self.km.interrupt_kernel)()
        if run_sync(judge.await_reply)(self.kc, msg_id, 10, self.km.is_alive) is None:
            self._kill_kernel()
            self._halted = f"not run: {where} could not be stopped after its time limit"
            raise judge.KernelFailure("CellTimeoutError", self._timeout_message()
                                      + "; the kernel did not stop when interrupted and was killed")
        if self._budget_limited:
            self._halted = f"not run: {self._budget_text()} in {where}"
        elif limit is not None and limit < (self.timeout or math.inf):
            raise judge.KernelFailure("CellTimeoutError", f"stopped after {limit:g} s", recoverable=True)
        raise judge.KernelFailure("CellTimeoutError", self._timeout_message(), recoverable=not self._halted)

    def _coursedir(self):
        from nbgrader.coursedir import CourseDirectory

        return CourseDirectory(config=self.config)

    def _source_folder(self) -> Path:
        coursedir = self._coursedir()
        return Path(coursedir.format_path(coursedir.source_directory, ".", self._nbgrader["assignment"]))

    def _reference(self) -> judge.ReferenceKernel:
        started = monotonic()
        notebook = self._source_folder() / f"{self._nbgrader['notebook']}.ipynb"
        kernel = judge.reference_kernel(notebook, lambda: self.kernel_manager_class(
            config=self.config, kernel_name=self.kernel_name or "python3"), self.timeout or 300)
        spent = monotonic() - started  # starting the reference is not the student's time
        self._deadline += spent
        self._grader_seconds += spent
        return kernel

    # --- output cap ----------------------------------------------------------------------------------------

    def output(self, outs, msg, display_id, cell_index):
        out = super().output(outs, msg, display_id, cell_index)
        if out is None:
            return out
        if len(outs) == 1 and outs[0] is out:  # a clear_output started the cell's output afresh
            self._output_chars = self._truncated = self._images_dropped = 0
            self._notebook_image_chars -= self._image_chars
            self._image_chars = 0
        size = _size(out)
        if any(mime.startswith("image/") for mime in out.get("data", {})):
            if (self._image_chars + size > self.max_image_chars
                    or self._notebook_image_chars + size > self.max_notebook_image_chars):
                outs.remove(out)
                self._images_dropped += 1
            else:
                self._image_chars += size
                self._notebook_image_chars += size
            return out
        room = max(0, self.max_output_chars - self._output_chars)
        if size > room:
            self._truncated += size - room
            if out.output_type == "stream":
                out.text = out.text[:room]
            elif out.output_type == "error":  # always kept, with its message's start: it decides the grade
                out.evalue = out.evalue[:max(room, 2000)]
                out.traceback = [line[:max(room, 2000)] for line in out.traceback[-20:]]
            else:
                outs.remove(out)
        self._output_chars += min(size, room)
        return out

    # --- guard against replaced test helpers ---------------------------------------------------------------

    def _silent(self, code: str, expression: str = "", timeout: float = 10) -> dict:
        """Run ``code`` (and evaluate ``expression``) without touching the notebook, its history or outputs.

        Its own time limit, not the cells' one: the first call imports numpy and torch.
        """
        msg_id = self.kc.execute(code, silent=True, store_history=False, allow_stdin=False,
                                 user_expressions={"value": expression} if expression else {})
        reply = run_sync(judge.await_reply)(self.kc, msg_id, timeout)
        return reply["content"] if reply else {"status": "timeout", "evalue": f"no reply within {timeout} s"}

    def _install_guard(self) -> None:
        name = f"_dlcourse_guard_{secrets.token_hex(6)}"
        modules = ["numpy", "numpy.testing", "numpy.linalg", "dlcourse.checks"]
        if any(re.search(r"\bimport torch\b|\bfrom torch\b", c.source) for c in self.nb.cells):
            modules += ["torch", "torch.nn.functional", "torch.testing"]
        setup = (f"from dlcourse import kernel_guard as _g\n_g.enter_submission()\n"
                 f"_g.install({name!r}, {list(self.guarded)!r}, {list(self.guarded_builtins)!r}, {modules!r})\n"
                 "del _g")
        reply = self._silent(setup, timeout=max(120, self.timeout or 0))
        if reply["status"] != "ok":
            raise RuntimeError(f"could not install the grading guard in the kernel: {reply.get('evalue', reply)}")
        self._guard = name
        self._deadline = monotonic() + self._budget()

    def _replaced(self, test_source: str) -> str:
        used = sorted(set(re.findall(r"\b[A-Za-z_]\w*\b", test_source)))
        reply = self._silent("", f"{self._guard}({used!r})")
        value = reply.get("user_expressions", {}).get("value", {})
        if value.get("status") != "ok":
            return "the grading guard (removed or broken)"
        return ast.literal_eval(value["data"]["text/plain"])

    # --- kernel process --------------------------------------------------------------------------------------

    def _fail_for_lost_output(self, cell, where: str) -> None:
        cell.outputs.append(_error("OutputLost", f"the kernel sent a message over {self.km.max_message_mb} MB, which "
                                   "the grader refuses; this cell's outputs were lost"))
        self._halted = f"not run: {where} sent more output than the grader takes"

    def _output_lost(self) -> bool:
        """The sandboxed client's output connection was cut: what the kernel sent since is lost, errors too."""
        return isinstance(self.kc, SandboxedKernelClient) and self.kc.output_lost()

    def _exit_code(self) -> int | None:
        provisioner = getattr(self.km, "provisioner", None)
        return run_sync(provisioner.poll)() if provisioner else None

    def _kill_kernel(self) -> None:
        run_sync(self.km.signal_kernel)(signal.SIGKILL)


class DropEmptyGradeMetadata(NbGraderPreprocessor):
    """A copied test or answer cell must not crash grading (nbgrader 0.9.6).

    DeduplicateIds keeps the last cell with a grade id and sets the others' nbgrader metadata to {};
    OverwriteCells.add_missing_cells then reads ``grade_id`` from every cell with nbgrader metadata and
    raises KeyError. Dropping the emptied metadata makes the copy an ordinary cell, which is what
    DeduplicateIds means it to be.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.get("metadata", {}).get("nbgrader", None) == {}:
            del cell.metadata["nbgrader"]
        return cell, resources


class TestStderrKeepsPoints(NbGraderPreprocessor):
    """Stderr in a test cell that raised nothing no longer costs its points; it stays visible.

    nbgrader scores 0 for any stderr in a test cell. The tests decide by raising, so stderr there comes from
    the submission's own code (debug prints to sys.stderr, a logging call, a numpy RuntimeWarning) and says
    nothing about whether the answer is right; zeroing it punishes style, not correctness, and a student
    cannot make a test pass by writing to stderr. Library warnings are still dropped first by IgnorePattern
    (listed before this), so graders reading the notebook see only what the submission wrote, relabelled.
    """

    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if _is_test_cell(cell) and not any(o.output_type == "error" for o in cell.outputs):
            for output in cell.outputs:
                if output.output_type == "stream" and output.name == "stderr":
                    output.name = "stdout"
                    output.text = "[stderr, does not cost points]\n" + output.text
        return cell, resources




class TestResultsAreNotGrades(NbGraderPreprocessor):
    """A value displayed in a test cell is shown as text, never read as the cell's grade.

    nbgrader takes a test cell's first ``execute_result`` as partial credit, before it looks for errors: a
    submission whose function calls ``sys.displayhook(1.0)`` would get the points of a test that then fails,
    and ``sys.displayhook(1e9)`` would stop its grades from being saved. The course's tests decide by raising
    only, so the result becomes a plain stdout stream with the same text.
    """

    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if _is_test_cell(cell):
            cell.outputs = [new_output("stream", name="stdout", text=_as_text(o.get("data", {}).get("text/plain", ""))
                                       + "\n") if o.output_type == "execute_result" else o for o in cell.outputs]
        return cell, resources


def _as_text(value) -> str:
    return value if isinstance(value, str) else "".join(value)


class ShortenTestTracebacks(Preprocessor):
    """Feedback keeps each failed test's error type and the first line of its message, nothing more.

    IPython tracebacks quote the lines around the failing assertion, which would show hidden test code
    to students; the assertion messages are written to say what is wrong without that, on one line. An
    exception raised by the student's code while a test ran carries whatever the student put in it: it is
    cut to one line of at most ``max_message_chars`` so that it cannot carry data out of the grading run.
    """

    enabled = Bool(True).tag(config=True)  # nbconvert preprocessors are off unless enabled
    max_message_chars = Integer(300, help="Characters kept of a failed test's message.").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if _is_test_cell(cell):
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.evalue = self.bounded(output.evalue)
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources

    def bounded(self, message: str) -> str:
        lines = _strip_ansi(message).strip().splitlines() or [""]
        first = lines[0]
        cut = len(first) > self.max_message_chars or len(lines) > 1
        return first[:self.max_message_chars] + (" [message cut]" if cut else "")


class ClearHiddenTestsOfTestCells(ClearHiddenTests):
    """nbgrader's ClearHiddenTests on test cells only.

    Test cells come back from the source when autograding, so their hidden regions are well formed; an
    answer cell may hold any text, and a stray ``### BEGIN HIDDEN TESTS`` there must not stop the student's
    feedback (nbgrader raises on a region without its end).
    """

    def preprocess_cell(self, cell, resources, index):
        if not _is_test_cell(cell):
            return cell, resources
        return super().preprocess_cell(cell, resources, index)


class SanitizeOutputs(NbGraderPreprocessor):
    """What the student's notebook shows, made safe to open in formgrader and in the feedback page.

    Code cell outputs keep plain text, PNG/JPEG images, LaTeX and JSON; HTML and Markdown outputs are
    cleaned with bleach to formatting tags (no script, no event handler, no style, no frame, images only
    from ``data:`` URIs so nothing is fetched from elsewhere); every other type (JavaScript, SVG, widgets)
    is dropped. Markdown cells the student could edit (unlocked) are cleaned the same way; locked cells are
    the instructor's and come back from the source.
    """

    enabled = Bool(True).tag(config=True)
    kept_output_types = List(Unicode(), ["text/plain", "image/png", "image/jpeg", "text/latex",
                                         "application/json"], help="Output types kept as they are.").tag(config=True)
    cleaned_output_types = List(Unicode(), ["text/html", "text/markdown"],
                                help="Output types kept after cleaning.").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                data = output.get("data")
                if data is None:
                    continue
                for key in list(data):
                    if key in self.cleaned_output_types:
                        data[key] = clean_html(data[key] if isinstance(data[key], str) else "".join(data[key]))
                    elif key not in self.kept_output_types:
                        del data[key]
        elif cell.cell_type in ("markdown", "raw") and not cell.get("metadata", {}).get("nbgrader", {}).get("locked"):
            cell.source = clean_html(cell.source)
        return cell, resources


SAFE_TAGS = ["a", "abbr", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
             "hr", "i", "img", "li", "ol", "p", "pre", "span", "strong", "sub", "sup", "table", "tbody", "td",
             "th", "thead", "tr", "ul"]


def _safe_attribute(tag: str, name: str, value: str) -> bool:
    if name in ("class", "title", "alt", "colspan", "rowspan", "width", "height"):
        return True
    if tag == "img" and name == "src":
        return value.startswith("data:image/") and not value.startswith("data:image/svg")
    if tag == "a" and name == "href":
        return value.startswith(("https://", "http://", "#", "mailto:"))
    return False


def clean_html(text: str) -> str:
    """``text`` with only formatting left (see :class:`SanitizeOutputs`); anything else is shown escaped."""
    import bleach

    return bleach.clean(text, tags=SAFE_TAGS, attributes=_safe_attribute,
                        protocols=["http", "https", "mailto", "data"], strip_comments=True)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)
