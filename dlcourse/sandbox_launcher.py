"""Start a grading kernel in an empty room: ``python -m dlcourse.sandbox_launcher [options] -- KERNEL ARGV``.

:class:`dlcourse.sandbox.SandboxedKernelManager` builds the command line; this runs as root (or, with less
protection, as a user allowed to make user namespaces) and sets up, before the kernel's first instruction:

- **Nothing to reach.** A new mount namespace whose root is a fresh, read-only tmpfs holding only the
  system folders (/usr, /etc, /lib*, read-only), the Python environment and ``dlcourse`` (read-only, at
  their own paths), a read-only /sys, a private /proc and a minimal /dev. The old root is detached, so the
  course folder, the gradebook, the exchange, $HOME and every other student are not there at all.
- **Its own folder.** /tmp is a size-capped tmpfs (the disk quota) holding ``/tmp/submission`` (the files
  staged by the grader, read-only: never the notebook) and an empty ``/tmp/home``; /dev/shm is capped too.
  Everything the kernel writes vanishes with it.
- **No network.** A new network namespace with nothing in it, not even loopback; the grader talks to the
  kernel over unix sockets in the kernel's own socket folder, the only host folder bound in (writable).
- **No privileges.** The kernel runs as an unprivileged uid of its own with ``no_new_privs``: it cannot undo
  a mount, gain root through a setuid program, or write what its uid does not own.
- **Bounded resources.** A memory cgroup counts all its memory, shared and file-backed included; a pids
  cgroup bounds its processes and threads (cgroup v1 or v2). RLIMIT_DATA turns an ordinary oversized
  allocation into a MemoryError before the cgroup's hard limit kills the kernel; RLIMIT_NPROC, which binds
  the kernel's uid, backs the pids cgroup up.
- **A reduced environment.** Only the variables named with ``--keep-env``, plus HOME, TMPDIR and
  PYTHONSAFEPATH (the working folder is never imported ahead of the installed packages).
- **A new PID namespace.** The kernel sees and signals only its own processes, which all die with it.

What cannot be set up here (no privileges, an old kernel, no cgroup controller) is named on stderr, one line
each, prefixed ``sandbox: not enforced:``, and the kernel starts with the rest.
This module imports nothing heavy: it runs once per graded notebook.
"""

import argparse
import ctypes
import os
import platform
import resource
import secrets
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND = 2, 4, 8, 4096
MS_REC, MS_PRIVATE = 16384, 1 << 18
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 1, 2, 4
AT_RECURSIVE, AT_FDCWD, MNT_DETACH = 0x8000, -100, 2
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SYSCALLS = {"x86_64": {"mount_setattr": 442, "pivot_root": 155},
            "aarch64": {"mount_setattr": 442, "pivot_root": 41}}

# Folders of the host that every program needs, read-only; anything else must be asked for.
SYSTEM_FOLDERS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
SUBMISSION, HOME = "/tmp/submission", "/tmp/home"
FIRST_UID, UID_RANGE = 1_500_000_000, 100_000_000  # unprivileged ids far above any real user's

_libc = ctypes.CDLL(None, use_errno=True)


class SandboxError(OSError):
    pass


@dataclass(frozen=True)
class Limits:
    memory_mb: int  # all the kernel's memory (cgroup); private allocations fail at data_fraction of it
    max_processes: int  # processes and threads
    disk_mb: int  # /tmp and /dev/shm, each
    data_fraction: float = 0.75  # the rest is for file-backed pages (torch's libraries alone map hundreds of MB)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise SandboxError(errno, f"{what}: {os.strerror(errno)}")


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def _syscall(name: str) -> int:
    try:
        return SYSCALLS[platform.machine()][name]
    except KeyError:
        raise SandboxError(0, f"{name}: no syscall number known for {platform.machine()}") from None


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(_bytes(source), _bytes(target), _bytes(fstype), ctypes.c_ulong(flags), _bytes(data)),
           f"mount {target}")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def set_mount_attributes(path: str, attributes: int, recursive: bool = True) -> None:
    """mount_setattr(2): add ``attributes`` (MOUNT_ATTR_*) to the mount at ``path`` and, recursively, below."""
    attr = _MountAttr(attributes, 0, 0, 0)
    _check(_libc.syscall(_syscall("mount_setattr"), AT_FDCWD, path.encode(), AT_RECURSIVE if recursive else 0,
                         ctypes.byref(attr), ctypes.sizeof(attr)), f"mount_setattr {path}")


def bind(source: str, target: str, writable: bool = False, devices: bool = False) -> None:
    """Bind ``source`` (a folder or a file) at ``target``, which is created empty first."""
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        Path(target).touch()
    mount(source, target, None, MS_BIND | MS_REC)
    attributes = (0 if writable else MOUNT_ATTR_RDONLY) | MOUNT_ATTR_NOSUID | (0 if devices else MOUNT_ATTR_NODEV)
    set_mount_attributes(target, attributes)


def tmpfs(target: str, size_mb: float, mode: str = "755", exec_ok: bool = True) -> None:
    os.makedirs(target, exist_ok=True)
    flags = MS_NOSUID | MS_NODEV | (0 if exec_ok else MS_NOEXEC)
    mount("tmpfs", target, "tmpfs", flags, f"size={max(1, int(size_mb * 1024))}k,mode={mode}")


# --- the room ------------------------------------------------------------------------------------------------

def within(path: str, folders) -> bool:
    return any(os.path.commonpath([path, folder]) == folder for folder in folders)


def read_only_folders(requested: list[str]) -> list[str]:
    """The requested folders that exist and are not already inside a system folder or another requested one."""
    folders = []
    for path in sorted({os.path.abspath(p) for p in requested if os.path.isdir(p)}, key=len):
        if not within(path, [*SYSTEM_FOLDERS, *folders]):
            folders.append(path)
    return folders


def build_root(root: str, staged: str, socket_dir: str, read_only: list[str], limits: Limits, uid: int) -> list[str]:
    """Lay out the kernel's whole file system under ``root`` (see the module docstring); returns what failed.

    Runs as root in a new mount namespace, before :func:`enter_root`.
    """
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    tmpfs(root, 16)
    problems = []
    tmpfs(f"{root}/tmp", limits.disk_mb, mode="1777")
    for folder, owner_only in ((SUBMISSION, False), (HOME, True)):
        os.makedirs(root + folder, mode=0o700 if owner_only else 0o755)
        os.chown(root + folder, uid, uid)
    problems += copy_staged(f"{staged}/submission", root + SUBMISSION, uid, owned=False)
    problems += copy_staged(f"{staged}/home", root + HOME, uid, owned=True)
    os.makedirs(f"{root}/proc")
    mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    tmpfs(f"{root}/dev", 1, exec_ok=False)
    for device in DEVICES:
        if os.path.exists(f"/dev/{device}"):
            bind(f"/dev/{device}", f"{root}/dev/{device}", writable=True, devices=True)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    tmpfs(f"{root}/dev/shm", limits.disk_mb, mode="1777")
    for folder in SYSTEM_FOLDERS:
        if os.path.islink(folder):
            os.symlink(os.readlink(folder), root + folder)
        elif os.path.isdir(folder):
            bind(folder, root + folder)
    try:
        bind("/sys", f"{root}/sys")
    except OSError as error:
        problems.append(f"no /sys in the sandbox ({error})")
    for folder in read_only_folders(read_only):
        bind(folder, root + folder)
    for dirpath, _, filenames in os.walk(socket_dir):
        for name in [dirpath, *(os.path.join(dirpath, f) for f in filenames)]:
            os.chown(name, uid, uid)
    bind(socket_dir, root + socket_dir, writable=True)
    set_mount_attributes(root, MOUNT_ATTR_RDONLY, recursive=False)
    return problems


def copy_staged(source: str, target: str, uid: int, owned: bool) -> list[str]:
    """Copy the grader's staged files (regular files and folders only) into the room.

    ``owned``: the kernel's uid owns the copies; otherwise they are root's and read-only.
    """
    if not os.path.isdir(source):
        return []
    problems = []
    for dirpath, dirnames, filenames in os.walk(source):
        relative = os.path.relpath(dirpath, source)
        for name in dirnames:
            os.makedirs(os.path.join(target, relative, name), exist_ok=True)
            os.chown(os.path.join(target, relative, name), uid, uid)
        for name in filenames:
            src, dst = os.path.join(dirpath, name), os.path.normpath(os.path.join(target, relative, name))
            try:
                shutil.copyfile(src, dst, follow_symlinks=False)
            except OSError as error:
                problems.append(f"{os.path.relpath(dst, target)} not copied into the sandbox ({error.strerror})")
                continue
            if owned:
                os.chown(dst, uid, uid)
            else:
                os.chmod(dst, 0o444)
    return problems


def enter_root(root: str) -> None:
    """Make ``root`` the root of this mount namespace and detach the host's file systems from it."""
    os.chdir(root)
    _check(_libc.syscall(_syscall("pivot_root"), b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "detach the old root")
    os.chdir("/")


def drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")


def set_rlimits(limits: Limits, unprivileged: bool) -> list[str]:
    problems = []
    data = int(limits.memory_mb * limits.data_fraction) * 2**20
    wanted = [(resource.RLIMIT_DATA, data, "memory"), (resource.RLIMIT_CORE, 0, "core dumps")]
    if unprivileged:  # RLIMIT_NPROC does not bind root
        wanted.append((resource.RLIMIT_NPROC, limits.max_processes, "processes"))
    for which, value, what in wanted:
        try:
            resource.setrlimit(which, (value, value))
        except (OSError, ValueError) as error:
            problems.append(f"no {what} limit ({error})")
    return problems


def kernel_environment(keep: list[str], in_room: bool) -> dict[str, str]:
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(PYTHONSAFEPATH="1", PYTHONDONTWRITEBYTECODE="1")
    if in_room:
        env.update(HOME=HOME, TMPDIR="/tmp", DLCOURSE_SUBMISSION=SUBMISSION)
    return env


# --- cgroups ---------------------------------------------------------------------------------------------------

class Cgroups:
    """A memory and a pids cgroup of one kernel, below the launcher's own (cgroup v1 or v2).

    ``base`` is where the cgroup file systems are mounted (a fake folder in unit tests); ``own`` maps each
    controller (and "" for v2) to the launcher's cgroup path, as /proc/self/cgroup lists them.
    """

    def __init__(self, name: str, base: str = "/sys/fs/cgroup", own: dict[str, str] | None = None):
        self.name, self.base = name, base
        self.own = own if own is not None else own_cgroups()
        self.unified = os.path.exists(f"{base}/cgroup.controllers")
        self.created: list[str] = []

    def create(self, limits: Limits) -> list[str]:
        """Make the cgroups and write the limits; returns what could not be enforced."""
        memory = str(limits.memory_mb * 2**20)
        if self.unified:
            files = {"memory.max": memory, "memory.swap.max": "0", "pids.max": str(limits.max_processes)}
            return self._make(self._v2_folder(), files, "memory and process limits (cgroup v2)")
        problems = self._make(self._v1_folder("memory"), {"memory.limit_in_bytes": memory,
                                                          "memory.memsw.limit_in_bytes": memory},
                              "memory limit counting shared memory (cgroup v1 memory)")
        problems += self._make(self._v1_folder("pids"), {"pids.max": str(limits.max_processes)},
                               "process limit (cgroup v1 pids)")
        return problems

    def _v1_folder(self, controller: str) -> str | None:
        if controller not in self.own or not os.path.isdir(f"{self.base}/{controller}"):
            return None
        return os.path.join(f"{self.base}/{controller}", self.own[controller].lstrip("/"), self.name)

    def _v2_folder(self) -> str | None:
        parent = os.path.join(self.base, self.own.get("", "/").lstrip("/"))
        try:  # controllers must be enabled for the children; fails if the parent holds processes itself
            enabled = Path(f"{parent}/cgroup.subtree_control").read_text().split()
            missing = [c for c in ("memory", "pids") if c not in enabled]
            if missing:
                Path(f"{parent}/cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))
        except OSError:
            return None
        return os.path.join(parent, self.name)

    def _make(self, folder: str | None, files: dict[str, str], what: str) -> list[str]:
        if folder is None:
            return [f"no {what}: controller not available"]
        try:
            os.mkdir(folder)
        except OSError as error:
            return [f"no {what} ({error})"]
        self.created.append(folder)
        for name, value in files.items():
            path = f"{folder}/{name}"
            if not os.path.exists(path) and name in ("memory.memsw.limit_in_bytes", "memory.swap.max"):
                continue  # no swap accounting: nothing to bound
            try:
                Path(path).write_text(value)
            except OSError as error:
                return [f"no {what}: {name} ({error})"]
        return []

    def add(self, pid: int) -> None:
        for folder in self.created:
            Path(f"{folder}/cgroup.procs").write_text(str(pid))

    def memory_exceeded(self) -> bool:
        for folder in self.created:
            for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
                try:
                    fields = dict(line.split() for line in Path(f"{folder}/{name}").read_text().splitlines())
                except (OSError, ValueError):
                    continue
                if int(fields.get(key, 0)):
                    return True
        return False

    def remove(self, attempts: int = 50) -> None:
        """Remove the cgroups once their last process is gone (the kernel's children die with it)."""
        for folder in reversed(self.created):
            for _ in range(attempts):
                try:
                    os.rmdir(folder)
                    break
                except OSError:
                    time.sleep(0.02)
        self.created = []


def own_cgroups(text: str | None = None) -> dict[str, str]:
    """{controller: path} of this process from /proc/self/cgroup; v2's line has the controller ""."""
    if text is None:
        text = Path("/proc/self/cgroup").read_text()
    own = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            own[controller] = path
    return own


# --- namespaces and processes -----------------------------------------------------------------------------------

def unshare_pid_namespace() -> bool:
    """A new PID namespace for the next child; True if as real root (else inside a user namespace)."""
    if _libc.unshare(CLONE_NEWPID) == 0:
        return True
    uid, gid = os.getuid(), os.getgid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWPID), "unshare (user namespace)")
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
    Path("/proc/self/gid_map").write_text(f"0 {gid} 1")
    return False


def start_reaper() -> int:
    """Fork a process that removes the cgroups written to the returned pipe once the launcher has ended.

    jupyter_client kills a kernel by sending SIGKILL to the launcher's whole process group, which leaves the
    supervisor no chance to clean up: the reaper leaves the session first, and the pipe's end tells it the
    launcher is gone. Called before the PID namespace is unshared.
    """
    read_end, write_end = os.pipe()  # close-on-exec: the kernel does not keep it open
    if os.fork():
        os.close(read_end)
        return write_end
    try:
        os.close(write_end)
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # release the grader's pipes at once
            os.dup2(null, fd)
        chunks = []
        while chunk := os.read(read_end, 4096):
            chunks.append(chunk)
        for folder in reversed(b"".join(chunks).decode().split("\n")):
            for _ in range(250):
                try:
                    os.rmdir(folder)
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
                else:
                    break
    finally:
        os._exit(0)


def _exit_like(status: int) -> None:
    """Leave the way the kernel did, so the grader can tell a crash (signal) from an exit code."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):  # those two cannot be handled, nor reset
            signal.signal(sig, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.kill(os.getpid(), sig)
    sys.exit(os.waitstatus_to_exitcode(status))


def _supervise(child: int, cgroups: Cgroups | None) -> None:
    """Stay outside as the process jupyter_client tracks; mirror the kernel's end, then remove its cgroups.

    SIGINT (interrupts) reaches the kernel directly through the process group; SIGTERM from a shutdown is
    turned into SIGKILL because the kernel, as PID 1 of its namespace, ignores signals it has no handler for.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGKILL))
    while True:
        try:
            _, status = os.waitpid(child, 0)
        except InterruptedError:
            continue
        break
    if cgroups:
        if cgroups.memory_exceeded():
            print("sandbox: the kernel reached its memory limit and was killed", file=sys.stderr, flush=True)
        cgroups.remove()
    _exit_like(status)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dlcourse.sandbox_launcher", description=__doc__.split("\n")[0])
    parser.add_argument("--memory-mb", type=int, required=True, help="all the kernel's memory (cgroup)")
    parser.add_argument("--max-processes", type=int, required=True, help="processes and threads (pids cgroup)")
    parser.add_argument("--disk-mb", type=int, required=True, help="size of /tmp and of /dev/shm")
    parser.add_argument("--root", required=True, help="an empty folder: the kernel's root is mounted on it")
    parser.add_argument("--staged", required=True, help="folder with submission/ and home/ to copy in")
    parser.add_argument("--socket-dir", required=True, help="the kernel's own folder for its unix sockets")
    parser.add_argument("--read-only", action="append", default=[], help="a folder bound in read-only")
    parser.add_argument("--keep-env", action="append", default=[], help="an environment variable kept")
    parser.add_argument("--quiet", action="store_true", help="do not name missing protections on stderr")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the kernel's command line")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("no kernel command after --")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    limits = Limits(args.memory_mb, args.max_processes, args.disk_mb)
    uid = FIRST_UID + secrets.randbelow(UID_RANGE)
    problems: list[str] = []
    cgroups = None
    reaper = start_reaper() if os.geteuid() == 0 else None
    try:
        privileged = unshare_pid_namespace()
    except OSError as error:
        privileged = None
        problems.append(f"no private file system, network or processes ({error})")
    if privileged:
        cgroups = Cgroups(f"dlcourse-kernel-{uid}")
        problems += cgroups.create(limits)
        if reaper is not None and cgroups.created:
            os.write(reaper, "\n".join(cgroups.created).encode())
    if privileged is not None:
        ready_read, ready_write = os.pipe()
        child = os.fork()
        if child:
            os.close(ready_read)
            if cgroups:
                try:
                    cgroups.add(child)
                except OSError as error:
                    print(f"sandbox: not enforced: kernel not in its cgroups ({error})", file=sys.stderr, flush=True)
            os.close(ready_write)  # the kernel's setup starts once it is inside its cgroups
            _supervise(child, cgroups)
        os.close(ready_write)
        os.read(ready_read, 1)
        os.close(ready_read)
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the kernel must not outlive the supervisor
        try:
            _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare (mount and network namespaces)")
            problems += build_root(args.root, args.staged, args.socket_dir, args.read_only, limits,
                                   uid if privileged else 0)
            enter_root(args.root)
        except OSError as error:  # half a room is no room: do not start the kernel at all
            print(f"sandbox: could not be set up: {error}", file=sys.stderr, flush=True)
            os._exit(70)
        if privileged:
            drop_privileges(uid)
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # changing the uid cleared it
        else:
            problems.append("the kernel keeps root inside its user namespace (run the grader as root to drop it)")
    problems += set_rlimits(limits, unprivileged=bool(privileged))
    if problems and not args.quiet:
        for problem in problems:
            print(f"sandbox: not enforced: {problem}", file=sys.stderr, flush=True)
    os.chdir(HOME if privileged is not None else os.getcwd())
    os.execvpe(args.command[0], args.command, kernel_environment(args.keep_env, privileged is not None))


if __name__ == "__main__":
    main()
