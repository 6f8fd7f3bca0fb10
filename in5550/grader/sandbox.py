"""Running a submission's nodes in separate, limited processes, and collecting what they returned.

The threat model: a submission is an adversary that runs arbitrary Python in its process. It may loop, crash,
allocate, fork, start threads, open sockets, write anywhere it may write, leave processes and links behind,
patch anything in its own process (the runner included) and forge every byte it sends back. What it sends is
data to check (:mod:`in5550.grader.verdict`), never code to run; this module makes sure that what it *does*
cannot reach the grader, another student's grading or the grade's fairness.

One grading (:func:`run`) is one *jail*, and the protections depend on what the machine offers
(:func:`capabilities` says which apply here; :attr:`Outcome.protections` records them for each grading):

- **Always**: a fresh interpreter in isolated mode without site-packages (``python -I -S -B runner.py``), with
  only torch's folder added to ``sys.path``, so the ``in5550`` package is not importable; a fresh folder per
  process holding its inputs (``task.pt``), the submission and the runner, with ``HOME`` and ``TMPDIR`` inside
  it; resource limits set between fork and exec: CPU time, address space, file size, no core dumps.
- **CPU time, not the clock, decides**: each process may use at most ``Limits.total_s`` CPU seconds
  (``RLIMIT_CPU``); the grader measures the CPU time of the student's processes itself (``/proc``, the kernel's
  accounting, which the student cannot forge) and stops a case after ``Limits.node_s`` CPU seconds, the import
  after ``Limits.startup_s``, the whole submission after ``Limits.total_s``. The clock is only a backstop,
  ``Limits.wall_factor`` times those limits, against a process that sleeps; so a loaded machine slows grading
  down but never changes a grade.
- **A crash costs one case**: results come back per case (``case-I-C.pt``); when the process dies or is
  stopped in a case, a fresh process carries on with the next case. After :data:`FAILURES_PER_NODE` failing
  cases in a row, the node's other cases are given up (a node that loops on every input would otherwise cost
  a limit per case).
- **Root** (as on Gradescope): each grading runs under its own user id, taken from :data:`UIDS` (no passwd
  entry needed) after checking that no process and no file in the shared temporary folders belongs to it, and
  locked for the grading's duration, so parallel gradings never share one. It gets a process-count limit
  (``RLIMIT_NPROC``), ``no_new_privs`` (set-uid programs do not raise it) and owns nothing but its folder. After
  grading, every process of that id is killed (a forked helper takes the id and calls ``kill(-1, SIGKILL)``
  until none is left) and every file it left in the world-writable folders (``/tmp``, ``/var/tmp``,
  ``/dev/shm``, ``/run/lock``, ...) is removed.
- **Root with Linux namespaces** (``unshare`` and ``setpriv`` from util-linux): PID, network and mount
  namespaces. No process outlives its grading (the namespace's first process is the grader's shell; when it
  ends, the kernel kills the rest, ``setsid`` or not); there is no network, not even 127.0.0.1; ``/tmp``,
  ``/var/tmp``, ``/dev/shm`` and ``/run/lock`` are fresh and private; every top-level folder but the system's
  (``/usr``, ``/etc``, ...) is hidden under an empty read-only folder, and so are the ``in5550`` package and
  its checkout, so neither the course's sources nor other students' files nor the grader's folders can be read;
  torch's folder is mounted read-only at ``/tmp/site`` and the submission works in ``/tmp/grading``.
- **Not root**: student code runs as the grader's own user, which can then read and change that user's files,
  signal its processes, use the network, and leave processes (``setsid``) that this module cannot find. The
  protections record says so; grade untrusted code as root or in a container of its own.

The grader reads a result only from a regular file of bounded size, opened without following links, with
``torch.load(weights_only=True)`` (plain data and tensors, never code), and cleans every string in it (a lone
surrogate or an overlong message cannot break a report). The grader never writes into a folder after student
code has run in it.

What this module cannot see is left to the source reading (:mod:`in5550.grader.source`) and to a person (the
hidden review test): whatever the student's process reports about itself (its autograd watch) can be forged.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import math
import os
import random
import resource
import select
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

RUNNER = Path(__file__).with_name("runner.py")
PACKAGE = Path(__file__).resolve().parent.parent  # the in5550 package, hidden from student code
UIDS = range(1_950_000_000, 1_950_004_096)
"""User ids a grading may run as when the grader is root (no passwd entry needed)."""
LOCKS = Path("/run/in5550-grader")  # one lock file per user id in use (falls back to the temporary folder)
SHARED_TEMPORARY = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")
"""World-writable folders whose files of a grading's user id are removed after grading."""
SYSTEM_FOLDERS = frozenset({"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "proc", "sys", "dev",
                            "tmp", "var"})
"""Top-level folders a student process keeps in the mount namespace; every other one is hidden."""
MESSAGE_BYTES = 256  # the longest line the runner sends
LOG_TAIL = 1000  # characters of the process's own output kept for the report
STRING_LIMIT = 4000  # characters of any string that comes back from the student process
FAILURES_PER_NODE = 2  # cases of a node that crash or hang in a row before its other cases are given up
POLL_S = 0.25  # how often the CPU time of the student's processes is read while a case runs
TMPFS_BYTES = 64 << 20  # size of each private temporary folder in the mount namespace


class SandboxError(Exception):
    """Student code cannot be run safely here (e.g. no interpreter the unprivileged user may execute)."""


@dataclass(frozen=True)
class Limits:
    """Limits on a submission's processes. Times are CPU seconds of the student's processes, measured by the
    kernel; the clock only stops a process that exceeds ``wall_factor`` times a limit (a process that sleeps)."""

    startup_s: float = 60.0  # start Python, import torch and the submission
    node_s: float = 15.0  # each case of a node: its forward and backward, twice
    total_s: float = 240.0  # the whole submission, every process and restart included
    memory_bytes: int = 2 << 30  # address space of each process (torch alone takes about 0.6 GiB)
    file_bytes: int = 64 << 20  # the largest file a process may write
    result_bytes: int = 16 << 20  # the largest result file the grader reads
    processes: int = 64  # processes and threads of the grading's user id (RLIMIT_NPROC; root only)
    wall_factor: float = 10.0  # the clock's backstop, as a multiple of each CPU-time limit

    def __post_init__(self):
        for limit in fields(self):
            if not getattr(self, limit.name) > 0:
                raise ValueError(f"Limits: {limit.name} must be positive, got {getattr(self, limit.name)!r}")


@dataclass
class Outcome:
    """What the student's processes left.

    - ``import_problem``: why the submission could not be imported, if so;
    - ``blocked_imports``: imports of the course package the runner refused at import time;
    - ``results``: per node ``None`` (see ``problems``) or ``{"error", "cases", "case_problems",
      "blocked_imports", "runtime"}``: ``error`` a string when the node could not be run at all (no such class),
      else ``cases[c]`` the two runs of case ``c`` (forward and backward twice, as the runner returns them) or
      ``None``, and then ``case_problems[c]`` says why (a crash, a hang: a case that fails costs that case
      only); ``blocked_imports`` the refused imports of the course package while the node ran; ``runtime`` what
      the runner saw outside any one node (a thread started or the watch replaced at import time), which
      concerns every node;
    - ``problems``: per node, why it has no result at all;
    - ``protections``: the protections that applied (see :func:`capabilities`), and ``unprotected``: those that
      did not, each with the reason.
    """

    import_problem: str | None = None
    blocked_imports: list = field(default_factory=list)
    results: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    protections: list = field(default_factory=list)
    unprotected: list = field(default_factory=list)


# --------------------------------------------------------------------------------------------------------------
# What this machine offers


@dataclass(frozen=True)
class Capabilities:
    """How student code can be run here: as another user (root), in namespaces (root, ``unshare``, ``setpriv``)."""

    root: bool
    namespaces: bool
    setpriv: str | None

    def protections(self, limits: Limits) -> tuple[list[str], list[str]]:
        """(applied, not applied with the reason), in words for the report."""
        applied = [f"CPU-time limits ({limits.node_s:g} s per case, {limits.total_s:g} s in all), memory "
                   f"({limits.memory_bytes >> 20} MiB), file size, no core dumps",
                   "isolated interpreter without the course package on its path"]
        missing = []
        if self.root:
            applied += ["own unprivileged user id for this grading, with no_new_privs" if self.setpriv else
                        "own unprivileged user id for this grading",
                        f"process-count limit ({limits.processes})",
                        "every process of that user id killed and its files in shared temporary folders removed "
                        "after grading"]
        else:
            missing += ["own user id: the grader is not root, so student code runs as the grader's user and can "
                        "read and change that user's files and signal its processes",
                        "process-count limit: not root",
                        "cleanup of processes that leave their process group (setsid) and of files left in "
                        "shared temporary folders: not root"]
        if self.namespaces:
            applied += ["PID namespace: no process outlives the grading",
                        "network namespace: no network, not even 127.0.0.1",
                        "mount namespace: private /tmp, /var/tmp, /dev/shm; the course package, its sources and "
                        "every non-system folder hidden"]
        else:
            why = "needs root and Linux namespaces (unshare, setpriv)"
            missing += [f"PID namespace: {why}", f"network isolation: {why}",
                        f"private temporary folders and hidden course files: {why}"]
        return applied, missing


def capabilities() -> Capabilities:
    """What protections this machine offers the grader (see the module's docstring)."""
    root = os.geteuid() == 0
    setpriv = shutil.which("setpriv", path="/usr/bin:/bin:/usr/sbin:/sbin") if root else None
    unshare = shutil.which("unshare", path="/usr/bin:/bin:/usr/sbin:/sbin") if root else None
    namespaces = False
    if setpriv and unshare:
        # the operations the namespace script needs, so that a machine that allows unshare but not mounts (some
        # containers) falls back to a user id alone instead of failing every grading
        script = "mount --make-rprivate / && mount -t tmpfs -o size=4k tmpfs /tmp && mount -t proc proc /proc"
        probe = subprocess.run([unshare, "--pid", "--net", "--mount", "--fork", "--kill-child", "--", "/bin/sh", "-c",
                                script],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               check=False)
        namespaces = probe.returncode == 0
    return Capabilities(root, namespaces, setpriv)


_CAPABILITIES: Capabilities | None = None


def _capabilities() -> Capabilities:
    global _CAPABILITIES  # probed once per grader process (the probe starts a process)
    if _CAPABILITIES is None or _CAPABILITIES.root != (os.geteuid() == 0):
        _CAPABILITIES = capabilities()
    return _CAPABILITIES


def _open_to_others(path: str) -> bool:
    """Whether a user other than the owner can reach ``path`` (every folder above it searchable by others)."""
    real = Path(os.path.realpath(path))
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in real.parents) and \
        bool(real.stat().st_mode & (stat.S_IXOTH | stat.S_IROTH))


def _interpreter(root: bool) -> str:
    """A Python of this version that the student's user may run: this one, or else one on the system path."""
    if not root or _open_to_others(sys.executable):
        return os.path.realpath(sys.executable) if root else sys.executable
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(name, path="/usr/local/bin:/usr/bin:/bin")
    if system and _open_to_others(system):
        return system
    raise SandboxError(f"an unprivileged user cannot run {sys.executable} (a folder above it is closed to other "
                       f"users) and there is no {name} on /usr/local/bin:/usr/bin:/bin it can run")


def _site_dir(root: bool, namespaces: bool) -> str:
    site = str(Path(torch.__file__).resolve().parents[1])
    if root and not namespaces and not _open_to_others(site):
        raise SandboxError(f"an unprivileged user cannot read torch in {site}")
    return site


# --------------------------------------------------------------------------------------------------------------
# The processes and files of a user id


def _stat_fields(pid: str) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its waited-for children) from ``/proc/PID/stat``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            text = stream.read().decode("ascii", "replace")
    except OSError:
        return None
    values = text[text.rfind(")") + 2:].split()
    ticks = sum(int(value) for value in values[11:15])  # utime, stime, cutime, cstime
    return int(values[1]), ticks / os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, float, int]]:
    """Every live process: pid -> (parent pid, CPU seconds, owner's uid)."""
    found = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields_ = _stat_fields(name)
            try:
                owner = os.stat(f"/proc/{name}").st_uid
            except OSError:
                continue
            if fields_ is not None:
                found[int(name)] = (*fields_, owner)
    return found


def _student_processes(root_pid: int, uid: int | None) -> dict[int, float]:
    """The student's processes: descendants of ``root_pid`` and, when it has its own user id, every process of
    ``uid``; pid -> CPU seconds."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    chosen, stack = set(), [root_pid]
    while stack:
        pid = stack.pop()
        if pid in table and pid not in chosen:
            chosen.add(pid)
            stack += children.get(pid, [])
    if uid is not None:
        chosen |= {pid for pid, (_, _, owner) in table.items() if owner == uid}
    return {pid: table[pid][1] for pid in chosen}


def _live_processes_of(uid: int, zombies: bool = False) -> list[int]:
    """Processes of ``uid`` that are not zombies (with ``zombies``, those too: ended processes not yet reaped
    still count against ``RLIMIT_NPROC``)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as stream:
                status = stream.read().decode("ascii", "replace")
        except OSError:
            continue
        lines = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(lines.get("Uid", "-1 ").split()[0]) == uid and (
                zombies or not lines.get("State", "").strip().startswith("Z")):
            found.append(int(name))
    return found


def _kill_user(uid: int) -> None:
    """Kill every process of ``uid``: a forked child takes the id and calls ``kill(-1, SIGKILL)``, which reaches
    every process of that id (in any PID namespace below this one), until none is left."""
    for _ in range(100):
        child = os.fork()
        if child == 0:  # pragma: no cover -- the child only signals and exits
            code = 0
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                code = 0
            except BaseException:  # noqa: BLE001 -- whatever happens, the child must not return
                code = 1
            os._exit(code)
        os.waitpid(child, 0)
        if not _live_processes_of(uid):
            return
        time.sleep(0.02)
    raise SandboxError(f"processes of user id {uid} survive SIGKILL: {_live_processes_of(uid)}")


def _files_of(uid: int, folders=SHARED_TEMPORARY) -> list[str]:
    """Files and folders of ``uid`` in the world-writable ``folders`` (and in world-writable folders inside them
    that belong to someone else), without following links."""
    found, stack = [], [folder for folder in folders if os.path.isdir(folder) and not os.path.islink(folder)]
    stack.append(tempfile.gettempdir())
    seen = set()
    while stack:
        folder = stack.pop()
        if folder in seen:
            continue
        seen.add(folder)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if info.st_uid == uid:
                found.append(entry.path)
            elif stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_IWOTH:
                stack.append(entry.path)
    return found


def _remove(path: str) -> None:
    """Remove a file, link or folder tree without following links (``rmtree`` works on descriptors)."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


class _Jail:
    """One grading's identity: a user id (root) or the grader's own, and the base folder of its processes."""

    def __init__(self, capabilities_: Capabilities, limits: Limits):
        self.capabilities, self.limits = capabilities_, limits
        self.uid, self.lock = None, None
        self.base = Path(tempfile.mkdtemp(prefix="in5550-grade-"))
        if capabilities_.root:
            try:
                self.uid, self.lock = self._take_uid()
            except BaseException:
                shutil.rmtree(self.base, ignore_errors=True)
                raise
            self.base.chmod(0o711)  # the student's id may pass through, not list it

    @staticmethod
    def _lock_folder() -> Path:
        for folder in (LOCKS, Path(tempfile.gettempdir()) / "in5550-grader-uids"):
            with contextlib.suppress(OSError):
                folder.mkdir(mode=0o700, exist_ok=True)
                info = os.lstat(folder)
                if stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and not info.st_mode & 0o077:
                    return folder
        raise SandboxError(f"no folder for the grader's locks: {LOCKS} cannot be made (root-only) ")

    def _take_uid(self) -> tuple[int, int]:
        """A free user id of :data:`UIDS`, locked against other gradings on this machine."""
        folder = self._lock_folder()
        start = random.randrange(len(UIDS))
        for offset in range(len(UIDS)):
            uid = UIDS[(start + offset) % len(UIDS)]
            descriptor = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                continue
            if not _live_processes_of(uid, zombies=True) and not _files_of(uid):
                return uid, descriptor
            os.close(descriptor)  # left over by a grader that was killed: skip it
        raise SandboxError(f"no free user id in {UIDS.start}..{UIDS.stop - 1}")

    def folder(self, index: int) -> Path:
        """A fresh folder for one process, written by the grader before any student code runs in it."""
        folder = self.base / f"p{index}"
        folder.mkdir(mode=0o700)
        return folder

    def close(self) -> None:
        """Kill every process of the grading and remove every file it made."""
        try:
            if self.uid is not None:
                _kill_user(self.uid)
                for path in _files_of(self.uid):
                    _remove(path)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
            if self.lock is not None:
                os.close(self.lock)


# --------------------------------------------------------------------------------------------------------------
# Starting one student process


def _set_limits(limits: Limits, nproc: bool) -> None:
    """Runs in the child between fork and exec; the limits hold after the switch of user."""
    cpu = math.ceil(limits.total_s)
    settings = [(resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, limits.memory_bytes),
                (resource.RLIMIT_FSIZE, limits.file_bytes), (resource.RLIMIT_CORE, 0)]
    if nproc:
        settings.append((resource.RLIMIT_NPROC, limits.processes))
    for kind, value in settings:
        resource.setrlimit(kind, (value, value))


def _hidden_folders(keep: list[str]) -> list[str]:
    """Folders to hide in the mount namespace: every top-level one but the system's and those holding ``keep``
    (the interpreter), then the package and its checkout wherever they are."""
    kept = {Path(path).resolve().parts[1] for path in keep if len(Path(path).resolve().parts) > 1}
    hidden = [str(entry) for entry in sorted(Path("/").iterdir())
              if entry.is_dir() and not entry.is_symlink() and entry.name not in SYSTEM_FOLDERS | kept]
    # a checkout under a temporary folder (a fresh clone in /tmp) is hidden already: that folder is replaced by an
    # empty one of the namespace's own, where the package's path does not even exist to be mounted over
    covered = hidden + list(SHARED_TEMPORARY)
    for folder in (PACKAGE, PACKAGE.parent):
        if folder == PACKAGE or (folder / "pyproject.toml").exists():
            if not any(str(folder).startswith(top + "/") or str(folder) == top for top in covered):
                hidden.append(str(folder))
    return hidden


def _namespace_script(folder: Path, site: str, uid: int, command: list[str], setpriv: str, keep: list[str],
                      writer: int) -> str:
    """The shell script that becomes the first process of the new PID namespace: it builds the mount namespace
    (see the module's docstring), says ``ready`` on the pipe ``writer`` (before any student code runs, so that a
    failure to build it is the grader's, never blamed on the submission), then runs ``command`` as ``uid`` and
    waits for it."""
    q = shlex.quote
    stage = folder.parent / f"{folder.name}-root"
    stage.mkdir(mode=0o700)
    lines = ["set -e", "mount --make-rprivate /",
             f"mount -t tmpfs -o mode=1777,size={TMPFS_BYTES},nosuid,nodev tmpfs {q(str(stage))}",
             f"mkdir {q(str(stage / 'grading'))} {q(str(stage / 'site'))}",
             f"mount --bind {q(str(folder))} {q(str(stage / 'grading'))}",
             f"mount --bind {q(site)} {q(str(stage / 'site'))}",
             f"mount -o remount,bind,ro,nosuid,nodev {q(str(stage / 'site'))}"]
    if (Path(site) / PACKAGE.name).resolve() == PACKAGE:  # installed in site-packages: hide it there too
        lines.append(f"mount -t tmpfs -o ro,size=4k tmpfs {q(str(stage / 'site' / PACKAGE.name))}")
    lines.append(f"mount --move {q(str(stage))} /tmp")
    for shared in SHARED_TEMPORARY[1:]:
        if os.path.isdir(shared) and not os.path.islink(shared):
            lines.append(f"mount -t tmpfs -o mode=1777,size={TMPFS_BYTES},nosuid,nodev tmpfs {q(shared)}")
    for hidden in _hidden_folders(keep):
        lines.append(f"mount -t tmpfs -o ro,mode=755,size=4k tmpfs {q(hidden)}")
    lines += ["mount -t proc -o nosuid,nodev,noexec proc /proc", "cd /tmp/grading",
              f"echo ready > /proc/self/fd/{writer}", "set +e",
              " ".join([q(setpriv), f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs", "--",
                        *map(q, command)])]
    return "\n".join(lines) + "\n"


def _start(jail: _Jail, folder: Path, python: str, site: str, writer: int, log) -> subprocess.Popen:
    """Start the runner in ``folder`` (already holding its files) with the jail's protections."""
    capabilities_, limits = jail.capabilities, jail.limits
    in_namespace = capabilities_.namespaces
    home = "/tmp/grading" if in_namespace else str(folder)
    environment = {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
                   "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    runner = [python, "-I", "-S", "-B", "runner.py", str(writer), "/tmp/site" if in_namespace else site]
    owner: dict = {}
    if capabilities_.root:
        os.chown(folder, jail.uid, jail.uid)
        folder.chmod(0o700)
    if in_namespace:
        script = _namespace_script(folder, site, jail.uid, runner, capabilities_.setpriv, [python], writer)
        command = [shutil.which("unshare", path="/usr/bin:/bin:/usr/sbin:/sbin"), "--pid", "--net", "--mount",
                   "--fork", "--kill-child", "--", "/bin/sh", "-c", script]
    elif capabilities_.root and capabilities_.setpriv:
        command = [capabilities_.setpriv, f"--reuid={jail.uid}", f"--regid={jail.uid}", "--clear-groups",
                   "--no-new-privs", "--", *runner]
    else:
        command = runner
        if capabilities_.root:
            owner = {"user": jail.uid, "group": jail.uid, "extra_groups": []}
    return subprocess.Popen(command, cwd=folder, env=environment, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, pass_fds=(writer,), start_new_session=True,
                            preexec_fn=lambda: _set_limits(limits, capabilities_.root), **owner)


# --------------------------------------------------------------------------------------------------------------
# Reading what came back


def clean(value):
    """``value`` with every string made safe to print and bounded: lone surrogates and other unencodable
    characters become ``\\udcxx`` escapes, strings are cut to :data:`STRING_LIMIT` characters. Containers are
    cleaned throughout; tensors and numbers pass unchanged."""
    if isinstance(value, str):
        text = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return text if len(text) <= STRING_LIMIT else text[:STRING_LIMIT] + " [...]"
    if isinstance(value, dict):
        return {clean(key): clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(item) for item in value]
    return value


def _read_file(path: Path, limit: int):
    """``torch.load(weights_only=True)`` of a regular file of at most ``limit`` bytes, cleaned (:func:`clean`);
    ``None`` otherwise.

    The folder belongs to the student, so the name may be a link, a pipe or a huge file: open it without
    following links or blocking, and check what it is before reading."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        with os.fdopen(descriptor, "rb", closefd=False) as stream:
            data = stream.read(limit + 1)
        return clean(torch.load(io.BytesIO(data), weights_only=True))
    except Exception:  # noqa: BLE001 -- whatever the student left there, it is not a result
        return None
    finally:
        os.close(descriptor)


class _Channel:
    """Lines from the runner's pipe, each awaited until a CPU-time or clock limit: a line, ``TIMEOUT`` (the CPU
    limit), ``STALLED`` (the clock's backstop) or ``CLOSED``."""

    TIMEOUT, STALLED, CLOSED = object(), object(), object()

    def __init__(self, descriptor: int, process: subprocess.Popen, uid: int | None):
        self.descriptor, self.buffer, self.closed = descriptor, b"", False
        self.process, self.uid = process, uid
        self.last_cpu = 0.0  # the latest reading of cpu()

    def cpu(self) -> float:
        """CPU seconds the student's processes have used, by the kernel's accounting."""
        self.last_cpu = max(self.last_cpu, sum(_student_processes(self.process.pid, self.uid).values()))
        return self.last_cpu

    def receive(self, cpu_limit: float, wall_limit: float):
        """The next line, or why none came within ``cpu_limit`` CPU seconds / ``wall_limit`` seconds from now."""
        started, cpu_start = time.monotonic(), None
        while b"\n" not in self.buffer:
            if len(self.buffer) > MESSAGE_BYTES:
                return clean(self.buffer[:40].decode("ascii", "replace"))  # not a message of the runner's
            if self.closed:
                return self.CLOSED
            if time.monotonic() - started > wall_limit:
                return self.STALLED
            if select.select([self.descriptor], [], [], POLL_S)[0]:
                chunk = os.read(self.descriptor, MESSAGE_BYTES)
                self.closed = not chunk
                self.buffer += chunk
                continue
            used = self.cpu()
            cpu_start = used if cpu_start is None else cpu_start
            if used - cpu_start + POLL_S > cpu_limit:  # the first reading came up to POLL_S after the start
                return self.TIMEOUT
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode("ascii", "replace")


def _why_not(message, process: subprocess.Popen, log, in_namespace: bool) -> str:
    """Why the runner did not send the expected message: what it sent instead, or how its process ended."""
    if isinstance(message, str):
        return f"its process sent the grader an unexpected message {message[:40]!r}"
    try:
        code = process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return "it closed its connection to the grader"
    if in_namespace and code > 128:  # the namespace's shell reports a signal as 128 + its number
        code = 128 - code
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else f"signal {-code}"
        reason = {"SIGXCPU": ": out of CPU time", "SIGKILL": ": killed, perhaps for using too much memory",
                  "SIGSEGV": ": a segmentation fault (a crash in native code)"}
        ended = f"the process was ended by {name}{reason.get(name, '')}"
    else:
        ended = f"the process exited with status {code} (os._exit()?)"
    log.seek(0, io.SEEK_END)
    log.seek(max(0, log.tell() - LOG_TAIL))
    tail = clean(log.read().decode("utf-8", "replace").strip())
    return ended + (f"; its last output:\n{tail}" if tail else "")


def _kill(process: subprocess.Popen) -> None:
    """Kill the process and everything in its process group (the jail kills the rest)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


# --------------------------------------------------------------------------------------------------------------
# Grading


def run(source: str, nodes: list[dict], limits: Limits = Limits()) -> Outcome:
    """Run the submission ``source`` on each node of ``nodes`` (``{"name", "cases"}``, inputs only) in sandboxed
    processes, a fresh one after each case that hangs or crashes. Never raises for anything the submission does;
    raises :class:`SandboxError` when student code cannot be run safely at all."""
    capabilities_ = _capabilities()
    python = _interpreter(capabilities_.root)
    site = _site_dir(capabilities_.root, capabilities_.namespaces)
    applied, missing = capabilities_.protections(limits)
    outcome = Outcome(results=[None] * len(nodes), problems=[None] * len(nodes), protections=applied,
                      unprotected=missing)
    jail = _Jail(capabilities_, limits)
    state = _State(limits)
    try:
        position, index = (0, 0), 0
        while position is not None and position[0] < len(nodes):
            position = _run_once(jail, python, site, source, nodes, position, index, state, outcome)
            index += 1
    finally:
        jail.close()
    for index, node in enumerate(nodes):
        result = outcome.results[index]
        if result is None and outcome.problems[index] is None:
            outcome.problems[index] = outcome.import_problem or \
                f"{node['name']} was not run: the submission used up its {limits.total_s:g} s of CPU time"
        elif result is not None and result["error"] is None:
            result["runtime"] = list(state.runtime)
            for case, problem in enumerate(result["case_problems"]):
                if result["cases"][case] is None and problem is None:
                    result["case_problems"][case] = f"{node['name']} was not run on this case: the submission " \
                                                    f"used up its {limits.total_s:g} s of CPU time"
    return outcome


@dataclass
class _State:
    limits: Limits
    spent: float = 0.0  # CPU seconds used by the processes so far
    started: float = field(default_factory=time.monotonic)
    runtime: list = field(default_factory=list)  # what the runner saw at import time, for every node
    failures: dict = field(default_factory=dict)  # node -> cases that failed in a row (crash, hang)

    def cpu_left(self) -> float:
        return self.limits.total_s - self.spent

    def wall_left(self) -> float:
        return self.limits.total_s * self.limits.wall_factor - (time.monotonic() - self.started)


def _run_once(jail, python, site, source, nodes, position, index, state, outcome):
    """One student process, from case ``position`` = (node, case) on. Returns where to go on, or ``None``."""
    folder = jail.folder(index)
    (folder / "submission.py").write_text(source, encoding="utf-8")
    shutil.copyfile(RUNNER, folder / "runner.py")
    torch.save({"first": list(position), "nodes": nodes}, folder / "task.pt")
    for path in folder.iterdir():
        path.chmod(0o644)
    reader, writer = os.pipe()
    with tempfile.TemporaryFile() as log:
        try:
            process = _start(jail, folder, python, site, writer, log)
        finally:
            os.close(writer)
        channel = _Channel(reader, process, jail.uid)
        try:
            return _follow(channel, folder, nodes, position, state, outcome, log, jail.capabilities.namespaces)
        finally:
            with contextlib.suppress(OSError):
                channel.cpu()
            state.spent += channel.last_cpu
            _kill(process)
            os.close(reader)


def _read_import_report(path: Path, limits: Limits, outcome: Outcome, state: _State) -> None:
    """Take the import error and the refused imports from the runner's ``import.pt`` (nothing if malformed)."""
    report = _read_file(path, limits.result_bytes)
    try:
        outcome.blocked_imports = sorted(set(outcome.blocked_imports) | {str(name) for name in
                                                                         report["blocked_imports"]})
        state.runtime = sorted(set(state.runtime) | {str(use) for use in report.get("runtime", [])})
        error = report["error"]
        if error is not None:
            outcome.import_problem = f"the submission could not be imported: {error['type']}: " \
                                     f"{error['message']}\n{error['traceback']}"
    except (KeyError, TypeError, AttributeError):
        pass


def _node_result(outcome: Outcome, index: int, cases: int, state: _State) -> dict:
    if outcome.results[index] is None:
        outcome.results[index] = {"error": None, "cases": [None] * cases, "case_problems": [None] * cases,
                                  "blocked_imports": [], "runtime": []}
    return outcome.results[index]


def _follow(channel, folder, nodes, position, state, outcome, log, in_namespace):
    """Read the runner's progress, collecting results, until it finishes, hangs or dies."""
    limits = state.limits
    if in_namespace:
        message = channel.receive(limits.startup_s, limits.startup_s * limits.wall_factor)
        if message != "ready":
            raise SandboxError("the namespaces for student code could not be set up: "
                               + _why_not(message, channel.process, log, in_namespace))
    message = channel.receive(min(limits.startup_s, state.cpu_left()),
                              min(limits.startup_s * limits.wall_factor, state.wall_left()))
    if message in ("imported", "import-failed"):
        _read_import_report(folder / "import.pt", limits, outcome, state)
    if message != "imported":
        if outcome.import_problem is None:
            outcome.import_problem = (
                f"importing the submission took longer than {limits.startup_s:g} s of CPU time (an endless loop "
                "at import?)" if message in (_Channel.TIMEOUT, _Channel.STALLED) else
                f"the submission could not be imported: {_why_not(message, channel.process, log, in_namespace)}")
        return None
    first_node, first_case = position
    for index in range(first_node, len(nodes)):
        name, cases = nodes[index]["name"], len(nodes[index]["cases"])
        start = first_case if index == first_node else 0
        for case in range(start, cases):
            for expected in (f"start {index} {case}", f"done {index} {case}"):
                cpu_left = state.cpu_left() - channel.last_cpu
                message = channel.receive(min(limits.node_s, cpu_left),
                                          min(limits.node_s * limits.wall_factor, state.wall_left()))
                if message == expected:
                    continue
                if case == start and message == f"skip {index}":  # no such class: the runner wrote node-I.pt
                    result = _read_file(folder / f"node-{index}.pt", limits.result_bytes)
                    error = result.get("error") if isinstance(result, dict) else None
                    outcome.results[index] = {"error": str(error or f"{name} left no readable result")}
                    break
                result = _node_result(outcome, index, cases, state)
                out_of_total = state.cpu_left() - channel.last_cpu <= limits.node_s or state.wall_left() <= 0
                if message in (_Channel.TIMEOUT, _Channel.STALLED) and out_of_total:
                    problem = f"{name} was stopped: the submission used up its {limits.total_s:g} s of CPU time"
                elif message is _Channel.TIMEOUT:
                    problem = f"{name} took longer than {limits.node_s:g} s of CPU time (an endless loop?)"
                elif message is _Channel.STALLED:
                    problem = f"{name} did not finish within {limits.node_s * limits.wall_factor:g} s (sleeping?)"
                else:
                    problem = f"{name} broke off grading: {_why_not(message, channel.process, log, in_namespace)}"
                result["case_problems"][case] = problem
                if out_of_total:
                    return None
                state.failures[index] = state.failures.get(index, 0) + 1
                if state.failures[index] >= FAILURES_PER_NODE:  # every case fails: do not pay for each one
                    for later in range(case + 1, cases):
                        result["case_problems"][later] = f"{name} was not run on this case: its previous " \
                                                         f"{FAILURES_PER_NODE} cases crashed or ran out of time"
                    return index + 1, 0
                return (index, case + 1) if case + 1 < cases else (index + 1, 0)
            else:
                state.failures[index] = 0
                _store_case(folder, index, case, name, cases, state, outcome)
                continue
            break  # the node was skipped: on to the next one
    return None


def _store_case(folder, index, case, name, cases, state, outcome):
    result = _node_result(outcome, index, cases, state)
    data = _read_file(folder / f"case-{index}-{case}.pt", state.limits.result_bytes)
    if isinstance(data, dict) and isinstance(data.get("runs"), list):
        result["cases"][case] = data["runs"]
        blocked = data.get("blocked_imports")
        if isinstance(blocked, list):
            result["blocked_imports"] = sorted(set(result["blocked_imports"]) | {str(name) for name in blocked})
    else:
        result["case_problems"][case] = f"{name} left no readable result"
