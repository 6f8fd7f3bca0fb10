"""The class report: what a lecturer needs to know after grading a class, to decide what to teach again.

:func:`write_class_report` reads the graded results (Gradescope's ``results.json`` of every student) and writes
``report.md`` and ``report.png``:

- the distribution of scores (a histogram, with mean and median);
- the pass rate of each node (the share of students whose node passed all its tests);
- the mistakes the grader named, by count (each student counted once per node and mistake), e.g.
  "Linear: the gradient for bias is not summed over the batch: 23 students";
- the submissions a person should look at: not graded, not importable, or flagged for review.

The named mistakes are recognised in the feedback by the descriptions the grader gives them (the lab's
:class:`~in5550.grader.verdict.Mistake` entries and the general ones), so the report and the feedback never
disagree about a mistake's name.
"""

from __future__ import annotations

import importlib
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

# Outcomes that are not wrong values but say as much about what to teach: (what the feedback says, its name)
OUTCOMES = (
    ("raised NotImplementedError", "not written (NotImplementedError)"),
    ("changed grad_output in place", "changes grad_output in place"),
    ("grows from one call to the next", "accumulates the gradient across calls"),
    ("without PyTorch autograd", "uses autograd instead of a hand-written backward"),
    ("took longer than", "too slow or an endless loop"),
    ("has the wrong shape", "returns the wrong shape"),
)


def mistake_names(lab: str) -> dict[str, list[tuple[str, str]]]:
    """Per node of ``lab`` (and ``"*"`` for all nodes): ``(text in the feedback, short name)`` of each mistake
    the grader can name, the node's own first."""
    from in5550.grader import LABS, verdict

    names = {node.name: [_recognisable(mistake.description) for mistake in node.mistakes]
             for node in importlib.import_module(LABS[lab]).NODES}
    names["*"] = [_recognisable(mistake.description) for mistake in verdict.GENERAL_MISTAKES] + list(OUTCOMES)
    return names


def _recognisable(description: str) -> tuple[str, str]:
    """``(text, name)`` of a mistake's description (a template such as "{what} has the wrong sign (it is minus
    the expected value)"): the fixed text after ``{what}`` that the feedback contains, and the description up to
    its explanation ("has the wrong sign")."""
    text = description.replace("{what}", "").split("{")[0]
    name = re.sub(r"\s*\([^()]*\)$", "", text.split(":")[0].split(";")[0]).strip()
    return text.strip(), name


def _node(test_name: str) -> str:
    return test_name.split(":")[0]


def analyse(lab: str, table: Sequence[dict]) -> dict:
    """Scores, pass rates per node and named mistakes by count, from the rows of
    :func:`~in5550.grader.batch.grade_class` (``{"student", "results"}``)."""
    from in5550.grader.batch import lab_max

    known = mistake_names(lab)
    scores = [row["results"]["score"] for row in table]
    full = lab_max(lab)
    nodes = [name for name in known if name != "*"]
    passed = Counter()
    mistakes = Counter()
    attention = []
    for row in table:
        results = row["results"]
        tests = results["tests"]
        by_node = {}
        for test in tests:
            if test.get("max_score"):
                by_node.setdefault(_node(test["name"]), []).append(test)
        for node, node_tests in by_node.items():
            if all(test["score"] >= test["max_score"] for test in node_tests):
                passed[node] += 1
            found = set()
            for test in node_tests:
                if test["score"] < test["max_score"]:
                    for text, name in known.get(node, []) + known["*"]:
                        if text in test["output"]:
                            found.add(name)
                            break
            mistakes.update((node, name) for name in found)
        reasons = []
        if not by_node:
            reasons.append((results.get("output") or "not graded").splitlines()[0])
        elif results.get("output") and "could not be imported" in results["output"]:
            reasons.append("could not be imported")
        reasons += [f"{test['name']}: {test['output'].splitlines()[0] if test['output'] else ''}".rstrip(": ")
                    for test in tests if not test.get("max_score") and test.get("visibility") == "hidden"]
        if reasons:
            attention.append((row["student"], reasons))
    return {"count": len(table), "scores": scores, "full": full, "nodes": nodes,
            "pass_rate": {node: passed[node] / len(table) for node in nodes} if table else {},
            "mistakes": sorted(mistakes.items(), key=lambda item: (-item[1], item[0])), "attention": attention}


def write_class_report(lab: str, table: Sequence[dict], output: str | Path) -> tuple[Path, Path]:
    """Write ``output/report.md`` and ``output/report.png``; return their paths."""
    output = Path(output)
    facts = analyse(lab, table)
    figure = output / "report.png"
    _plot(lab, facts, figure)
    scores, full = facts["scores"], facts["full"]
    lines = [f"# {lab}: class report", "",
             f"{facts['count']} submissions; score mean {statistics.fmean(scores):.1f} / {full:g}, median "
             f"{statistics.median(scores):g}, lowest {min(scores):g}, highest {max(scores):g}; "
             f"{sum(score >= full for score in scores)} at full marks.", "",
             f"![score distribution, pass rate per node, named mistakes]({figure.name})", "",
             "## Pass rate per node", "", "| node | passed all its tests |", "|---|---|"]
    lines += [f"| {node} | {rate:.0%} |" for node, rate in facts["pass_rate"].items()]
    lines += ["", "## Mistakes named by the grader", ""]
    if facts["mistakes"]:
        lines += ["| node | mistake | students |", "|---|---|---|"]
        lines += [f"| {node} | {name} | {count} |" for (node, name), count in facts["mistakes"]]
    else:
        lines.append("None.")
    lines += ["", "## For a person to look at", ""]
    if facts["attention"]:
        lines += [f"- **{student}**: " + "; ".join(reasons) for student, reasons in facts["attention"]]
    else:
        lines.append("Nothing.")
    report = output / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return report, figure


def _plot(lab: str, facts: dict, path: Path) -> None:
    """Three panels, readable when projected: score histogram, pass rate per node, mistakes by count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context({"font.size": 13}):
        figure, (scores, rates, mistakes) = plt.subplots(1, 3, figsize=(20, 6), dpi=100,
                                                           gridspec_kw={"width_ratios": [1, 1, 1.4]})
        full = facts["full"] or 1
        scores.hist(facts["scores"], bins=min(20, max(5, int(full) // 5)), range=(0, full), color="tab:blue",
                    edgecolor="white")
        mean = statistics.fmean(facts["scores"])
        scores.axvline(mean, color="black", linestyle="--", label=f"mean {mean:.1f}")
        scores.set(title=f"{lab}: scores of {facts['count']} students", xlabel=f"score (points of {full:g})",
                   ylabel="students")
        scores.legend(loc="upper center")
        nodes = facts["nodes"]
        rates.barh(nodes, [100 * facts["pass_rate"][node] for node in nodes], color="tab:green")
        rates.set(title="pass rate per node", xlabel="students whose node passed all tests (%)", xlim=(0, 100))
        rates.invert_yaxis()
        named = facts["mistakes"][:12]
        if named:
            mistakes.barh([f"{node}: {name}"[:60] for (node, name), _ in named], [count for _, count in named],
                          color="tab:red")
            mistakes.invert_yaxis()
        else:
            mistakes.text(0.5, 0.5, "no named mistakes", ha="center", va="center", transform=mistakes.transAxes)
        mistakes.set(title="named mistakes (most common first)", xlabel="students")
        mistakes.xaxis.get_major_locator().set_params(integer=True)
        scores.yaxis.get_major_locator().set_params(integer=True)
        figure.tight_layout()
        figure.savefig(path)
        plt.close(figure)
