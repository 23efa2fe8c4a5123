"""Autograding that survives hostile or broken submissions; configured in nbgrader_config.py.

- :class:`GuardedExecute` replaces nbgrader's Execute in ``Autograde.autograde_preprocessors``: a time
  budget per notebook on top of the per-cell timeout, a clear error in every cell a timeout or a dead kernel
  kept from running, a cap on each cell's output, and a check that hidden tests still use the genuine
  numpy / torch / builtins / dlcourse.checks functions (not ones the submission replaced).
- :class:`TestStderrKeepsPoints` stops stray stderr from zeroing a test cell that passed.
- :class:`DropEmptyGradeMetadata` keeps a copied test cell from crashing nbgrader's sanitizing.
- :class:`SandboxedKernelManager` starts grading kernels through :mod:`dlcourse.sandbox_launcher`: no
  network, a read-only file system but for the student's own folder, a memory limit.

Students' Validate is untouched: none of this runs when they validate in JupyterLab.
"""

import ast
import json
import math
import os
import re
import secrets
import shutil
import signal
import sys
import uuid
from queue import Empty
from time import monotonic

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Integer, List, Unicode

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

# Runs silently in the kernel before the first cell. The genuine objects live only in the closure of one
# function, pushed into the namespace under a random name; it answers with what was replaced.
_GUARD_SETUP = """
def _dlcourse_install_guard(name, dotted_names, builtin_names, modules):
    import builtins, importlib, sys
    for module in modules:
        importlib.import_module(module)
    ip = get_ipython()
    getattr_, sorted_ = getattr, sorted
    def resolve(dotted):
        parts = dotted.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            if ".".join(parts[:cut]) in sys.modules:
                owner = sys.modules[".".join(parts[:cut])]
                for part in parts[cut:-1]:
                    owner = getattr_(owner, part)
                return owner, parts[-1]
        raise LookupError(dotted)
    genuine = {}
    for dotted in dotted_names:
        if dotted.endswith(".*"):
            module = sys.modules.get(dotted[:-2])
            public = [n for n in dir(module) if not n.startswith("_") and callable(getattr_(module, n))]
            dotted_list = [f"{dotted[:-2]}.{n}" for n in public] if module else []
        else:
            dotted_list = [dotted] if dotted.split(".")[0] in sys.modules else []
        for full in dotted_list:
            owner, attr = resolve(full)
            genuine[full] = (owner, attr, getattr_(owner, attr))
    genuine_modules = {m: mod for m, mod in list(sys.modules.items())
                       if any(m == x or m.startswith(x + ".") for x in modules)}
    originals = {n: builtins.__dict__[n] for n in builtin_names}
    labels = {id(obj): full for full, (_, _, obj) in genuine.items()}
    labels.update({id(mod): m for m, mod in genuine_modules.items()})
    hooks = {n: getattr_(type(ip), n) for n in ("run_cell", "run_cell_async", "run_ast_nodes", "run_code",
                                                "transform_cell")}
    transformers = [list(ip.input_transformers_cleanup), list(ip.input_transformers_post),
                    list(ip.ast_transformers)]
    seen = {}
    def check(used):
        bad = []
        for full, (owner, attr, obj) in genuine.items():
            if getattr_(owner, attr, None) is not obj:
                bad.append(full)
        bad += [f"sys.modules[{m!r}]" for m, mod in genuine_modules.items() if sys.modules.get(m) is not mod]
        bad += [f"builtins.{n}" for n, obj in originals.items() if builtins.__dict__.get(n) is not obj]
        bad += [f"IPython's {n}" for n, f in hooks.items() if getattr_(type(ip), n) is not f or n in vars(ip)]
        if [list(ip.input_transformers_cleanup), list(ip.input_transformers_post),
                list(ip.ast_transformers)] != transformers:
            bad.append("IPython's input transformers")
        ns = ip.user_ns
        for n in used:
            if n in originals and n in ns:
                bad.append(f"{n} (the submission's own {n} hides the builtin)")
            elif n in seen and ns.get(n) is not seen[n]:
                bad.append(f"{n} (it no longer refers to {labels[id(seen[n])]})")
        for n, value in list(ns.items()):
            if n not in seen and id(value) in labels:
                seen[n] = value
        return ", ".join(sorted_(set(bad)))
    ip.push({name: check}, interactive=False)
_dlcourse_install_guard(%r, %r, %r, %r)
del _dlcourse_install_guard
"""


# A failed allocation's traceback keeps the frames, and so the memory, alive: later cells would fail too.
_RELEASE_MEMORY = """
import gc as _gc, sys as _sys
_sys.last_type = _sys.last_value = _sys.last_traceback = None
get_ipython().last_execution_result = get_ipython().InteractiveTB.tb = None
_gc.collect()
del _gc, _sys
"""


def _is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


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


class GuardedExecute(Execute):
    """nbgrader's Execute, made robust for grading: see the module docstring.

    Every cell that cannot be graded normally still gets an error output saying why, so it scores 0 with a
    readable reason in the feedback, and the notebook's other cells are graded as usual.
    """

    notebook_timeout = Integer(900, help="Seconds for the whole notebook; later cells are not run.").tag(
        config=True)
    max_output_chars = Integer(200_000, help="Characters of output kept per cell (text, images, errors).").tag(
        config=True)
    guarded = List(Unicode(), GUARDED, help="Dotted names hidden tests rely on ('module.*': its public "
                   "callables); a test cell fails if the submission replaced one.").tag(config=True)
    guarded_builtins = List(Unicode(), GUARDED_BUILTINS, help="Builtins guarded the same way.").tag(config=True)
    sandbox_kernel = Bool(True, help="Start kernels through dlcourse.sandbox_launcher.").tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.sandbox_kernel:
            self.kernel_manager_class = SandboxedKernelManager

    def reset_execution_trackers(self) -> None:
        super().reset_execution_trackers()
        self._deadline = None  # set once the kernel is up: the budget is for running cells
        self._budget_limited = False  # whether the last timeout came from the notebook's budget
        self._timed_out = False
        self._halted = ""  # why the remaining cells are not run
        self._exit_asked = False  # exit() or quit() ran: ipykernel shuts down after the cell
        self._guard = ""  # the guard's name in the kernel, once installed
        self._output_chars = 0
        self._truncated = 0

    # --- time limits -------------------------------------------------------------------------------------

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        if self._deadline is None:
            return timeout
        remaining = max(1, math.ceil(self._deadline - monotonic()))
        self._budget_limited = timeout is None or remaining < timeout
        return remaining if self._budget_limited else timeout

    async def _async_handle_timeout(self, timeout, cell=None):
        self._timed_out = True
        return await super()._async_handle_timeout(timeout, cell)

    def _timeout_message(self) -> str:
        if self._budget_limited:
            return f"stopped: {self._budget_text()} during this cell"
        return f"stopped after {self.timeout} s, the longest a cell may run while grading (an endless loop?)"

    def _budget_text(self) -> str:
        return f"the notebook's time budget of {self.notebook_timeout} s ran out"

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
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cell.outputs.append(_error("DeadKernelError", "the kernel died while running this cell: "
                                       + _death_cause(self._exit_code())))
            self._halted = f"not run: the kernel died in {where}"
        except CellTimeoutError:  # the kernel ignored the interrupt (e.g. a loop that catches KeyboardInterrupt)
            self._kill_kernel()
            cell.outputs.append(_error("CellTimeoutError", self._timeout_message()
                                       + "; the kernel did not stop when interrupted and was killed"))
            self._halted = f"not run: {where} could not be stopped after its time limit"
        else:
            self._after_cell(cell, where)
        if self._truncated:
            cell.outputs.append(new_output("stream", name="stdout",
                                           text=f"\n[output truncated: {self._truncated} characters]\n"))
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
            self._silent(_RELEASE_MEMORY)
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

    # --- output cap ----------------------------------------------------------------------------------------

    def output(self, outs, msg, display_id, cell_index):
        out = super().output(outs, msg, display_id, cell_index)
        if out is None:
            return out
        if len(outs) == 1 and outs[0] is out:  # a clear_output started the cell's output afresh
            self._output_chars = self._truncated = 0
        size = _size(out)
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
        reply = run_sync(self._async_reply)(msg_id, timeout)
        return reply["content"] if reply else {"status": "timeout", "evalue": f"no reply within {timeout} s"}

    async def _async_reply(self, msg_id: str, timeout: float) -> dict | None:
        deadline = monotonic() + timeout
        while (remaining := deadline - monotonic()) > 0:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=remaining))
            except Empty:
                return None
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg
        return None

    def _install_guard(self) -> None:
        name = f"_dlcourse_guard_{secrets.token_hex(6)}"
        modules = ["numpy", "numpy.testing", "numpy.linalg", "dlcourse.checks"]
        if any(re.search(r"\bimport torch\b|\bfrom torch\b", c.source) for c in self.nb.cells):
            modules += ["torch", "torch.nn.functional", "torch.testing"]
        setup = _GUARD_SETUP % (name, list(self.guarded), list(self.guarded_builtins), modules)
        reply = self._silent(setup, timeout=max(120, self.timeout or 0))
        if reply["status"] != "ok":
            raise RuntimeError(f"could not install the grading guard in the kernel: {reply.get('evalue', reply)}")
        self._guard = name
        self._deadline = monotonic() + self.notebook_timeout

    def _replaced(self, test_source: str) -> str:
        used = sorted(set(re.findall(r"\b[A-Za-z_]\w*\b", test_source)))
        reply = self._silent("", f"{self._guard}({used!r})")
        value = reply.get("user_expressions", {}).get("value", {})
        if value.get("status") != "ok":
            return "the grading guard (removed or broken)"
        return ast.literal_eval(value["data"]["text/plain"])

    # --- kernel process --------------------------------------------------------------------------------------

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


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel through :mod:`dlcourse.sandbox_launcher`, talking to it over unix sockets.

    Unix sockets (jupyter's "ipc" transport) work across the network namespace that cuts the kernel off;
    each kernel gets its own socket folder, and the launcher hides the other kernels' folders from it.
    """

    memory_mb = Integer(6144, help="Memory limit (RLIMIT_DATA) of a grading kernel, in MB.").tag(config=True)
    _probed: dict[tuple, bool] = {}  # one warning per grading process about missing protections

    async def _async_pre_start_kernel(self, **kw):
        base = os.path.join(jupyter_runtime_dir(), "dlcourse-sandbox")
        os.makedirs(base, mode=0o700, exist_ok=True)
        self._socket_dir = os.path.join(base, uuid.uuid4().hex)
        os.mkdir(self._socket_dir, mode=0o700)
        self.transport = "ipc"
        self.ip = os.path.join(self._socket_dir, "kernel")
        self.connection_file = os.path.join(self._socket_dir, "kernel.json")
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments=None):
        kernel_cmd = super().format_kernel_cmd(extra_arguments)
        launcher = [sys.executable, "-m", "dlcourse.sandbox_launcher", "--memory-mb", str(self.memory_mb),
                    "--socket-dir", self._socket_dir]
        self._warn_once(launcher)
        return [*launcher, "--quiet", "--", *kernel_cmd]

    def _warn_once(self, launcher: list[str]) -> None:
        """Try the sandbox once per process and log what it cannot enforce here (never fail silently)."""
        import subprocess

        key = (self.memory_mb,)
        if key in self._probed:
            return
        probe = subprocess.run([*launcher, "--", sys.executable, "-c", "pass"], capture_output=True, text=True,
                               cwd=self._socket_dir, timeout=60)
        problems = [line for line in probe.stderr.splitlines() if line.startswith("sandbox:")]
        for problem in problems:
            self.log.warning("grading kernels run with less protection: %s", problem)
        if probe.returncode != 0 and not problems:
            self.log.warning("the grading sandbox's self-test failed: %s", probe.stderr.strip())
        self._probed[key] = not problems

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and getattr(self, "_socket_dir", None):
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources  # AsyncKernelManager's public name for it
