"""Mutation testing of the core modules, to run before a release: ``python tools/mutation.py [module ...]``.

A mutation tool (mutmut) makes many small changes to one module at a time (``+`` to ``-``, ``<`` to ``<=``, a
constant to another, a call's argument dropped, ...) and runs the tests that reach each changed function. A
change that no test notices ("survived") is a line of code that the suite does not really check. The score of a
module is the share of its mutants that some test kills, leaving out those recorded as equivalent (a change that
cannot alter behaviour) in ``tools/mutation_equivalent.txt``, each with its reason.

Each module is run against its own test selection (see ``MODULES``): only the tests written for it, and of
those only the ones that reach the mutated function, so a module's few hundred mutants take tens of minutes on
two cores rather than hours. One module at a time, one test process at a time (``--jobs``). The work happens in
``build/mutation/<module>/`` (a copy of the package and the tests; the repository itself is never changed), so
a later run can retest only what survived. Needs ``pip install -e .[dev]`` (mutmut is in the dev extras).

Examples::

    python tools/mutation.py                 # every core module, one after the other
    python tools/mutation.py engine train    # two of them
    python tools/mutation.py --list          # the modules and their tests
    python tools/mutation.py --show engine   # after a run: the diff of each surviving mutant of engine
    python tools/mutation.py --retest engine # after adding tests: only the survivors (and what was not run)
    python tools/mutation.py reference --only 'in5550.reference.x_*_backward*'   # a part of a large module

Prints, per module: killed, survived (not recorded as equivalent), equivalent, timeouts, untested (no test of
the selection reaches the function) and the score ``killed / (killed + survived + untested)``; the exit status is
1 when a module is below ``--target`` (default 0.9).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = ROOT / "tools" / "mutation_equivalent.txt"
WORK = ROOT / "build" / "mutation"

# the nodes against torch.nn.functional: samples of the registry, unusual inputs, half precision and autocast
NODE_TESTS = ["tests/test_functional.py", "tests/test_nn.py", "tests/test_node_edge_cases.py",
              "tests/test_precision.py"]
# module name -> (the file to mutate, the tests that check it). A selection is the tests written for that module:
# the rest of the suite would kill a few more mutants, at many times the cost.
MODULES: dict[str, tuple[str, list[str]]] = {
    "reference": ("in5550/reference.py", ["tests/test_reference.py", "tests/test_reference_errors.py"]),
    "engine": ("in5550/engine.py", ["tests/test_engine.py"]),
    "train": ("in5550/train.py", ["tests/test_train.py", "tests/test_cli_train.py", "tests/test_bad_input.py"]),
    "verdict": ("in5550/grader/verdict.py", ["tests/test_verdict.py"]),
    "nodes": ("in5550/nodes.py", NODE_TESTS),
    "functional": ("in5550/functional.py", NODE_TESTS),
}

# Tests left out of the mutation runs (leaving one out can only lower a score: the whole suite kills at least the
# mutants counted as killed). The training tests each train for many epochs (real data, the demo, the sample
# twice), a minute per mutant on two busy cores, and check nothing about train.py that a faster test does not
# (the loop against one written out by hand, early stopping against a scripted dev curve).
DESELECT = ["tests/test_train.py::test_a_short_training_on_real_sst2",
            "tests/test_train.py::test_training_on_the_sample_learns_and_restores_the_best_epoch",
            "tests/test_train.py::test_same_seed_same_backend_gives_identical_results",
            "tests/test_train.py::test_both_backends_follow_the_same_curve",
            "tests/test_cli_train.py::test_train_is_reproducible",
            "tests/test_cli_train.py::test_demo_falls_back_to_the_sample_without_sst2",
            # lists the module's functions, which mutmut's copy has more of (one per mutant): it fails on any copy
            "tests/test_reference_errors.py::test_every_public_function_is_covered"]
# Lines not mutated: the help text of command-line options is documentation, not behaviour.
DO_NOT_MUTATE = [r"\bhelp="]

# what the tests need besides the package: the grader's tests release and grade the labs, the training tests read
# the project's sample data
COPIED = ["in5550", "tests", "labs", "data"]

KILLED = {"killed", "caught by type check"}


def read_equivalent(path: Path = EQUIVALENT_FILE) -> dict[str, str]:
    """The mutants recorded as equivalent: ``mutant name -> reason``, from lines ``<name>  # <reason>``. A line
    without a reason is an error: an equivalent mutant must say why it cannot change behaviour."""
    equivalent = {}
    if not path.exists():
        return equivalent
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, reason = line.partition("#")
        if not reason.strip() or len(name.split()) != 1:
            raise SystemExit(f"{path.name}:{number}: expected '<mutant name>  # <reason>', got {line!r}")
        equivalent[name.strip()] = reason.strip()
    return equivalent


def mutmut_command() -> list[str]:
    # the console script, not ``python -m mutmut``: mutmut warns that the latter imports its main module twice
    script = Path(sys.executable).with_name("mutmut")
    if script.exists():
        return [str(script)]
    found = shutil.which("mutmut")
    if found is None:
        raise SystemExit("mutmut is not installed: pip install -e '.[dev]'")
    return [found]


def config(source: str, tests: list[str]) -> str:
    """The ``[tool.mutmut]`` table for one module (mutmut reads it from ``pyproject.toml`` in its directory)."""
    def toml_list(items):  # literal strings: no escapes, so a regular expression stays as written
        return "[" + ", ".join(f"'{item}'" for item in items) + "]"

    selection = tests + [arg for test in DESELECT if test.split("::")[0] in tests for arg in ("--deselect", test)]
    return (
        "[tool.mutmut]\n"
        'source_paths = ["in5550"]\n'
        f"also_copy = {toml_list(COPIED[1:])}\n"
        f'only_mutate = ["{source}"]\n'
        f"pytest_add_cli_args_test_selection = {toml_list(selection)}\n"
        # no notebooks (--nbval), no cache files in the copy; warnings as in the project's own settings
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-o", "addopts=", "-q", "-x"]\n'
        # torch's thread pools do not survive a fork from a process that ran tests
        'process_isolation = "forkserver"\n'
        f"do_not_mutate_patterns = {toml_list(DO_NOT_MUTATE)}\n"
        "use_git_change_detection = false\n"
        "use_setproctitle = false\n"
    )


def prepare(name: str) -> Path:
    """``build/mutation/<name>``, holding a fresh copy of the package, the tests, the labs, the sample data and a
    pyproject.toml with the module's configuration. mutmut's own results (``mutants/``) are kept, so that an
    unchanged mutant is not run again; mutmut notices a changed source or test file and reruns what it affects."""
    source, tests = MODULES[name]
    work = WORK / name
    work.mkdir(parents=True, exist_ok=True)
    for folder in COPIED:
        shutil.rmtree(work / folder, ignore_errors=True)
        shutil.copytree(ROOT / folder, work / folder, ignore=shutil.ignore_patterns("__pycache__"))
    project = (ROOT / "pyproject.toml").read_text("utf-8")
    project = re.sub(r"(?ms)^\[tool\.mutmut\].*?(?=^\[|\Z)", "", project)
    (work / "pyproject.toml").write_text(project + "\n" + config(source, tests), "utf-8")
    return work


def environment() -> dict[str, str]:
    env = dict(os.environ)
    # the tests must import the mutated copy, never the package from the repository or an installed one
    env.pop("PYTHONPATH", None)
    # one thread per test process: the machine is shared, and mutmut runs --jobs processes at once
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[variable] = "1"
    return env


def results(work: Path) -> dict[str, str]:
    """``mutant name -> status`` of every mutant of the last run in ``work``."""
    out = subprocess.run(mutmut_command() + ["results", "--all", "true"], cwd=work, env=environment(),
                         capture_output=True, text=True, check=True).stdout
    return dict(re.findall(r"^\s*(\S+): (.+?)\s*$", out, flags=re.M))


def score(name: str, statuses: dict[str, str], equivalent: dict[str, str]) -> tuple[float, dict[str, list[str]]]:
    """The module's score and its mutants grouped by outcome. A timeout counts as killed (the mutant made the
    tests hang, which they notice); an untested mutant counts against the score."""
    groups: dict[str, list[str]] = {"killed": [], "survived": [], "equivalent": [], "timeout": [], "untested": [],
                                    "not run": [], "other": []}
    for mutant, status in sorted(statuses.items()):
        if status == "not checked":  # outside --only, or an interrupted run: left out of the score
            groups["not run"].append(mutant)
        elif mutant in equivalent:
            groups["equivalent"].append(mutant)
        elif status in KILLED:
            groups["killed"].append(mutant)
        elif status == "timeout":
            groups["timeout"].append(mutant)
        elif status == "survived":
            groups["survived"].append(mutant)
        elif status == "no tests":
            groups["untested"].append(mutant)
        else:
            groups["other"].append(f"{mutant} ({status})")
    killed = len(groups["killed"]) + len(groups["timeout"])
    counted = killed + len(groups["survived"]) + len(groups["untested"]) + len(groups["other"])
    return (killed / counted if counted else 1.0), groups


def show(work: Path, mutants: list[str]) -> None:
    for mutant in mutants:
        subprocess.run(mutmut_command() + ["show", mutant], cwd=work, env=environment(), check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/mutation.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", metavar="module",
                        help=f"modules to mutate (default all): {', '.join(MODULES)}")
    parser.add_argument("--jobs", type=int, default=1, help="test processes at once (default 1)")
    parser.add_argument("--target", type=float, default=0.9, help="least score per module (default 0.9)")
    parser.add_argument("--list", action="store_true", help="list the modules and their test selections")
    parser.add_argument("--show", action="store_true",
                        help="do not run: print the surviving mutants of the last run, with their diffs")
    parser.add_argument("--fresh", action="store_true", help="forget the results of earlier runs")
    parser.add_argument("--only", metavar="PATTERN", action="append", default=[],
                        help="run only the mutants whose names match, e.g. 'in5550.reference.x_*_backward*' "
                             "(the score counts the mutants run)")
    parser.add_argument("--retest", action="store_true",
                        help="run again only the mutants that survived the last run or were not run (after adding "
                             "tests or changing a function)")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module {unknown[0]!r}; choose from {', '.join(MODULES)}")
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    if args.list:
        for name, (source, tests) in MODULES.items():
            print(f"{name:11} {source:26} {' '.join(tests)}")
        return 0
    equivalent = read_equivalent()
    below = []
    for name in args.modules or list(MODULES):
        work = WORK / name
        if not args.show:
            if args.fresh:
                shutil.rmtree(work, ignore_errors=True)
            again, retest = [], args.retest and (work / "mutants").is_dir()
            if retest:
                _, last = score(name, results(work), equivalent)
                again = last["survived"] + last["untested"] + last["not run"] + [m.split()[0] for m in last["other"]]
                if not again:
                    print(f"== {name}: nothing survived the last run")
            work = prepare(name)
            print(f"== {name}: mutating {MODULES[name][0]}, tests {' '.join(MODULES[name][1])}"
                  + (f", {len(again)} surviving mutants again" if again else ""), flush=True)
            if retest and not again:
                run = subprocess.CompletedProcess([], 0)
            else:
                run = subprocess.run(mutmut_command() + ["run", "--max-children", str(args.jobs),
                                                         *(again or args.only)], cwd=work,
                                     env=environment(), check=False)
            if run.returncode != 0:
                print(f"{name}: mutmut failed (exit status {run.returncode}); see the output above", file=sys.stderr)
                below.append(name)
                continue
        elif not (work / "mutants").is_dir():
            print(f"{name}: no results yet; run python tools/mutation.py {name}", file=sys.stderr)
            continue
        statuses = results(work)
        value, groups = score(name, statuses, equivalent)
        prefix = MODULES[name][0].removesuffix(".py").replace("/", ".") + "."
        stale = [m for m in equivalent if m.startswith(prefix) and m not in statuses]
        survivors = groups["survived"] + groups["untested"]
        print(f"{name}: score {value:.1%}  killed {len(groups['killed'])}, timeouts {len(groups['timeout'])}, "
              f"survived {len(groups['survived'])}, untested {len(groups['untested'])}, "
              f"equivalent {len(groups['equivalent'])}" + (f", other {len(groups['other'])}" if groups["other"] else "")
              + (f"; {len(groups['not run'])} not run" if groups["not run"] else ""))
        for mutant in survivors + groups["other"]:
            print(f"    {mutant}")
        for mutant in stale:
            print(f"    {mutant}: recorded as equivalent but no longer made; update {EQUIVALENT_FILE.name}")
        if args.show:
            show(work, survivors)
        if value < args.target:
            below.append(name)
    if below:
        print(f"below the target {args.target:.0%}: {', '.join(below)}", file=sys.stderr)
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
