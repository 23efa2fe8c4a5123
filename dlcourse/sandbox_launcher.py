"""Start a grading kernel in a sandbox: ``python -m dlcourse.sandbox_launcher [options] -- KERNEL ARGV``.

Linux namespaces, set up before the kernel starts (``dlcourse.sandbox.SandboxedKernelManager`` builds the
command line):

- no network: a new network namespace with nothing in it, not even a working loopback, so the kernel reaches
  neither the internet nor services on this machine (the grader talks to it over unix sockets);
- a new PID namespace with its own /proc: the kernel cannot see or signal other processes, cannot reach other
  kernels' files through /proc/PID/root, and everything it starts dies with it;
- a mount namespace in which every file system is read-only except the kernel's working directory (the
  student's autograded folder) and its socket folder; /tmp and /dev/shm are private and empty, and $HOME is a
  private copy-on-write view (caches stay readable, writes vanish with the kernel), so the gradebook and other
  students' folders cannot be touched;
- a memory limit (RLIMIT_DATA): large allocations fail with MemoryError instead of starving the machine.
  RLIMIT_AS would be simpler but the CUDA build of torch reserves tens of GB of address space on import.

This module imports nothing heavy: it runs once per graded notebook. When a step cannot be set up (no
privileges, an old kernel), the kernel still starts and each missing protection is named on stderr, one
line each, prefixed ``sandbox:``.
"""

import argparse
import ctypes
import os
import resource
import shutil
import signal
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
MOUNT_ATTR_RDONLY, AT_RECURSIVE, AT_FDCWD, SYS_MOUNT_SETATTR = 1, 0x8000, -100, 442
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)


class SandboxError(OSError):
    pass


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise SandboxError(errno, f"{what}: {os.strerror(errno)}")


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else text.encode()


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(_bytes(source), _bytes(target), _bytes(fstype), ctypes.c_ulong(flags), _bytes(data)),
           f"mount {target}")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _set_read_only(path: str, read_only: bool) -> None:
    """mount_setattr(2) on ``path`` and every mount below it (Linux 5.12 and later)."""
    attr = _MountAttr(MOUNT_ATTR_RDONLY if read_only else 0, 0 if read_only else MOUNT_ATTR_RDONLY, 0, 0)
    _check(_libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), AT_RECURSIVE, ctypes.byref(attr),
                         ctypes.sizeof(attr)), f"mount_setattr {path}")


def _unshare() -> list[str]:
    """New mount, network and PID namespaces; a user namespace too when not privileged. Returns what failed."""
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID
    if _libc.unshare(flags) == 0:
        return []
    uid, gid = os.getuid(), os.getgid()
    try:
        _check(_libc.unshare(flags | CLONE_NEWUSER), "unshare (user namespace)")
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
    except OSError as error:
        return [f"no network isolation, no private file system, no PID isolation ({error})"]
    return []


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def _bind_writable(fd: int, path: str) -> None:
    """Bind the folder opened as ``fd`` back at ``path``, writable, on top of the read-only tree."""
    os.makedirs(path, exist_ok=True)
    _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
    _set_read_only(path, False)


def _bind_read_only(fd: int, path: str) -> None:
    """Bind the folder opened as ``fd`` back at ``path`` (hidden by the private /tmp), read-only."""
    os.makedirs(path, exist_ok=True)
    _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
    _set_read_only(path, True)


def _under_private_tmp(path: str) -> bool:
    return any(os.path.commonpath([path, tmp]) == tmp for tmp in ("/tmp", "/dev/shm"))


def _private_home(home_fd: int, home: str) -> None:
    """$HOME seen through an overlay whose writable layer lives in the private /tmp."""
    layers = "/tmp/.sandbox-home"
    os.makedirs(f"{layers}/upper")
    os.makedirs(f"{layers}/work")
    os.makedirs(home, exist_ok=True)  # a $HOME under /tmp is now hidden by the private /tmp
    _mount("overlay", home, "overlay", 0,
           f"lowerdir=/proc/self/fd/{home_fd},upperdir={layers}/upper,workdir={layers}/work")


def _confine_files(writable: list[str], socket_dir: str, needed: list[str]) -> list[str]:
    """Make the file system read-only but for ``writable`` and ``socket_dir``; returns what failed.

    ``needed`` are folders the kernel runs from (its environment, this package): where they lie under /tmp,
    as in a course cloned there, they are bound back read-only over the private /tmp.
    """
    try:
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        home = os.path.expanduser("~")
        needed = [path for path in needed if _under_private_tmp(path)]
        keep = {path: os.open(path, os.O_PATH | os.O_DIRECTORY)
                for path in [*writable, socket_dir, home, *needed]}
        _set_read_only("/", True)
        for tmp in ("/tmp", "/dev/shm"):
            _mount("tmpfs", tmp, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=1g")
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError as error:
        return [f"file system left writable ({error})"]
    problems = []
    try:
        _private_home(keep[home], home)
    except OSError as error:
        problems.append(f"$HOME ({home}) is read-only instead of a private writable copy ({error})")
    try:
        # the socket folder's siblings are other kernels' sockets and keys: hide them behind an empty tmpfs
        os.makedirs(os.path.dirname(socket_dir), exist_ok=True)
        _mount("tmpfs", os.path.dirname(socket_dir), "tmpfs", MS_NOSUID | MS_NODEV, "mode=700,size=1m")
    except OSError as error:
        problems.append(f"other grading kernels' socket folders stay visible ({error})")
    for path in needed:
        _bind_read_only(keep[path], path)  # without these the kernel cannot start: an error here is fatal
    for path in [*writable, socket_dir]:
        _bind_writable(keep[path], path)
    return problems


def _needed_folders(kernel_command: list[str]) -> list[str]:
    """The environment the kernel's python belongs to and the folder this package is imported from."""
    python = os.path.realpath(shutil.which(kernel_command[0]) or kernel_command[0]) \
        if not os.path.isabs(kernel_command[0]) else kernel_command[0]
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [folder for folder in (os.path.dirname(os.path.dirname(python)), package_parent) if os.path.isdir(folder)]


def _limit_memory(megabytes: int) -> list[str]:
    limit = megabytes * 2**20
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    except (OSError, ValueError) as error:
        return [f"no memory limit ({error})"]
    return []


def _exit_like(status: int) -> None:
    """Leave the way the kernel did, so the grader can tell a crash (signal) from an exit code."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.kill(os.getpid(), sig)
    sys.exit(os.waitstatus_to_exitcode(status))


def _supervise(child: int) -> None:
    """Stay in the parent namespace as the process jupyter_client tracks; mirror the kernel's end.

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
        _exit_like(status)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dlcourse.sandbox_launcher", description=__doc__.split("\n")[0])
    parser.add_argument("--memory-mb", type=int, required=True, help="RLIMIT_DATA of the kernel")
    parser.add_argument("--socket-dir", required=True, help="the kernel's own folder for its unix sockets")
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
    cwd = os.getcwd()
    problems = _unshare()
    isolated = not problems
    if isolated:
        child = os.fork()
        if child:
            _supervise(child)
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the kernel must not outlive the supervisor
        problems += _confine_files([cwd], args.socket_dir, _needed_folders(args.command))
        os.chdir(cwd)  # enter the writable bind mount, not the read-only directory below it
    problems += _limit_memory(args.memory_mb)
    if problems and not args.quiet:
        for problem in problems:
            print(f"sandbox: not enforced: {problem}", file=sys.stderr, flush=True)
    os.execvp(args.command[0], args.command)


if __name__ == "__main__":
    main()
