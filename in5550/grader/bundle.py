"""A Gradescope autograder for a lab: ``in5550 grade bundle lab2 --output autograder.zip``.

The zip holds, at its root (Gradescope's specification, ``gradescope/autograder_samples``, ``docs/specs.md``):

- ``setup.sh``: run once, as root, when Gradescope builds the image: installs the CPU build of the torch this
  bundle was made with (pinned) and this package from the wheel in the zip;
- ``run_autograder``: run for each submission: grades ``/autograder/submission/`` into
  ``/autograder/results/results.json`` with :func:`run_gradescope`. The root ``/autograder`` can be moved with
  the environment variable ``AUTOGRADER_ROOT`` (the tests unpack the zip into a folder of their own);
- ``in5550-<version>-py3-none-any.whl``: the package, built from this source;
- ``secret.txt``: the assignment's secret, which the hidden inputs are drawn from: the one given, else
  ``IN5550_GRADER_SECRET``, else a new random one. It lies only in the bundle (on Gradescope's side, in
  ``/autograder/source``, which the student's process, run as another user, cannot read), never in the student
  release.

A submission must be exactly one file with the lab's name (``nodes.py`` for lab 2); anything else scores 0 with
a message that says what was found. ``run_autograder`` always leaves a valid ``results.json``: when the grader
fails, a result of score 0 with a message for the staff (Gradescope's advice), and when even Python cannot
start, one written by the shell script itself.

In the results, a test on hidden inputs shows its details to students only once the grades are published
(``visibility: after_published``); tests for the staff alone stay ``hidden``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[2]
"""The folder holding ``pyproject.toml`` and the package: where the wheel is built from."""
SECRET_FILE = "secret.txt"
HIDDEN_TEST = "hidden inputs"
"""Tests whose name ends so are graded on the secret inputs."""

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, to build the autograder's image.
set -euo pipefail
apt-get update -qq && apt-get install -y -qq python3 python3-pip python3-venv > /dev/null
python3 -m pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu "torch=={torch}"
python3 -m pip install --no-cache-dir /autograder/source/{wheel}
# the secret and the sources are for the grader alone: student code runs as another user
chmod -R go-rwx /autograder/source
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission. AUTOGRADER_ROOT moves the root /autograder (for testing).
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
cd "$ROOT"
python3 -m in5550.grader.bundle {lab} "$ROOT"
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
  mkdir -p "$ROOT/results"
  message="The autograder could not start (status $status); this is not your fault: the course staff will look at it."
  printf '{{"score": 0, "execution_time": 0, "output": "%s", "visibility": "visible", "stdout_visibility": "hidden", '\\
'"tests": []}}\\n' "$message" > "$ROOT/results/results.json"
fi
exit 0
"""


class BundleError(Exception):
    """The bundle cannot be built here (no package source to build the wheel from)."""


def check_can_build() -> None:
    """Raise :class:`BundleError` unless the package's source (``pyproject.toml``) is here to build from."""
    if not (SOURCE_ROOT / "pyproject.toml").is_file():
        raise BundleError(f"cannot build the package's wheel: no pyproject.toml in {SOURCE_ROOT} (build the "
                          "bundle from a clone of the repository)")


def build_wheel(folder: Path) -> Path:
    """Build this package's wheel into ``folder`` from a copy of its source (so that the build leaves nothing
    in the repository); return its path."""
    check_can_build()
    with tempfile.TemporaryDirectory(prefix="in5550-wheel-") as scratch:
        copy = Path(scratch) / "src"
        copy.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copyfile(SOURCE_ROOT / name, copy / name)
        shutil.copytree(SOURCE_ROOT / "in5550", copy / "in5550",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                               "--no-index", "--quiet", "--wheel-dir", str(folder), str(copy)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise BundleError(f"building the wheel failed: {done.stderr.strip().splitlines()[-1:]}")
    (wheel,) = folder.glob("in5550-*.whl")
    return wheel


@dataclass(frozen=True)
class Built:
    """A bundle written: its path, and whether its secret was made for it (none was given or configured)."""

    path: Path
    generated_secret: bool


def build(lab: str, output: str | os.PathLike, secret: str | None = None,
          wheel: str | os.PathLike | None = None) -> Built:
    """Write the autograder for ``lab`` to ``output`` (a .zip) with the assignment's ``secret`` (default: the
    environment's :data:`~in5550.grader.SECRET_VARIABLE`, else a new random one); ``wheel`` reuses a wheel
    already built."""
    import torch

    from in5550.grader import SECRET_VARIABLE

    output = Path(output)
    secret = secret or os.environ.get(SECRET_VARIABLE, "").strip()
    generated = not secret
    secret = secret or secrets.token_hex(32)
    with tempfile.TemporaryDirectory(prefix="in5550-bundle-") as scratch:
        wheel = Path(wheel) if wheel is not None else build_wheel(Path(scratch))
        torch_version = torch.__version__.split("+")[0]
        files = {
            "setup.sh": SETUP_SH.format(torch=torch_version, wheel=wheel.name),
            "run_autograder": RUN_AUTOGRADER.format(lab=lab),
            SECRET_FILE: secret + "\n",
        }
        temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in files.items():
                info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
                info.external_attr = {"setup.sh": 0o755, "run_autograder": 0o755}.get(name, 0o600) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, text)
            archive.write(wheel, wheel.name)
        os.replace(temporary, output)
    return Built(output, generated)


# --------------------------------------------------------------------------------------------------------------
# On Gradescope: grade the submission


def find_submission(folder: Path, expected: str) -> tuple[Path | None, str | None]:
    """The one file to grade in Gradescope's submission folder, or why there is none."""
    from in5550.grader.batch import kind, submitted_files

    suffix = Path(expected).suffix
    files = submitted_files(folder, suffix) if folder.is_dir() else []
    if len(files) == 1 and files[0].name == expected:
        return files[0], None
    if not files:
        return None, f"No {kind(suffix)} was submitted: submit your {expected}."
    names = ", ".join(str(path.relative_to(folder)) for path in files)
    if len(files) == 1:
        return None, f"The file must be named {expected}; you submitted {names}. Rename it and submit again."
    return None, f"Submit one file, {expected}; you submitted {len(files)} {kind(suffix, len(files))} ({names})."


def gradescope_results(results: dict, seconds: float) -> dict:
    """``results`` (the grader's ``results.json``) completed for Gradescope: every test with a ``status``, tests
    on hidden inputs shown ``after_published``, standard output for the staff only."""
    tests = []
    for test in results.get("tests", []):
        test = dict(test)
        test["status"] = "passed" if test["score"] >= test["max_score"] else "failed"
        if test["name"].endswith(HIDDEN_TEST) and test.get("visibility", "visible") == "visible":
            test["visibility"] = "after_published"
        test.setdefault("visibility", "visible")
        tests.append(test)
    return {**results, "score": results.get("score", 0), "execution_time": round(seconds, 1),
            "output": results.get("output", ""), "visibility": results.get("visibility", "visible"),
            "stdout_visibility": "hidden", "tests": tests}


def run_gradescope(lab: str, root: str | os.PathLike) -> dict:
    """Grade ``root/submission/`` for ``lab`` into ``root/results/results.json`` and return what was written.
    Never raises for anything the submission or the grader does: it always writes a result."""
    from in5550.grader import batch, read_secret
    from in5550.grader.report import write_json

    started = time.monotonic()
    root = Path(root)
    (root / "results").mkdir(parents=True, exist_ok=True)
    try:
        path, problem = find_submission(root / "submission", batch.submission_name(lab))
        secret = read_secret(root / "source" / SECRET_FILE)
        results = batch.grade_results(lab, path, secret=secret) if path is not None else \
            batch.failure_results(lab, problem, staff=False)
    except Exception as error:  # noqa: BLE001 -- Gradescope must get a result, whatever failed
        results = batch.failure_results(lab, f"the grader failed on this submission: {type(error).__name__}: "
                                             f"{error}")
    results = gradescope_results(results, time.monotonic() - started)
    write_json(root / "results" / "results.json", results)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_autograder", description="grade a Gradescope submission")
    parser.add_argument("lab")
    parser.add_argument("root", help="Gradescope's /autograder")
    args = parser.parse_args(argv)
    results = run_gradescope(args.lab, args.root)
    print(f"{args.lab}: score {results['score']:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
