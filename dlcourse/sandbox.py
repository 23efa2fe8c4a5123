"""The grader's side of the grading sandbox; :mod:`dlcourse.sandbox_launcher` is the kernel's side.

:class:`SandboxedKernelManager` is the kernel manager of :class:`dlcourse.preprocessors.GuardedExecute`. For
each kernel it makes a private folder in Jupyter's runtime folder (mode 0700) with

- ``staged/submission``: copies of the student's files the kernel may see: regular files of bounded size,
  never a notebook (the autograded notebook holds the hidden tests), a link, a fifo, a device or a hidden
  file; whatever is left out is named in the grading log;
- ``staged/home``: the grader's caches of public data that spare every kernel the same work (matplotlib's
  font list, ``dlcourse.data``'s parsed data sets);
- ``sockets``: the kernel's unix sockets and connection file (the only folder it can write to outside
  its own tmpfs);
- ``root``: the empty mount point of the kernel's file system;

and starts the kernel through the launcher with the limits below. Its client's ZeroMQ sockets refuse any
message larger than ``max_message_mb``, so one huge output cannot grow the grader by gigabytes. The folder is
removed when the kernel is cleaned up.
"""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from traitlets import Integer, List, Type, Unicode, default

# What a kernel needs from the grader's environment; everything else (tokens, paths, the course's
# location, the exchange) stays outside.
KERNEL_ENV = [
    "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "MPLBACKEND", "NBGRADER_EXECUTION", "DLCOURSE_OFFLINE",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
    "JPY_PARENT_PID", "JPY_SESSION_NAME", "PYDEVD_DISABLE_FILE_VALIDATION",
]
HOME_CACHES = [".cache/matplotlib", ".cache/dlcourse"]
NOTEBOOK_SUFFIX = ".ipynb"


NOT_REGULAR, HARD_LINK, HIDDEN, TOO_LARGE = ("not a regular file: a link, fifo, socket or device", "a hard link",
                                            "hidden", "over the size limit of all files")


def staged_files(folder: Path, max_bytes: int, notebooks: bool = False) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The files of ``folder`` a kernel may be given, and (path, reason) for each other entry left out.

    Only regular files with a single link, outside hidden folders, at most ``max_bytes`` in all, never through
    a link (a link to a folder is not entered); notebooks only if ``notebooks``, else silently skipped.
    Paths are relative to ``folder``.
    """
    kept, dropped, total = [], [], 0
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        for name in list(dirnames):
            reason = NOT_REGULAR if os.path.islink(here / name) else HIDDEN if name.startswith(".") else ""
            if reason:
                dirnames.remove(name)
                dropped.append(((here / name).relative_to(folder), reason))
        for name in sorted(filenames):
            relative = (here / name).relative_to(folder)
            info = os.lstat(here / name)
            if name.endswith(NOTEBOOK_SUFFIX) and not notebooks and stat.S_ISREG(info.st_mode):
                continue  # the notebook reaches the kernel cell by cell, never as a file
            reason = (NOT_REGULAR if not stat.S_ISREG(info.st_mode) else HARD_LINK if info.st_nlink > 1
                      else HIDDEN if name.startswith(".") else TOO_LARGE if total + info.st_size > max_bytes
                      else "")
            if reason:
                dropped.append((relative, reason))
            else:
                kept.append(relative)
                total += info.st_size
    return kept, dropped


def read_regular(path: Path) -> bytes:
    """The bytes of a file that must still be the regular file it was when listed (never through a link)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} changed into something other than a regular file")
        return handle.read()


def copy_regular(source: Path, target: Path) -> None:
    content = read_regular(source)  # first: a refused source leaves no empty copy behind
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "xb") as handle:
        handle.write(content)


class SandboxedKernelClient(AsyncKernelClient):
    """The grader's client of a sandboxed kernel: its sockets refuse messages over the manager's
    ``max_message_mb``, so ZeroMQ drops such a message instead of buffering it in the grader.

    ZeroMQ refuses an oversized message by closing the connection, and what the kernel sends on it next is
    lost too, error outputs included: :meth:`output_lost` says whether that happened to the output channel,
    so that the grader fails the cell instead of reading the silence as success.
    """

    _iopub_monitor = None

    @default("context")
    def _context_default(self):
        self._created_context = True  # jupyter_client closes a context it made
        context = zmq.asyncio.Context()
        context.setsockopt(zmq.MAXMSGSIZE, self.parent.max_message_mb * 2**20)  # every socket made from it
        return context

    def connect_iopub(self, identity=None):
        socket = super().connect_iopub(identity=identity)
        address = f"inproc://dlcourse-iopub-monitor-{uuid.uuid4().hex}"
        socket.monitor(address, zmq.EVENT_DISCONNECTED)
        self._iopub_monitor = zmq.Context.shadow(self.context.underlying).socket(zmq.PAIR)
        self._iopub_monitor.connect(address)
        return socket

    def output_lost(self) -> bool:
        """True once the kernel's output connection was cut (by an oversized message)."""
        return self._iopub_monitor is not None and bool(self._iopub_monitor.poll(0))

    def stop_channels(self) -> None:
        if self._iopub_monitor is not None:
            self._iopub_monitor.close(linger=0)
            self._iopub_monitor = None
        super().stop_channels()


class SandboxedKernelManager(AsyncKernelManager):
    """Starts the kernel through :mod:`dlcourse.sandbox_launcher`, talking to it over unix sockets."""

    client_factory = Type(SandboxedKernelClient, klass=AsyncKernelClient)

    memory_mb = Integer(6144, help="All the memory of a grading kernel, shared and file-backed included "
                        "(a memory cgroup), in MB; ordinary allocations fail with MemoryError a little "
                        "below it.").tag(config=True)
    max_processes = Integer(256, help="Processes and threads of a grading kernel (a pids cgroup).").tag(config=True)
    disk_mb = Integer(1024, help="Size of the kernel's /tmp (its working folder and home) and of its "
                      "/dev/shm, in MB.").tag(config=True)
    max_submission_mb = Integer(100, help="The student's files copied into the kernel's folder, in all, "
                                "in MB.").tag(config=True)
    max_message_mb = Integer(64, help="The largest message the grader accepts from a kernel, in MB; a "
                             "larger one is dropped.").tag(config=True)
    kernel_env = List(Unicode(), KERNEL_ENV, help="Environment variables a grading kernel keeps.").tag(config=True)
    read_only_folders = List(Unicode(), [], help="More folders of this machine a grading kernel may read "
                             "(its Python environment and dlcourse are always there).").tag(config=True)
    home_caches = List(Unicode(), HOME_CACHES, help="Folders of the grader's $HOME copied into each kernel's "
                       "empty home: caches of public data only.").tag(config=True)
    _probed: dict[tuple, bool] = {}  # one warning per grading process about missing protections

    async def _async_pre_start_kernel(self, **kw):
        base = Path(jupyter_runtime_dir()) / "dlcourse-sandbox"
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._sandbox_dir = base / uuid.uuid4().hex
        self._sandbox_dir.mkdir(mode=0o700)
        self._stage(Path(kw.get("cwd") or os.getcwd()), self._sandbox_dir)
        sockets = self._sandbox_dir / "sockets"
        sockets.mkdir(mode=0o700)
        self.transport = "ipc"
        self.ip = str(sockets / "kernel")
        self.connection_file = str(sockets / "kernel.json")
        return await super()._async_pre_start_kernel(**kw)

    def _stage(self, submission: Path, sandbox_dir: Path) -> None:
        staged = sandbox_dir / "staged"
        (sandbox_dir / "root").mkdir()
        (staged / "home").mkdir(parents=True)
        files, dropped = staged_files(submission, self.max_submission_mb * 2**20)
        for relative in files:
            copy_regular(submission / relative, staged / "submission" / relative)
        for relative, reason in dropped:
            self.log.warning("not given to the grading kernel: %s (%s)", relative, reason)
        home = Path.home()
        for cache in self.home_caches:
            if (home / cache).is_dir():
                for relative in staged_files(home / cache, self.max_submission_mb * 2**20)[0]:
                    copy_regular(home / cache / relative, staged / "home" / cache / relative)

    def launcher_command(self, sandbox_dir: Path) -> list[str]:
        command = [sys.executable, "-m", "dlcourse.sandbox_launcher", "--memory-mb", str(self.memory_mb),
                   "--max-processes", str(self.max_processes), "--disk-mb", str(self.disk_mb),
                   "--root", str(sandbox_dir / "root"), "--staged", str(sandbox_dir / "staged"),
                   "--socket-dir", str(sandbox_dir / "sockets")]
        for folder in [*self.environment_folders(), *self.read_only_folders]:
            command += ["--read-only", folder]
        for name in self.kernel_env:
            command += ["--keep-env", name]
        return command

    def environment_folders(self) -> list[str]:
        """The Python environment (as the venv and as the interpreter it points to) and dlcourse's folder."""
        import dlcourse

        kernel_python = self.kernel_spec.argv[0] if self.kernel_spec else sys.executable
        kernel_python = shutil.which(kernel_python) or kernel_python
        prefixes = {sys.prefix, sys.base_prefix, str(Path(kernel_python).absolute().parent.parent),
                    str(Path(kernel_python).resolve().parent.parent)}
        return sorted({str(Path(p).resolve()) for p in prefixes} | prefixes | {str(Path(dlcourse.__file__).parent)})

    def format_kernel_cmd(self, extra_arguments=None):
        kernel_cmd = super().format_kernel_cmd(extra_arguments)
        if self._probe_key() not in self._probed:
            with tempfile.TemporaryDirectory(dir=self._sandbox_dir.parent) as scratch:
                for folder in ("root", "staged", "sockets"):
                    (Path(scratch) / folder).mkdir()
                self._warn_once(self.launcher_command(Path(scratch)))
        return [*self.launcher_command(self._sandbox_dir), "--quiet", "--", *kernel_cmd]

    def _probe_key(self) -> tuple:
        return (self.memory_mb, self.max_processes, self.disk_mb)

    def _warn_once(self, launcher: list[str]) -> None:
        """Try the sandbox once per process and log what it cannot enforce here (never fail silently)."""
        if self._probe_key() in self._probed:
            return
        result = subprocess.run([*launcher, "--", sys.executable, "-c", "pass"], capture_output=True, text=True,
                                timeout=60)
        problems = [line for line in result.stderr.splitlines() if line.startswith("sandbox:")]
        for problem in problems:
            self.log.warning("grading kernels run with less protection: %s", problem)
        if result.returncode != 0 and not problems:
            self.log.warning("the grading sandbox's self-test failed: %s", result.stderr.strip())
        self._probed[self._probe_key()] = not problems

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and getattr(self, "_sandbox_dir", None):
            shutil.rmtree(self._sandbox_dir, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources  # AsyncKernelManager's public name for it

