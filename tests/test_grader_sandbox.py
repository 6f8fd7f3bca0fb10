"""The sandbox, the runner and the source reading under attack: each attack submission in
tests/submissions/lab2/attack_*.py is graded as a grader would grade it, and what it tried is checked from the
outside (processes left, files left, a server that must get no connection, a root-only file that must keep its
content). Tests that need root or Linux namespaces are skipped, with the reason, where they are unavailable.

The attacks are graded once per test run, two at a time, by the ``attacked`` fixture (and again without
namespaces, as root, by ``attacked_without_namespaces``).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from in5550.grader import grade, sandbox, source
from in5550.grader.lab2 import NODES
from in5550.grader.report import Report, printable, write_json
from in5550.grader.sandbox import Limits

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "submissions" / "lab2"
POINTS = {"forward": 2.0, "backward": 4.0, "hidden inputs": 4.0}
FULL = sum(POINTS.values()) * len(NODES)
# short per-case limits, so that the stalling attacks finish fast; the clock's backstop is 5 x 2 s per case
LIMITS = Limits(node_s=2, total_s=120, memory_bytes=1 << 30, wall_factor=5)
CAPABILITIES = sandbox.capabilities()
NEEDS_ROOT = pytest.mark.skipif(not CAPABILITIES.root, reason="needs root: the grader runs student code as "
                                                              "its own user")
NEEDS_NAMESPACES = pytest.mark.skipif(not CAPABILITIES.namespaces,
                                      reason="needs root and Linux namespaces (unshare, setpriv)")
MARK = f"in5550-attack-{uuid.uuid4().hex[:12]}"
SHARED = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
SURVIVOR = b"in5550-attack-survivor"


class Server:
    """A TCP server on 127.0.0.1 that counts the connections it gets."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port, self.connections, self.running = self.socket.getsockname()[1], 0, True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self):
        self.running = False
        self.thread.join()
        self.socket.close()


def _text(name: str, **fill) -> str:
    """correct.py with the attack appended, its {placeholders} filled in."""
    text = (CORPUS / "correct.py").read_text()
    if name != "correct":
        attack = (CORPUS / f"{name}.py").read_text()
        for key, value in fill.items():
            attack = attack.replace("{" + key + "}", str(value))
        text += "\n\n" + attack
    return text


def _lost(report: Report) -> dict[str, float]:
    """Points lost per node."""
    lost = {}
    for test in report.tests:
        if test.max_score and test.score < test.max_score:
            node = test.name.split(":")[0]
            lost[node] = lost.get(node, 0) + test.max_score - test.score
    return lost


def _test(report: Report, node: str, test: str):
    return next(item for item in report.tests if item.name == f"{node}: {test}")


def _review(report: Report) -> str:
    return next((test.output for test in report.tests if test.name == "Review by a person"), "")


def _survivors() -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if SURVIVOR in Path(f"/proc/{name}/cmdline").read_bytes():
                    found.append(int(name))
            except OSError:
                pass
    return found


def _left_behind() -> list[str]:
    return [str(path) for folder in SHARED if os.path.isdir(folder) for path in Path(folder).glob(f"{MARK}*")]


USED_UIDS = []  # the user ids of this module's gradings (other gradings may run on the machine meanwhile)


def _processes_of_grading_users() -> list[int]:
    """Live processes (zombies, which run nothing and wait for their parent to reap them, aside)."""
    return [pid for uid in set(USED_UIDS) for pid in sandbox._live_processes_of(uid)]


@pytest.fixture(scope="module", autouse=True)
def _record_user_ids():
    original = sandbox._Jail._take_uid

    def recording(self):
        taken = original(self)
        USED_UIDS.append(taken[0])
        return taken

    sandbox._Jail._take_uid = recording
    yield
    sandbox._Jail._take_uid = original


@pytest.fixture(scope="module")
def root_only_file(tmp_path_factory):
    """A file only root may read or write, which the attacks link to."""
    folder = tmp_path_factory.mktemp("root-only")
    path = folder / "secret.txt"
    path.write_text("root only\n")
    path.chmod(0o600)
    return path


def _grade_attacks(folder: Path, names: list[str], server: Server, target: Path) -> dict[str, Report]:
    fill = {"mark": MARK, "target": target, "port": server.port, "nodes": ROOT / "in5550" / "nodes.py"}
    paths = {}
    for name in names:
        paths[name] = folder / f"{name}.py"
        paths[name].write_text(_text(name, **fill), encoding="utf-8")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(grade, "lab2", path, LIMITS) for name, path in paths.items()}
        return {name: future.result() for name, future in futures.items()}


ATTACKS = ["correct", "attack_setsid_survivor", "attack_plants_links", "attack_leaves_files", "attack_network",
           "attack_fork_bomb", "attack_thread_autograd", "attack_forward_ad", "attack_loads_package",
           "attack_runner_tamper", "attack_surrogate", "attack_ctx_features", "attack_crash_in_one_case",
           "attack_stalls_in_one_case"]
WITHOUT_NAMESPACES = ["correct", "attack_setsid_survivor", "attack_plants_links", "attack_leaves_files",
                      "attack_fork_bomb", "attack_loads_package"]


@pytest.fixture(scope="module")
def attacked(tmp_path_factory, root_only_file):
    """Reports of every attack graded with the protections this machine offers, and the server's count."""
    server = Server()
    try:
        reports = _grade_attacks(tmp_path_factory.mktemp("attacks"), ATTACKS, server, root_only_file)
    finally:
        server.close()
    return reports, server.connections


@pytest.fixture(scope="module")
def attacked_without_namespaces(tmp_path_factory, root_only_file):
    """The attacks that concern processes and files, graded as root without namespaces (a user id of their
    own is then the protection)."""
    if not CAPABILITIES.root:
        pytest.skip("needs root: the grader runs student code as its own user")
    saved = sandbox._CAPABILITIES
    sandbox._CAPABILITIES = sandbox.Capabilities(root=True, namespaces=False, setpriv=CAPABILITIES.setpriv)
    server = Server()
    try:
        return _grade_attacks(tmp_path_factory.mktemp("attacks-uid"), WITHOUT_NAMESPACES, server, root_only_file)
    finally:
        server.close()
        sandbox._CAPABILITIES = saved


# --------------------------------------------------------------------------------------------------------------
# Sandbox escapes


def _check_escapes(reports):
    assert reports["correct"].score == FULL, reports["correct"].summary()
    survivor = reports["attack_setsid_survivor"]
    assert _lost(survivor) == {"Sigmoid": 10}, survivor.summary()
    assert "a survivor was started" in _test(survivor, "Sigmoid", "forward").output
    assert _survivors() == []
    assert reports["attack_leaves_files"].score == FULL, reports["attack_leaves_files"].summary()
    assert _left_behind() == []
    assert reports["attack_plants_links"].score == FULL, reports["attack_plants_links"].summary()
    bomb = reports["attack_fork_bomb"]
    assert _lost(bomb) == {"Tanh": 10}, bomb.summary()
    forked = int(_test(bomb, "Tanh", "forward").output.split("forked ")[1].split()[0])
    assert forked < LIMITS.processes
    assert _processes_of_grading_users() == []


@NEEDS_NAMESPACES
def test_no_process_file_link_or_fork_bomb_outlives_grading_in_namespaces(attacked, root_only_file):
    reports, _ = attacked
    _check_escapes(reports)
    assert root_only_file.read_text() == "root only\n" and root_only_file.stat().st_mode & 0o777 == 0o600


@NEEDS_ROOT
def test_no_process_file_link_or_fork_bomb_outlives_grading_with_a_user_id_alone(attacked_without_namespaces,
                                                                                 root_only_file):
    _check_escapes(attacked_without_namespaces)
    assert root_only_file.read_text() == "root only\n" and root_only_file.stat().st_mode & 0o777 == 0o600


@NEEDS_NAMESPACES
def test_no_network_in_namespaces(attacked):
    reports, connections = attacked
    assert connections == 0
    report = reports["attack_network"]
    assert _lost(report) == {"ReLU": 10}, report.summary()
    assert "network: no connection" in _test(report, "ReLU", "forward").output


def test_pre_created_or_linked_results_path_is_replaced_not_written_through(tmp_path, root_only_file):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    results = shared / "results.json"
    report = Report("lab2", "nodes.py", [], ["graded"], 1.0)
    # a file the submission made and still holds open
    results.write_text('{"score": 1000}')
    held = open(results, "r+")  # noqa: SIM115 -- held open across the write, as a student process would
    report.write(results)
    held.seek(0)
    held.write('{"score": 2000, "tests": []}')
    held.close()
    assert json.loads(results.read_text())["output"] == "graded"
    # a link to a file the submission may not write
    results.unlink()
    results.symlink_to(root_only_file)
    report.write(results)
    assert not results.is_symlink() and json.loads(results.read_text())["output"] == "graded"
    assert root_only_file.read_text() == "root only\n"
    # a link planted at every name a temporary file could have: the write never goes through one
    assert [path.name for path in shared.iterdir()] == ["results.json"]


def test_write_json_refuses_a_missing_folder_and_leaves_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_json(tmp_path / "missing" / "results.json", {"score": 0})
    write_json(tmp_path / "results.json", {"output": "ok \udcff"})
    assert json.loads((tmp_path / "results.json").read_text())["output"] == "ok \\udcff"
    assert [path.name for path in tmp_path.iterdir()] == ["results.json"]


def test_failure_report_is_valid_with_score_zero_and_a_message_for_the_staff(tmp_path):
    report = Report.failure("lab2", "nodes.py", "KeyError: 'cases'")
    report.write(tmp_path / "results.json")
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["score"] == 0 and written["tests"] == []
    assert "not the submission's fault" in written["output"] and "KeyError: 'cases'" in written["output"]
    assert "score" in report.summary()


@NEEDS_ROOT
def test_a_user_id_with_a_process_is_not_taken_and_all_its_processes_are_killed(monkeypatch):
    busy = sandbox.UIDS.start + 7
    monkeypatch.setattr(sandbox, "UIDS", range(busy, busy + 2))
    sleeper = subprocess.Popen([CAPABILITIES.setpriv or "setpriv", f"--reuid={busy}", f"--regid={busy}",
                                "--clear-groups", "setsid", "sleep", "600"])
    try:
        for _ in range(100):
            if sandbox._live_processes_of(busy):
                break
            threading.Event().wait(0.05)
        jail = sandbox._Jail(CAPABILITIES, LIMITS)
        try:
            assert jail.uid == busy + 1
        finally:
            jail.close()
        sandbox._kill_user(busy)
        assert sandbox._live_processes_of(busy) == []
    finally:
        sleeper.kill()
        sleeper.wait()


@NEEDS_NAMESPACES
def test_namespaces_that_cannot_be_built_are_the_graders_failure_not_the_students(monkeypatch):
    monkeypatch.setattr(sandbox, "_hidden_folders", lambda keep: ["/no/such/folder/to/hide"])
    with pytest.raises(sandbox.SandboxError, match="the namespaces for student code could not be set up"):
        grade("lab2", CORPUS / "correct.py", LIMITS)


def test_protections_are_listed_with_what_they_need():
    applied, missing = CAPABILITIES.protections(LIMITS)
    assert any("CPU-time limits" in item for item in applied)
    if CAPABILITIES.namespaces:
        assert any("network namespace" in item for item in applied) and missing == []
    else:
        assert any("needs root and Linux namespaces" in item for item in missing)
    applied, missing = sandbox.Capabilities(root=False, namespaces=False, setpriv=None).protections(LIMITS)
    assert any("the grader is not root" in item for item in missing)
    assert not any("user id" in item for item in applied)


@NEEDS_ROOT
def test_grading_works_when_not_root_with_fewer_protections(tmp_path):
    """The grader itself runs as an unprivileged user (as a TA on a laptop would): full marks for a correct
    file, and the protections that did not apply are named."""
    folder = Path(tempfile.mkdtemp(prefix="in5550-not-root-"))
    try:
        folder.chmod(0o755)
        submission = folder / "nodes.py"
        submission.write_text(_text("correct"))
        submission.chmod(0o644)
        work = folder / "home"
        work.mkdir()
        os.chown(work, 65534, 65534)
        python = sandbox._interpreter(root=True)  # a Python the unprivileged user may run
        site = str(Path(torch.__file__).resolve().parents[1])
        script = ("import json, sys; from in5550.grader import grade, sandbox, Limits;"
                  "r = grade('lab2', sys.argv[1]); c = sandbox.capabilities();"
                  "print(json.dumps([r.score, c.root, c.protections(Limits())[1]]))")
        done = subprocess.run([CAPABILITIES.setpriv or "setpriv", "--reuid=65534", "--regid=65534",
                               "--clear-groups", python, "-c", script, str(submission)],
                              env={"PYTHONPATH": f"{ROOT}:{site}", "HOME": str(work), "PATH": "/usr/bin:/bin",
                                   "TMPDIR": str(work)}, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        score, root, missing = json.loads(done.stdout.strip().splitlines()[-1])
        assert score == FULL and root is False
        assert any("the grader is not root" in item for item in missing)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------------------------
# Autograd wherever it is reached from a node


def test_autograd_in_a_thread_is_seen(attacked):
    report = attacked[0]["attack_thread_autograd"]
    assert _lost(report) == {"Sigmoid": 8}, report.summary()
    assert "Sigmoid started a thread" in _test(report, "Sigmoid", "backward").output
    assert "getattr() with a computed name" in _review(report)


def test_forward_mode_autograd_in_a_helper_is_found_in_the_source_and_seen(attacked):
    report = attacked[0]["attack_forward_ad"]
    assert _lost(report) == {"Tanh": 8}, report.summary()
    backward = _test(report, "Tanh", "backward").output
    assert "reached from Tanh" in backward and "forward_ad" in backward
    assert "Tanh called torch.autograd.forward_ad.make_dual while it ran" in backward


def test_package_loaded_by_path_costs_the_node_its_backward_points(attacked):
    report = attacked[0]["attack_loads_package"]
    assert _lost(report) == {"ReLU": 8}, report.summary()
    assert "imports importlib" in _review(report)
    backward = _test(report, "ReLU", "backward").output
    if CAPABILITIES.namespaces:  # the package is hidden: loading it fails
        assert "FileNotFoundError" in backward, backward
    assert "ReLU opened the file " + str(ROOT / "in5550" / "nodes.py") in backward, backward


@NEEDS_ROOT
def test_package_loaded_by_path_is_seen_when_the_package_is_readable(attacked_without_namespaces):
    report = attacked_without_namespaces["attack_loads_package"]
    assert _lost(report) == {"ReLU": 8}, report.summary()
    backward = _test(report, "ReLU", "backward").output
    assert "ReLU ran code from " + str(ROOT / "in5550" / "nodes.py") in backward, backward


def test_runner_tampering_is_caught_in_the_source_or_flagged_for_a_person(attacked):
    report = attacked[0]["attack_runner_tamper"]
    # Softmax's helper is found by reading the source; ReLU hides every name and silences the runner's watch:
    # only a person reading the review test catches it (the review lists how).
    assert _lost(report) == {"Softmax": 8}, report.summary()
    assert "torch.autograd.grad (in _softmax_gradient, reached from Softmax)" in \
        _test(report, "Softmax", "backward").output
    review = _review(report)
    for flag in ("uses .modules", "names __main__", "getattr() with a computed name", "imports sys"):
        assert flag in review, review
    assert _test(report, "Softmax", "backward").visibility == "visible"
    assert next(test for test in report.tests if test.name == "Review by a person").visibility == "hidden"


# --------------------------------------------------------------------------------------------------------------
# Robustness: what Python and PyTorch accept is accepted; a crash costs one case


def test_ctx_works_like_pytorchs(attacked):
    report = attacked[0]["attack_ctx_features"]
    assert report.score == FULL, report.summary()
    # and the same nodes are valid under PyTorch's own autograd
    namespace = {}
    exec(compile(_text("attack_ctx_features"), "attack_ctx_features.py", "exec"), namespace)  # noqa: S102
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(namespace["Sigmoid"].apply, (x,))
    assert torch.autograd.gradcheck(namespace["Linear"].apply, (x, weight, bias))


def test_a_crash_in_one_hidden_case_costs_that_case_only(attacked):
    report = attacked[0]["attack_crash_in_one_case"]
    assert _lost(report) == {"Sigmoid": 4, "Tanh": 4}, report.summary()
    for node in ("Sigmoid", "Tanh"):
        hidden = _test(report, node, "hidden inputs").output
        assert "SIGSEGV" in hidden and "float32" in hidden, hidden


def test_a_case_that_sleeps_or_loops_costs_that_case_only(attacked):
    report = attacked[0]["attack_stalls_in_one_case"]
    assert _lost(report) == {"ReLU": 4, "Linear": 4}, report.summary()
    assert f"did not finish within {LIMITS.node_s * LIMITS.wall_factor:g} s" in \
        _test(report, "ReLU", "hidden inputs").output
    assert f"took longer than {LIMITS.node_s:g} s of CPU time" in _test(report, "Linear", "hidden inputs").output


def test_lone_surrogates_in_messages_break_nothing(attacked, tmp_path):
    report = attacked[0]["attack_surrogate"]
    assert _lost(report) == {"Tanh": 10}, report.summary()
    forward = _test(report, "Tanh", "forward").output
    assert "bad value \\udcff\\ud800 in forward" in forward
    report.summary().encode("utf-8")
    report.write(tmp_path / "results.json")
    json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))


def test_tracebacks_show_the_students_own_line_and_no_grader_path(attacked):
    forward = _test(attacked[0]["attack_surrogate"], "Tanh", "forward").output
    assert 'File "submission.py", line' in forward and 'raise ValueError("bad value' in forward
    assert "runner.py" not in forward and "in5550-grade-" not in forward


def test_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "nodes.py"
    path.write_bytes(b"\xef\xbb\xbf" + _text("correct").encode("utf-8"))
    assert source.scan(path.read_text(encoding="utf-8"), ["Sigmoid"]).error is None
    report = grade("lab2", path, LIMITS)
    assert report.score == FULL, report.summary()


@pytest.mark.parametrize("expression", ["-" * 300_000 + "1", "1+" * 150_000 + "1", "(" * 150_000 + ")" * 150_000])
def test_a_300_kb_nested_expression_gives_a_report_not_a_crash(tmp_path, expression):
    path = tmp_path / "nodes.py"
    path.write_text(_text("correct") + "\nX = " + expression + "\n")
    report = grade("lab2", path, LIMITS)
    assert report.score == 0
    assert any("nested too deeply" in note or "too many nested parentheses" in note for note in report.notes), \
        report.notes


def test_strings_from_the_student_process_are_cleaned():
    cleaned = sandbox.clean({"message \udcff": ["ok", "bad \ud800", 3, torch.ones(1)], "long": "x" * 10_000})
    assert list(cleaned) == ["message \\udcff", "long"]
    assert cleaned["message \\udcff"][1] == "bad \\ud800" and cleaned["message \\udcff"][2] == 3
    assert len(cleaned["long"]) < 5000
    assert printable("a \udcff") == "a \\udcff"


# --------------------------------------------------------------------------------------------------------------
# Machine load never decides a grade


def test_full_marks_while_every_core_is_busy(attacked):
    """A correct submission graded while every core runs a busy loop gets the same results as without load."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        report = grade("lab2", CORPUS / "correct.py")
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    assert report.score == FULL, report.summary()
    unloaded = attacked[0]["correct"].results_json()
    loaded = report.results_json()
    for results in (unloaded, loaded):
        results.pop("execution_time")
    assert loaded == unloaded


def test_one_student_process_for_a_correct_submission_and_one_more_per_crash(monkeypatch, tmp_path):
    started = []
    original = sandbox._start

    def counting(*args):
        started.append(args[1])
        return original(*args)

    monkeypatch.setattr(sandbox, "_start", counting)
    assert grade("lab2", CORPUS / "correct.py", LIMITS).score == FULL
    assert len(started) == 1
    path = tmp_path / "crash.py"
    path.write_text(_text("attack_crash_in_one_case"))
    grade("lab2", path, LIMITS)
    assert len(started) == 1 + 3  # the first process, then one more after each of the two crashes


# --------------------------------------------------------------------------------------------------------------
# Reading the source


def test_source_follows_helpers_aliases_and_assignments_to_a_node():
    text = '''
import torch
import torch.autograd.forward_ad as fw

GRAD = torch.autograd.grad
ag = torch.autograd


def _inner(x):
    return ag.functional.vjp(torch.tanh, x)


def _outer(x):
    return _inner(x)


def _patched_backward(ctx, grad_output):
    return GRAD(ctx.y, ctx.x, grad_output)


class Sigmoid(torch.autograd.Function):
    @staticmethod
    def backward(ctx, grad_output):
        return _outer(ctx.x)


class Tanh(torch.autograd.Function):
    @staticmethod
    def backward(ctx, grad_output):
        with fw.dual_level():
            return grad_output


class ReLU(torch.autograd.Function):
    @staticmethod
    def backward(ctx, grad_output):
        return grad_output


ReLU.backward = staticmethod(_patched_backward)

if __name__ == "__main__":
    torch.autograd.gradcheck(Sigmoid.apply, (torch.ones(1, requires_grad=True),))
'''
    findings = source.scan(text, ["Sigmoid", "Tanh", "ReLU"])
    assert findings.autograd["Sigmoid"] == ["line 6: torch.autograd (in ag, reached from Sigmoid)",
                                            "line 10: torch.autograd.functional.vjp (in _inner, reached from Sigmoid)"]
    assert findings.autograd["Tanh"] == ["line 30: torch.autograd.forward_ad.dual_level"]
    assert findings.autograd["ReLU"] == ["line 5: torch.autograd.grad (in GRAD, reached from ReLU)",
                                         "line 18: torch.autograd.grad (in _patched_backward, reached from ReLU)"]
    assert findings.review == []  # a __main__ block is no tampering


def test_source_flags_what_could_hide_autograd_for_a_person():
    text = '''
import torch, sys, gc, inspect, threading, ctypes, builtins

name = "auto" + "grad"
engine = getattr(torch, name)
runner = sys.modules["__main__"]
code = compile("x = 1", "x", "exec")
exec(code)
eval("1")
loader = __import__("importlib")
frame = sys._getframe()
torch._C._set_grad_enabled(True)
f = open("/etc/passwd")
'''
    review = "\n".join(source.scan(text, []).review)
    for flag in ("imports sys", "imports gc", "imports inspect", "imports threading", "imports ctypes",
                 "imports builtins", "getattr() with a computed name", "uses .modules",
                 "names __main__", "calls compile()", "calls exec()", "calls eval()", "calls __import__()",
                 "uses ._getframe", "PyTorch's private torch._C", "calls open()"):
        assert flag in review, (flag, review)


def test_a_print_that_mentions_the_package_is_no_borrowing():
    findings = source.scan('import importlib\nprint("in5550 lab 2: my nodes")\n'
                           'nodes = importlib.import_module("in5550.nodes")\n', [])
    assert findings.borrowing == ["line 3: names in5550 in a call"]


def test_source_reports_what_python_cannot_compile():
    assert "nested too deeply" in source.scan("x = " + "-" * 300_000 + "1", []).error
    assert "not valid Python" in source.scan("x = 1\0", []).error
    assert source.scan("\ufeffimport torch\n", []).error is None


def test_a_checkout_under_a_temporary_folder_is_not_mounted_over(tmp_path, monkeypatch):
    """A fresh clone in /tmp: the namespace replaces /tmp with an empty folder of its own, which hides the
    checkout already, and where its path does not exist to be mounted over (that failed every grading)."""
    checkout = tmp_path / "fresh"
    (checkout / "in5550").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("")
    monkeypatch.setattr(sandbox, "PACKAGE", checkout / "in5550")
    hidden = sandbox._hidden_folders(["/usr/bin/python3"])
    assert str(tmp_path).startswith(tuple(sandbox.SHARED_TEMPORARY))
    assert not [folder for folder in hidden if folder.startswith(str(checkout))]
