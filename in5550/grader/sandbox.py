"""Running a submission's nodes in a separate, limited process, and collecting what they returned.

One student process runs every node in turn (starting Python and importing torch costs about two seconds, so
a process per node would be slow); when it hangs or dies inside a node, that node is lost and a fresh process
carries on with the next one. Each process:

- is a fresh interpreter in isolated mode without site-packages (``python -I -S -B runner.py``), whose only
  addition to ``sys.path`` is the folder holding torch, so the ``in5550`` package is not importable;
- runs in a new, empty temporary folder that holds its inputs (``task.pt``), the submission and the runner,
  with an environment of its own (``HOME`` and ``TMPDIR`` in that folder, one thread);
- has resource limits (:class:`Limits`), set with ``resource.setrlimit`` between fork and exec: CPU time,
  address space, file size, no core dumps; and when the grader runs as root, it runs as the unprivileged
  user ``nobody``, which owns only its folder;
- gets wall-clock limits from the grader: to import the submission, per node, and for the whole submission;
  at a limit, its whole process group is killed.

It reports progress over a pipe and leaves one result file per node; see :mod:`in5550.grader.runner`. The
grader reads a result only from a regular file of bounded size, with ``torch.load(weights_only=True)``, which
builds plain data and tensors and never runs code from the file.

Grade one submission at a time on a machine (Gradescope gives each its own container): the processes of all
submissions run as the same user, so one could read another's folder while both run.
"""

from __future__ import annotations

import io
import math
import os
import pwd
import resource
import select
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
UNPRIVILEGED_USER = "nobody"
MESSAGE_BYTES = 256  # the longest line the runner sends
LOG_TAIL = 1000  # characters of the process's own output kept for the report


class SandboxError(Exception):
    """Student code cannot be run safely here (e.g. no interpreter the unprivileged user may execute)."""


@dataclass(frozen=True)
class Limits:
    """Limits on a submission's processes. Times are wall-clock seconds, except that the CPU-time limit of each
    process is ``total_s``."""

    startup_s: float = 60.0  # start Python, import torch and the submission
    node_s: float = 15.0  # every case of one node
    total_s: float = 240.0  # the whole submission, restarts included
    memory_bytes: int = 2 << 30  # address space of each process (torch alone takes about 0.6 GiB)
    file_bytes: int = 64 << 20  # the largest file a process may write
    result_bytes: int = 16 << 20  # the largest result file the grader reads

    def __post_init__(self):
        for limit in fields(self):
            if not getattr(self, limit.name) > 0:
                raise ValueError(f"Limits: {limit.name} must be positive, got {getattr(self, limit.name)!r}")


@dataclass
class Outcome:
    """What the student's processes left: why the submission could not be imported (if so), the imports the
    runner refused while importing it, and per node a result or why there is none."""

    import_problem: str | None = None
    blocked_imports: list = field(default_factory=list)
    results: list = field(default_factory=list)
    problems: list = field(default_factory=list)


def _user() -> pwd.struct_passwd | None:
    """The unprivileged account student code runs as when the grader is root, else ``None`` (same user)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise SandboxError(f"the grader runs as root but there is no user {UNPRIVILEGED_USER!r} to run "
                           "submissions as; create it (useradd --system nobody)") from None


def _open_to_others(path: str) -> bool:
    """Whether a user other than the owner can reach ``path`` (every folder above it searchable by others)."""
    real = Path(os.path.realpath(path))
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in real.parents) and \
        bool(real.stat().st_mode & (stat.S_IXOTH | stat.S_IROTH))


def _interpreter(user) -> str:
    """A Python of this version that the student's user may run: this one, or else one on the system path."""
    if user is None or _open_to_others(sys.executable):
        return sys.executable
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(name, path="/usr/local/bin:/usr/bin:/bin")
    if system and _open_to_others(system):
        return system
    raise SandboxError(f"user {UNPRIVILEGED_USER!r} cannot run {sys.executable} (a folder above it is closed "
                       f"to other users) and there is no {name} on /usr/local/bin:/usr/bin:/bin it can run")


def _site_dir(user) -> str:
    site = str(Path(torch.__file__).resolve().parents[1])
    if user is not None and not _open_to_others(site):
        raise SandboxError(f"user {UNPRIVILEGED_USER!r} cannot read torch in {site}")
    return site


def _set_limits(limits: Limits) -> None:
    """Runs in the child between fork and exec (after the switch of user)."""
    cpu = math.ceil(limits.total_s)
    for kind, value in ((resource.RLIMIT_CPU, cpu), (resource.RLIMIT_AS, limits.memory_bytes),
                        (resource.RLIMIT_FSIZE, limits.file_bytes), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(kind, (value, value))


def _read_file(path: Path, limit: int):
    """``torch.load(weights_only=True)`` of a regular file of at most ``limit`` bytes; ``None`` otherwise.

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
        return torch.load(io.BytesIO(data), weights_only=True)
    except Exception:  # noqa: BLE001 -- whatever the student left there, it is not a result
        return None
    finally:
        os.close(descriptor)


class _Channel:
    """Lines from the runner's pipe, each awaited until a deadline: a line, ``TIMEOUT`` or ``CLOSED``."""

    TIMEOUT, CLOSED = object(), object()

    def __init__(self, descriptor: int):
        self.descriptor, self.buffer, self.closed = descriptor, b"", False

    def receive(self, deadline: float):
        while b"\n" not in self.buffer:
            if len(self.buffer) > MESSAGE_BYTES:
                return self.buffer[:40].decode("ascii", "replace")  # not a message of the runner's
            if self.closed:
                return self.CLOSED
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.descriptor], [], [], remaining)[0]:
                return self.TIMEOUT
            chunk = os.read(self.descriptor, MESSAGE_BYTES)
            self.closed = not chunk
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode("ascii", "replace")


def _why_not(message, process: subprocess.Popen, log) -> str:
    """Why the runner did not send the expected message: what it sent instead, or how its process ended."""
    if isinstance(message, str):
        return f"its process sent the grader an unexpected message {message[:40]!r}"
    try:
        code = process.wait(timeout=2)
    except subprocess.TimeoutExpired:
        return "it closed its connection to the grader"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else f"signal {-code}"
        reason = {"SIGXCPU": ": out of CPU time", "SIGKILL": ": killed, perhaps for using too much memory"}
        ended = f"the process was ended by {name}{reason.get(name, '')}"
    else:
        ended = f"the process exited with status {code} (os._exit()?)"
    log.seek(0, io.SEEK_END)
    log.seek(max(0, log.tell() - LOG_TAIL))
    tail = log.read().decode("utf-8", "replace").strip()
    return ended + (f"; its last output:\n{tail}" if tail else "")


def _kill(process: subprocess.Popen) -> None:
    """Kill the process and everything it started (its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def run(source: str, nodes: list[dict], limits: Limits = Limits()) -> Outcome:
    """Run the submission ``source`` on each node of ``nodes`` (``{"name", "cases"}``, inputs only) in a
    sandboxed process, a fresh one after each node that hangs or crashes. Never raises for anything the
    submission does; raises :class:`SandboxError` when student code cannot be run safely at all."""
    user = _user()
    python, site = _interpreter(user), _site_dir(user)
    outcome = Outcome(results=[None] * len(nodes), problems=[None] * len(nodes))
    deadline = time.monotonic() + limits.total_s
    first = 0
    while first is not None and first < len(nodes):
        first = _run_once(python, site, source, nodes, first, limits, deadline, user, outcome)
    for index, node in enumerate(nodes):
        if outcome.results[index] is None and outcome.problems[index] is None:
            outcome.problems[index] = outcome.import_problem or \
                f"{node['name']} was not run: the submission used up its {limits.total_s:g} s"
    return outcome


def _run_once(python, site, source, nodes, first, limits, deadline, user, outcome) -> int | None:
    """One student process, from node ``first`` on. Returns the node to go on from, or ``None`` to stop."""
    with tempfile.TemporaryDirectory(prefix="in5550-grade-", ignore_cleanup_errors=True) as name, \
            tempfile.TemporaryFile() as log:
        folder = Path(name)
        (folder / "submission.py").write_text(source, encoding="utf-8")
        shutil.copyfile(RUNNER, folder / "runner.py")
        torch.save({"first": first, "nodes": nodes}, folder / "task.pt")
        owner = {}
        if user is not None:
            for path in folder.iterdir():
                path.chmod(0o644)
            os.chown(folder, user.pw_uid, user.pw_gid)
            owner = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        reader, writer = os.pipe()
        environment = {"PATH": "/usr/bin:/bin", "HOME": name, "TMPDIR": name, "LANG": "C.UTF-8",
                       "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        process = subprocess.Popen(
            [python, "-I", "-S", "-B", "runner.py", str(writer), site], cwd=folder, env=environment,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, pass_fds=(writer,),
            start_new_session=True, preexec_fn=lambda: _set_limits(limits), **owner)
        os.close(writer)
        try:
            return _follow(process, _Channel(reader), folder, nodes, first, limits, deadline, outcome, log)
        finally:
            _kill(process)
            os.close(reader)


def _read_import_report(path: Path, limits: Limits, outcome: Outcome) -> None:
    """Take the import error and the refused imports from the runner's ``import.pt`` (nothing if malformed)."""
    report = _read_file(path, limits.result_bytes)
    try:
        outcome.blocked_imports = [str(name) for name in report["blocked_imports"]]
        error = report["error"]
        if error is not None:
            outcome.import_problem = f"the submission could not be imported: {error['type']}: " \
                                     f"{error['message']}\n{error['traceback']}"
    except (KeyError, TypeError):
        pass


def _follow(process, channel, folder, nodes, first, limits, deadline, outcome, log) -> int | None:
    """Read the runner's progress, collecting results, until it finishes, hangs or dies."""
    message = channel.receive(min(deadline, time.monotonic() + limits.startup_s))
    if message in ("imported", "import-failed"):
        _read_import_report(folder / "import.pt", limits, outcome)
    if message != "imported":
        if outcome.import_problem is None:
            outcome.import_problem = (
                f"importing the submission took longer than {limits.startup_s:g} s (an endless loop at import?)"
                if message is _Channel.TIMEOUT else
                f"the submission could not be imported: {_why_not(message, process, log)}")
        return None
    for index in range(first, len(nodes)):
        name = nodes[index]["name"]
        node_deadline = min(deadline, time.monotonic() + limits.node_s)
        for expected in (f"start {index}", f"done {index}"):
            message = channel.receive(node_deadline)
            if message == expected:
                continue
            if message is _Channel.TIMEOUT:
                outcome.problems[index] = f"{name} took longer than {limits.node_s:g} s (an endless loop?)" \
                    if node_deadline < deadline else \
                    f"{name} was stopped: the submission used up its {limits.total_s:g} s"
            else:
                outcome.problems[index] = f"{name} broke off grading: {_why_not(message, process, log)}"
            return index + 1 if node_deadline < deadline else None
        outcome.results[index] = _read_file(folder / f"result-{index}.pt", limits.result_bytes)
        if outcome.results[index] is None:
            outcome.problems[index] = f"{name} left no readable result"
    return None
