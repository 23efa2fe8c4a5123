"""The grading sandbox: dlcourse/sandbox_launcher.py (the kernel's empty room) and the staging helpers of
dlcourse/sandbox.py (which of a hostile submission's files a kernel may get).

The unit tests need nothing special; the end-to-end tests start the real launcher and need root (they are
skipped otherwise), the cgroup ones also a cgroup v1 memory and pids hierarchy. Each end-to-end run executes
a short Python program inside the sandbox that prints, as its last line, the facts asserted on here.
"""

import errno
import json
import os
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from jupyter_core.paths import jupyter_runtime_dir

import dlcourse
from dlcourse import sandbox_launcher as launcher
from dlcourse.sandbox import HARD_LINK, HIDDEN, NOT_REGULAR, TOO_LARGE, copy_regular, staged_files

MiB = 2**20
ROOT = Path(__file__).resolve().parents[1]
CGROUP_BASE = "/sys/fs/cgroup"
KERNEL_SET = {"HOME", "TMPDIR", "PYTHONSAFEPATH", "PYTHONDONTWRITEBYTECODE", "DLCOURSE_SUBMISSION"}

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the launcher needs root to build the sandbox")
needs_cgroup_v1 = pytest.mark.skipif(
    not (os.path.isdir(f"{CGROUP_BASE}/memory") and os.path.isdir(f"{CGROUP_BASE}/pids"))
    or os.path.exists(f"{CGROUP_BASE}/cgroup.controllers"),
    reason="needs cgroup v1 memory and pids controllers")


# --- own_cgroups -------------------------------------------------------------------------------------------------

def test_own_cgroups_parses_v1_and_v2_lines():
    text = ("9:name=systemd:/\n8:pids:/\n4:memory:/a/b\n2:cpu,cpuacct:/c\n"
            "3:devices:/with:colon\n0::/user.slice\n")
    assert launcher.own_cgroups(text) == {
        "name=systemd": "/", "pids": "/", "memory": "/a/b", "cpu": "/c", "cpuacct": "/c",
        "devices": "/with:colon", "": "/user.slice"}


def test_own_cgroups_reads_this_process_by_default():
    own = launcher.own_cgroups()
    text = Path("/proc/self/cgroup").read_text()
    assert own and all(path.startswith("/") for path in own.values())
    assert set(own.values()) <= {line.split(":", 2)[2] for line in text.splitlines()}


# --- Cgroups against a fake cgroup folder ----------------------------------------------------------------------

LIMITS = launcher.Limits(memory_mb=256, max_processes=20, disk_mb=16)


def _fake_v1(base: Path, controllers=("memory", "pids")) -> dict[str, str]:
    own = {"memory": "/a/b", "pids": "/", "name=systemd": "/"}
    for controller in controllers:
        (base / controller / own[controller].lstrip("/")).mkdir(parents=True, exist_ok=True)
    return own


def _empty(folder: str) -> None:
    for entry in os.listdir(folder):
        os.remove(os.path.join(folder, entry))


def test_cgroups_v1_create_writes_the_limits(tmp_path):
    cgroups = launcher.Cgroups("dlcourse-kernel-7", base=str(tmp_path), own=_fake_v1(tmp_path))
    assert not cgroups.unified
    assert cgroups.create(LIMITS) == []
    memory, pids = tmp_path / "memory/a/b/dlcourse-kernel-7", tmp_path / "pids/dlcourse-kernel-7"
    assert cgroups.created == [str(memory), str(pids)]
    assert (memory / "memory.limit_in_bytes").read_text() == str(256 * MiB)
    assert not (memory / "memory.memsw.limit_in_bytes").exists()  # no swap accounting here: left alone
    assert (pids / "pids.max").read_text() == "20"
    assert sorted(os.listdir(memory)) == ["memory.limit_in_bytes"]


def test_cgroups_v1_missing_controller_is_named(tmp_path):
    cgroups = launcher.Cgroups("k", base=str(tmp_path), own=_fake_v1(tmp_path, controllers=("memory",)))
    problems = cgroups.create(LIMITS)
    assert len(problems) == 1 and "pids" in problems[0] and "not available" in problems[0]
    assert cgroups.created == [str(tmp_path / "memory/a/b/k")]

    no_memory = launcher.Cgroups("k2", base=str(tmp_path), own={"pids": "/"})  # memory not in /proc/self/cgroup
    (tmp_path / "pids").mkdir(exist_ok=True)
    problems = no_memory.create(LIMITS)
    assert len(problems) == 1 and "memory" in problems[0]
    assert (tmp_path / "pids/k2/pids.max").read_text() == "20"


def test_cgroups_v1_never_reuses_an_existing_folder(tmp_path):
    own = _fake_v1(tmp_path)
    (tmp_path / "memory/a/b/taken").mkdir()
    cgroups = launcher.Cgroups("taken", base=str(tmp_path), own=own)
    problems = cgroups.create(LIMITS)
    assert len(problems) == 1 and "memory" in problems[0]
    assert str(tmp_path / "memory/a/b/taken") not in cgroups.created
    assert not (tmp_path / "memory/a/b/taken/memory.limit_in_bytes").exists()


def test_cgroups_add_and_memory_exceeded(tmp_path):
    cgroups = launcher.Cgroups("k", base=str(tmp_path), own=_fake_v1(tmp_path))
    assert cgroups.create(LIMITS) == []
    cgroups.add(4242)
    for folder in cgroups.created:
        assert Path(folder, "cgroup.procs").read_text() == "4242"
    assert not cgroups.memory_exceeded()  # no events file at all
    oom_control = Path(cgroups.created[0], "memory.oom_control")
    oom_control.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    assert not cgroups.memory_exceeded()
    oom_control.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    assert cgroups.memory_exceeded()
    oom_control.unlink()
    Path(cgroups.created[0], "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n")
    assert cgroups.memory_exceeded()


def test_cgroups_remove(tmp_path):
    cgroups = launcher.Cgroups("k", base=str(tmp_path), own=_fake_v1(tmp_path))
    assert cgroups.create(LIMITS) == []
    folders = list(cgroups.created)
    started = time.monotonic()
    cgroups.remove(attempts=2)  # not empty (a fake cgroup keeps its files): gives up without raising
    assert time.monotonic() - started < 5
    assert all(os.path.isdir(folder) for folder in folders) and cgroups.created == []
    cgroups.created = list(folders)
    for folder in folders:
        _empty(folder)
    cgroups.remove()
    assert not any(os.path.exists(folder) for folder in folders) and cgroups.created == []
    assert (tmp_path / "memory/a/b").is_dir() and (tmp_path / "pids").is_dir()  # the parents stay


@pytest.mark.parametrize("enabled, written", [("", "+memory +pids"), ("memory", "+pids"), ("cpu pids", "+memory")])
def test_cgroups_v2_enables_controllers_and_writes_limits(tmp_path, enabled, written):
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    parent = tmp_path / "user.slice"
    parent.mkdir()
    (parent / "cgroup.subtree_control").write_text(enabled)
    cgroups = launcher.Cgroups("dlcourse-kernel-9", base=str(tmp_path), own={"": "/user.slice"})
    assert cgroups.unified
    assert cgroups.create(LIMITS) == []
    assert (parent / "cgroup.subtree_control").read_text() == written
    child = parent / "dlcourse-kernel-9"
    assert cgroups.created == [str(child)]
    assert (child / "memory.max").read_text() == str(256 * MiB)
    assert (child / "pids.max").read_text() == "20"
    assert not (child / "memory.swap.max").exists()
    cgroups.add(99)
    assert (child / "cgroup.procs").read_text() == "99"
    assert not cgroups.memory_exceeded()
    (child / "memory.events").write_text("low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\noom_group_kill 0\n")
    assert cgroups.memory_exceeded()
    _empty(str(child))
    cgroups.remove()
    assert not child.exists() and parent.is_dir()


def test_cgroups_v2_already_enabled_is_left_alone(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("memory pids\n")
    cgroups = launcher.Cgroups("k", base=str(tmp_path), own={"": "/"})
    assert cgroups.create(LIMITS) == []
    assert (tmp_path / "cgroup.subtree_control").read_text() == "memory pids\n"
    assert (tmp_path / "k/pids.max").read_text() == "20"


def test_cgroups_v2_without_subtree_control_is_named(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    cgroups = launcher.Cgroups("k", base=str(tmp_path), own={"": "/missing"})
    problems = cgroups.create(LIMITS)
    assert len(problems) == 1 and "cgroup v2" in problems[0]
    assert cgroups.created == [] and not (tmp_path / "missing").exists()


# --- the room's layout, environment and options ---------------------------------------------------------------

def test_read_only_folders_keeps_only_outer_existing_folders(tmp_path):
    a, c = tmp_path / "a", tmp_path / "c"
    (a / "b" / "deeper").mkdir(parents=True)
    (tmp_path / "a2").mkdir()
    c.mkdir()
    (tmp_path / "file").write_text("not a folder")
    requested = [str(a / "b" / "deeper"), str(a / "b"), f"{a}/", str(a), str(tmp_path / "a2"), f"{c}/../c",
                 "/usr/lib", "/usr", "/etc", str(tmp_path / "missing"), str(tmp_path / "file")]
    assert sorted(launcher.read_only_folders(requested)) == sorted([str(a), str(tmp_path / "a2"), str(c)])
    assert launcher.read_only_folders(["/usr/lib", "/etc"]) == []


def test_kernel_environment(monkeypatch):
    monkeypatch.setenv("PATH", "/bin:/usr/bin")
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    monkeypatch.delenv("TZ", raising=False)
    in_room = launcher.kernel_environment(["PATH", "TZ"], in_room=True)
    assert in_room == {"PATH": "/bin:/usr/bin", "PYTHONSAFEPATH": "1", "PYTHONDONTWRITEBYTECODE": "1",
                       "HOME": "/tmp/home", "TMPDIR": "/tmp", "DLCOURSE_SUBMISSION": "/tmp/submission"}
    assert launcher.kernel_environment([], in_room=False) == {"PYTHONSAFEPATH": "1", "PYTHONDONTWRITEBYTECODE": "1"}


REQUIRED = ["--memory-mb", "256", "--max-processes", "20", "--disk-mb", "16", "--root", "/r", "--staged", "/s",
            "--socket-dir", "/k"]


def test_parse_args():
    args = launcher.parse_args([*REQUIRED, "--read-only", "/x", "--read-only", "/y", "--keep-env", "PATH", "--",
                                "python", "-m", "ipykernel_launcher", "--memory-mb", "1", "-f", "k.json"])
    assert (args.memory_mb, args.max_processes, args.disk_mb) == (256, 20, 16)
    assert (args.root, args.staged, args.socket_dir) == ("/r", "/s", "/k")
    assert args.read_only == ["/x", "/y"] and args.keep_env == ["PATH"] and not args.quiet
    assert args.command == ["python", "-m", "ipykernel_launcher", "--memory-mb", "1", "-f", "k.json"]
    assert launcher.parse_args([*REQUIRED, "--quiet", "--", "true"]).quiet


@pytest.mark.parametrize("argv", [
    pytest.param([*REQUIRED, "--"], id="no-command"),
    pytest.param(REQUIRED, id="nothing-after-options"),
    pytest.param([*REQUIRED[2:], "--", "true"], id="no-memory"),
    pytest.param([*REQUIRED[:-2], "--", "true"], id="no-socket-dir"),
    pytest.param([*REQUIRED[:6], *REQUIRED[8:], "--", "true"], id="no-root"),
    pytest.param(["--memory-mb", "lots", *REQUIRED[2:], "--", "true"], id="not-a-number"),
])
def test_parse_args_refuses(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        launcher.parse_args(argv)
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


@needs_root
def test_copy_staged_owners_and_modes(tmp_path):
    source, submission, home = tmp_path / "staged", tmp_path / "room/submission", tmp_path / "room/home"
    (source / "sub").mkdir(parents=True)
    (source / "data.csv").write_bytes(b"a,b\n")
    (source / "sub/inner.txt").write_bytes(b"inner")
    submission.mkdir(parents=True)
    home.mkdir()
    uid = launcher.FIRST_UID + 1
    assert launcher.copy_staged(str(source), str(submission), uid, owned=False) == []
    assert launcher.copy_staged(str(source), str(home), uid, owned=True) == []
    assert launcher.copy_staged(str(tmp_path / "missing"), str(home), uid, owned=True) == []
    for name in ("data.csv", "sub/inner.txt"):
        assert (submission / name).read_bytes() == (source / name).read_bytes() == (home / name).read_bytes()
        read_only = (submission / name).stat()
        assert (read_only.st_uid, stat.S_IMODE(read_only.st_mode)) == (0, 0o444)
        assert (home / name).stat().st_uid == uid


# --- staged_files and copy_regular (a hostile submission folder) -----------------------------------------------

def _hostile_folder(tmp_path: Path) -> Path:
    folder, outside = tmp_path / "submission", tmp_path / "outside"
    (folder / "sub").mkdir(parents=True)
    (folder / ".git").mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (outside / "answers.ipynb").write_text("{}")
    (folder / "data.csv").write_bytes(b"a,b\n1,2\n")
    (folder / "sub/inner.txt").write_bytes(b"inner")
    (folder / "x.ipynb").write_text("{}")
    (folder / "sub/y.ipynb").write_text("{}")
    (folder / "abs_link").symlink_to(outside / "secret.txt")
    (folder / "rel_link").symlink_to("../outside/secret.txt")
    (folder / "dangling").symlink_to(tmp_path / "nowhere")
    (folder / "linked.ipynb").symlink_to(outside / "answers.ipynb")
    (folder / "dir_link").symlink_to(outside, target_is_directory=True)
    os.mkfifo(folder / "fifo")
    (folder / "hard1").write_bytes(b"hard")
    os.link(folder / "hard1", folder / "hard2")
    os.link(outside / "secret.txt", folder / "sub/hard_outside")
    (folder / ".hidden").write_bytes(b"h")
    (folder / ".git/config").write_text("[core]")
    (folder / "big.bin").write_bytes(b"x" * 2000)
    return folder


def test_staged_files_keeps_only_plain_files(tmp_path):
    folder = _hostile_folder(tmp_path)
    kept, dropped = staged_files(folder, max_bytes=1000)
    assert sorted(p.as_posix() for p in kept) == ["data.csv", "sub/inner.txt"]
    assert all(isinstance(p, Path) and not p.is_absolute() for p in kept)
    reasons = {Path(relative).as_posix(): reason for relative, reason in dropped}
    assert len(reasons) == len(dropped)  # each named once
    # no plain notebook, nothing inside .git or behind dir_link
    assert reasons == {"abs_link": NOT_REGULAR, "rel_link": NOT_REGULAR, "dangling": NOT_REGULAR,
                       "linked.ipynb": NOT_REGULAR, "fifo": NOT_REGULAR, "dir_link": NOT_REGULAR, ".git": HIDDEN,
                       "hard1": HARD_LINK, "hard2": HARD_LINK, "sub/hard_outside": HARD_LINK, ".hidden": HIDDEN,
                       "big.bin": TOO_LARGE}
    notebooks = staged_files(folder, max_bytes=1000, notebooks=True)
    assert sorted(p.as_posix() for p in notebooks[0]) == ["data.csv", "sub/inner.txt", "sub/y.ipynb", "x.ipynb"]


def test_staged_files_limit_counts_all_files(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).write_bytes(b"x" * 400)
    kept, dropped = staged_files(tmp_path, max_bytes=1000)
    assert kept == [Path("a"), Path("b")]
    assert dropped == [(Path("c"), TOO_LARGE)]
    assert staged_files(tmp_path, max_bytes=1200) == ([Path("a"), Path("b"), Path("c")], [])


def test_copy_regular(tmp_path):
    source = tmp_path / "data.bin"
    payload = os.urandom(300_000)
    source.write_bytes(payload)
    target = tmp_path / "staged/sub/data.bin"
    copy_regular(source, target)
    assert target.read_bytes() == payload
    with pytest.raises(FileExistsError):  # never writes through what is already there
        copy_regular(source, target)
    assert target.read_bytes() == payload

    (tmp_path / "link").symlink_to(source)
    with pytest.raises(OSError):
        copy_regular(tmp_path / "link", tmp_path / "staged/link")
    os.mkfifo(tmp_path / "fifo")  # a file swapped for a fifo after listing: refused, without blocking
    with pytest.raises(OSError):
        copy_regular(tmp_path / "fifo", tmp_path / "staged/fifo")


def test_copy_regular_refusing_leaves_no_target(tmp_path):
    (tmp_path / "data.bin").write_bytes(b"data")
    (tmp_path / "link").symlink_to(tmp_path / "data.bin")
    os.mkfifo(tmp_path / "fifo")
    for name in ("link", "fifo"):
        with pytest.raises(OSError):
            copy_regular(tmp_path / name, tmp_path / "staged" / name)
    assert not (tmp_path / "staged/link").exists() and not (tmp_path / "staged/fifo").exists()


# --- end to end through the real launcher ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def base():
    """A private folder outside /tmp, where the grader keeps its kernels' folders (Jupyter's runtime folder)."""
    runtime = Path(jupyter_runtime_dir())
    runtime.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="test-sandbox-", dir=runtime))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _command(run: Path, code: str, args, memory_mb: int, max_processes: int, disk_mb: int) -> list[str]:
    return [sys.executable, "-m", "dlcourse.sandbox_launcher", "--memory-mb", str(memory_mb),
            "--max-processes", str(max_processes), "--disk-mb", str(disk_mb), "--root", str(run / "root"),
            "--staged", str(run / "staged"), "--socket-dir", str(run / "sockets"), "--read-only", sys.prefix,
            "--read-only", os.path.realpath(sys.base_prefix), "--read-only", os.path.dirname(dlcourse.__file__),
            "--keep-env", "PATH", "--", sys.executable, "-c", code, *args]


def _prepare(base: Path, submission: Path | None, home: dict[str, bytes] | None) -> Path:
    """A kernel's folder as SandboxedKernelManager makes it: root/, staged/{submission,home}/, sockets/."""
    run = Path(tempfile.mkdtemp(prefix="run-", dir=base))
    for name in ("root", "staged/submission", "staged/home", "sockets"):
        (run / name).mkdir(parents=True)
    if submission is not None:
        for relative in staged_files(submission, 10 * MiB)[0]:
            copy_regular(submission / relative, run / "staged/submission" / relative)
    for relative, content in (home or {}).items():
        (run / "staged/home" / relative).parent.mkdir(parents=True, exist_ok=True)
        (run / "staged/home" / relative).write_bytes(content)
    return run


def launch(base: Path, code: str, *args: str, memory_mb: int = 512, max_processes: int = 64, disk_mb: int = 64,
           submission: Path | None = None, home: dict[str, bytes] | None = None,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``python -c code *args`` in the sandbox and wait for it."""
    run = _prepare(base, submission, home)
    return subprocess.run(_command(run, code, args, memory_mb, max_processes, disk_mb), capture_output=True,
                          text=True, timeout=60, env=env, cwd=ROOT)


def facts(result: subprocess.CompletedProcess) -> dict:
    """The JSON the program printed last."""
    lines = result.stdout.strip().splitlines()
    assert lines, f"no output (exit {result.returncode}): {result.stderr}"
    return json.loads(lines[-1])


def kernel_cgroup_folders(name: str) -> list[str]:
    """The host's folders of the kernel's memory and pids cgroups (v1), below this process's own cgroups."""
    own = launcher.own_cgroups()
    return [os.path.join(CGROUP_BASE, controller, own[controller].lstrip("/"), name)
            for controller in ("memory", "pids")]


IDENTITY = r"""
import json, os, resource, socket, sys
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print(json.dumps({
    "uids": os.getresuid(), "gids": os.getresgid(), "groups": os.getgroups(), "cwd": os.getcwd(),
    "env": dict(os.environ), "pid": os.getpid(), "processes": [p for p in os.listdir("/proc") if p.isdigit()],
    "no_new_privs": status["NoNewPrivs"].strip(), "safe_path": sys.flags.safe_path, "path0": sys.path[0],
    "interfaces": [name for _, name in socket.if_nameindex()],
    "core": resource.getrlimit(resource.RLIMIT_CORE),
    "home_owner": os.stat("/tmp/home").st_uid, "home_mode": oct(os.stat("/tmp/home").st_mode & 0o777),
}))
"""


@needs_root
def test_kernel_identity_and_environment(base):
    env = dict(os.environ, SECRET_TOKEN="hunter2", PYTHONPATH=str(ROOT / "source"), JUPYTER_TOKEN="abc")
    result = launch(base, IDENTITY, env=env)
    assert result.returncode == 0, result.stderr
    assert "sandbox: not enforced" not in result.stderr  # as root on this machine, everything is in place
    seen = facts(result)
    uid = seen["uids"][0]
    assert uid >= launcher.FIRST_UID and seen["uids"] == [uid] * 3 and seen["gids"] == [uid] * 3
    assert seen["groups"] == []
    assert seen["no_new_privs"] == "1"
    assert seen["cwd"] == "/tmp/home" and seen["env"]["HOME"] == "/tmp/home"
    assert (seen["home_owner"], seen["home_mode"]) == (uid, "0o700")
    assert KERNEL_SET | {"PATH"} <= set(seen["env"]) <= KERNEL_SET | {"PATH", "LC_CTYPE"}
    assert seen["env"]["PATH"] == os.environ["PATH"]
    assert seen["env"]["TMPDIR"] == "/tmp" and seen["env"]["DLCOURSE_SUBMISSION"] == "/tmp/submission"
    assert seen["safe_path"] == 1 and seen["path0"] not in ("", "/tmp/home")
    assert seen["pid"] == 1 and seen["processes"] == ["1"]  # its own PID namespace: nothing else to see
    assert seen["interfaces"] == ["lo"]  # its own network namespace
    assert seen["core"] == [0, 0]


@needs_root
def test_launcher_passes_the_exit_code_through(base):
    result = launch(base, "import sys; print('bye'); sys.exit(3)")
    assert (result.returncode, result.stdout) == (3, "bye\n"), result.stderr


HOST_FILES = r"""
import json, os, sys
request = json.loads(sys.argv[1])
import numpy
import dlcourse, dlcourse.sandbox_launcher
with open(os.path.join(request["sockets"], "from-kernel"), "w") as handle:
    handle.write("written inside")
print(json.dumps({
    "exists": {path: os.path.exists(path) for path in request["hidden"]},
    "numpy": int(numpy.arange(10).sum()), "numpy_file": numpy.__file__, "dlcourse": dlcourse.__file__,
    "shadow_owner": os.stat("/tmp/home/numpy.py").st_uid, "uid": os.getuid(),
    "root": sorted(os.listdir("/")),
}))
"""


@needs_root
def test_host_files_are_not_there(base, tmp_path):
    course_tmp = tmp_path / "course"
    course_tmp.mkdir()
    (course_tmp / "secret.txt").write_text("answers")
    course = Path(tempfile.mkdtemp(prefix="course-", dir=base))  # next to the kernel folders, outside /tmp
    (course / "gradebook.db").write_text("grades")
    fake_home = Path(tempfile.mkdtemp(prefix="home-", dir=base))
    (fake_home / ".ssh").mkdir()
    (fake_home / ".ssh/id_rsa").write_text("private key")
    run = _prepare(base, None, {"numpy.py": b"raise SystemExit('the home folder shadowed numpy')\n"})
    hidden = [str(course_tmp / "secret.txt"), str(course_tmp), str(course / "gradebook.db"), str(course),
              str(fake_home / ".ssh/id_rsa"), str(ROOT / "source"), str(ROOT / ".git"), str(ROOT / "pyproject.toml"),
              str(run / "staged"), str(run / "root")]
    hidden += [path for path in ("/root/.bashrc", str(Path.home() / ".bashrc")) if os.path.exists(path)]
    assert all(os.path.exists(path) for path in hidden)  # all there on the host
    request = {"hidden": hidden, "sockets": str(run / "sockets")}
    result = subprocess.run(_command(run, HOST_FILES, [json.dumps(request)], 512, 64, 64), capture_output=True,
                            text=True, timeout=60, env=dict(os.environ, HOME=str(fake_home)), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    seen = facts(result)
    assert seen["exists"] == {path: False for path in hidden}
    assert seen["numpy"] == 45 and seen["numpy_file"].startswith(sys.prefix)  # not /tmp/home/numpy.py
    assert seen["dlcourse"] == dlcourse.__file__
    assert seen["shadow_owner"] == seen["uid"]
    assert (run / "sockets/from-kernel").read_text() == "written inside"  # the one writable host folder
    assert set(seen["root"]) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "sys",
                                 "tmp", "usr", *(Path(p).parts[1] for p in (sys.prefix, sys.base_prefix, base))}


SUBMISSION = r"""
import errno, json, os, sys
import dlcourse
def error(path, mode):
    try:
        with open(path, mode):
            pass
    except OSError as failure:
        return errno.errorcode[failure.errno]
    return None
files = {}
for dirpath, _, filenames in os.walk("/tmp/submission"):
    for name in filenames:
        path = os.path.join(dirpath, name)
        with open(path, "rb") as handle:
            files[os.path.relpath(path, "/tmp/submission")] = handle.read().decode()
print(json.dumps({
    "files": files,
    "append": {name: error("/tmp/submission/" + name, "a") for name in files},
    "owners": {name: os.stat("/tmp/submission/" + name).st_uid for name in files},
    "usr": error("/usr/.dlcourse-sandbox-test", "w"), "root": error("/.dlcourse-sandbox-test", "w"),
    "venv": error(os.path.join(sys.prefix, ".dlcourse-sandbox-test"), "w"),
    "dlcourse": error(os.path.join(os.path.dirname(dlcourse.__file__), ".dlcourse-sandbox-test"), "w"),
    "home": error("/tmp/home/notes.txt", "w"), "tmp": error("/tmp/scratch", "w"),
}))
"""


@needs_root
def test_submission_is_exactly_the_staged_files_read_only(base, tmp_path):
    submission = _hostile_folder(tmp_path)
    result = launch(base, SUBMISSION, submission=submission)
    assert result.returncode == 0, result.stderr
    for path in ("/usr/.dlcourse-sandbox-test", os.path.join(sys.prefix, ".dlcourse-sandbox-test"),
                 os.path.join(os.path.dirname(dlcourse.__file__), ".dlcourse-sandbox-test")):
        assert not os.path.exists(path), f"the kernel wrote {path} on the host"
    seen = facts(result)
    # no notebook, link, fifo, hard link or hidden file
    assert seen["files"] == {"data.csv": "a,b\n1,2\n", "sub/inner.txt": "inner", "big.bin": "x" * 2000}
    assert seen["append"] == dict.fromkeys(seen["files"], "EACCES")
    assert seen["owners"] == dict.fromkeys(seen["files"], 0)
    assert seen["usr"] == seen["root"] == seen["venv"] == seen["dlcourse"] == "EROFS"
    assert seen["home"] is None and seen["tmp"] is None


NETWORK = r"""
import json, socket, sys
def connect(address):
    try:
        socket.create_connection(address, timeout=3).close()
    except OSError as error:
        return type(error).__name__
    return "connected"
print(json.dumps({"loopback": connect(("127.0.0.1", int(sys.argv[1]))), "outside": connect(("1.1.1.1", 53))}))
"""


@needs_root
def test_no_network(base):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        result = launch(base, NETWORK, str(listener.getsockname()[1]))
        assert result.returncode == 0, result.stderr
        seen = facts(result)
        assert seen["loopback"] != "connected" and seen["outside"] != "connected"
        listener.settimeout(0.2)
        with pytest.raises(TimeoutError):
            listener.accept()


CGROUPS = r"""
import json, resource
from dlcourse.sandbox_launcher import own_cgroups
own = own_cgroups()
def read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None
memory = "/sys/fs/cgroup/memory" + own["memory"]
print(json.dumps({
    "own": own, "memory_limit": read(memory + "/memory.limit_in_bytes"),
    "memsw_limit": read(memory + "/memory.memsw.limit_in_bytes"),
    "pids_max": read("/sys/fs/cgroup/pids" + own["pids"] + "/pids.max"),
    "data": resource.getrlimit(resource.RLIMIT_DATA), "nproc": resource.getrlimit(resource.RLIMIT_NPROC),
}))
"""


@needs_root
@needs_cgroup_v1
def test_cgroup_limits_and_cleanup(base):
    result = launch(base, CGROUPS, memory_mb=256, max_processes=20)
    assert result.returncode == 0, result.stderr
    seen = facts(result)
    name = os.path.basename(seen["own"]["memory"])
    assert name.startswith("dlcourse-kernel-") and name[len("dlcourse-kernel-"):].isdigit()
    memory, pids = kernel_cgroup_folders(name)
    assert CGROUP_BASE + "/memory" + seen["own"]["memory"] == memory
    assert CGROUP_BASE + "/pids" + seen["own"]["pids"] == pids
    assert seen["memory_limit"] == str(256 * MiB)
    if os.path.exists(os.path.join(os.path.dirname(memory), "memory.memsw.limit_in_bytes")):
        assert seen["memsw_limit"] == str(256 * MiB)  # swap counted too, where the kernel accounts it
    assert seen["pids_max"] == "20"
    assert seen["data"] == [int(256 * 0.75) * MiB] * 2 and seen["nproc"] == [20, 20]
    assert not os.path.exists(memory) and not os.path.exists(pids), "the kernel's cgroups were left behind"


FORKS = r"""
import json, os, time
children, failure = [], None
try:
    for _ in range(40):
        pid = os.fork()
        if pid == 0:
            time.sleep(5)
            os._exit(0)
        children.append(pid)
except OSError as error:
    failure = type(error).__name__
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
print(json.dumps({"children": len(children), "failure": failure}))
"""


@needs_root
def test_process_limit(base):
    result = launch(base, FORKS, max_processes=20)
    assert result.returncode == 0, result.stderr
    seen = facts(result)
    assert seen["failure"] == "BlockingIOError"
    assert 1 <= seen["children"] < 20  # the kernel itself is one of the 20


DISK = r"""
import json, os
def fill(path):
    try:
        with open(path, "wb") as handle:
            for _ in range(64):
                handle.write(b"x" * 2**20)
    except OSError as error:
        return error.errno, os.path.getsize(path)
    return None, os.path.getsize(path)
print(json.dumps({"home": fill("/tmp/home/big"), "shm": fill("/dev/shm/big")}))
"""


@needs_root
def test_disk_cap(base):
    result = launch(base, DISK, disk_mb=16, memory_mb=512)
    assert result.returncode == 0, result.stderr
    seen = facts(result)
    for where in ("home", "shm"):
        error, size = seen[where]
        assert error == errno.ENOSPC, (where, seen)
        assert size <= 16 * MiB


MEMFD = r"""
import os
print(open("/proc/self/cgroup").read().replace("\n", ";"), flush=True)
fd = os.memfd_create("fill")
chunk = b"x" * (16 * 2**20)
for written in range(64):  # 1 GB of shared memory, never counted by RLIMIT_DATA
    os.write(fd, chunk)
print("survived", written)
"""


@needs_root
@needs_cgroup_v1
def test_shared_memory_counts_toward_the_memory_limit(base):
    result = launch(base, MEMFD, memory_mb=256)
    assert "survived" not in result.stdout
    assert result.returncode == -signal.SIGKILL, result.stderr  # the launcher ends the way its kernel did
    assert "sandbox: the kernel reached its memory limit" in result.stderr
    assert "Traceback" not in result.stderr
    name = os.path.basename(launcher.own_cgroups(result.stdout.strip().replace(";", "\n"))["memory"])
    assert name.startswith("dlcourse-kernel-")
    assert not any(os.path.exists(folder) for folder in kernel_cgroup_folders(name))


BYTEARRAY = r"""
import json
try:
    block = bytearray(512 * 2**20)
    outcome = "allocated"
except MemoryError:
    outcome = "MemoryError"
smaller = len(bytearray(64 * 2**20))
print(json.dumps({"outcome": outcome, "smaller": smaller}))
"""


@needs_root
def test_large_allocation_raises_memory_error(base):
    result = launch(base, BYTEARRAY, memory_mb=256)
    assert result.returncode == 0, result.stderr
    assert facts(result) == {"outcome": "MemoryError", "smaller": 64 * MiB}
    assert "memory limit" not in result.stderr


SLEEPER = r"""
import time
print(open("/proc/self/cgroup").read().replace("\n", ";"), flush=True)
time.sleep(60)
"""


def _start_sleeper(base: Path) -> tuple[subprocess.Popen, str]:
    """A sandboxed kernel that waits, started as jupyter_client does (its own session), and its cgroups' name."""
    run = _prepare(base, None, None)
    process = subprocess.Popen(_command(run, SLEEPER, [], 256, 20, 16), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=ROOT)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "the sandboxed kernel did not start"
        own = launcher.own_cgroups(process.stdout.readline().strip().replace(";", "\n"))
        return process, os.path.basename(own["pids"])
    except BaseException:
        process.kill()
        process.communicate()
        raise


@needs_root
@needs_cgroup_v1
def test_sigterm_ends_the_kernel_and_its_cgroups(base):
    process, name = _start_sleeper(base)
    try:
        assert name.startswith("dlcourse-kernel-")
        assert all(os.path.isdir(folder) for folder in kernel_cgroup_folders(name))
        process.send_signal(signal.SIGTERM)  # jupyter_client's polite shutdown
        _, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL, stderr  # the kernel (PID 1 of its namespace) was killed
    assert "Traceback" not in stderr
    assert not any(os.path.exists(folder) for folder in kernel_cgroup_folders(name))


@needs_root
@needs_cgroup_v1
def test_cgroups_are_removed_when_the_launcher_is_killed(base):
    process, name = _start_sleeper(base)
    folders = kernel_cgroup_folders(name)
    try:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=10)
        deadline = time.monotonic() + 3
        while any(os.path.exists(folder) for folder in folders) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [folder for folder in folders if os.path.exists(folder)]
    finally:
        process.kill()
        process.communicate()
        for folder in folders:  # leave the machine as it was, whatever the launcher did
            for _ in range(100):
                try:
                    os.rmdir(folder)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
    assert left == []


OVERSIZED_MESSAGE = r"""
import json, resource, sys
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config
from dlcourse.preprocessors import GuardedExecute

notebook = new_notebook(cells=[new_code_cell("print('before')"),
                               new_code_cell("import sys\nsys.stdout.write('y' * 200 * 2**20)\nsys.stdout.flush()"),
                               new_code_cell("raise ValueError('a wrong answer')")])
config = Config()
config.SandboxedKernelManager.max_message_mb = 8
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
grader = GuardedExecute(timeout=60, kernel_name="python3", config=config)
grader.preprocess(notebook, {"metadata": {"path": sys.argv[1]}})
print(json.dumps({"grown_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024,
                  "outputs": [[[o.output_type, o.get("ename"), o.get("evalue", "")] for o in cell.outputs]
                              for cell in notebook.cells]}))
"""


@needs_root
def test_an_oversized_message_is_refused_and_fails_the_cell_instead_of_growing_the_grader(tmp_path):
    """One 200 MB print, graded in a fresh process: its memory grows by far less, and the cell and those after it
    fail with a reason (what the kernel sends after a refused message is lost, errors included, so silence must
    not pass for success)."""
    run = subprocess.run([sys.executable, "-c", OVERSIZED_MESSAGE, str(tmp_path)], capture_output=True, text=True,
                         timeout=120)
    facts = json.loads(run.stdout.strip().splitlines()[-1])
    assert facts["grown_mb"] < 100, f"the grader grew by {facts['grown_mb']:.0f} MB"
    kinds = [[output[:2] for output in cell] for cell in facts["outputs"]]
    assert kinds == [[["stream", None]], [["error", "OutputLost"]], [["error", "CellNotRun"]]], kinds
    assert "over 8 MB" in facts["outputs"][1][0][2]
