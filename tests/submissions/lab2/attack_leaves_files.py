# Appended to correct.py. Hostile: at import, leaves files, folders, a named pipe and a hard link in every
# shared temporary folder it can write (MARK is filled in by the test). Nothing of it may remain after grading.
# Full marks otherwise.
import os

MARK = "{mark}"
for folder in ["/tmp", "/var/tmp", "/dev/shm", "/run/lock"]:
    try:
        with open(os.path.join(folder, f"{MARK}-file"), "w") as stream:
            stream.write("left behind")
        os.makedirs(os.path.join(folder, f"{MARK}-folder", "inner"), exist_ok=True)
        with open(os.path.join(folder, f"{MARK}-folder", "inner", "deep"), "w") as stream:
            stream.write("left behind")
        os.mkfifo(os.path.join(folder, f"{MARK}-pipe"))
        os.link(os.path.join(folder, f"{MARK}-file"), os.path.join(folder, f"{MARK}-hardlink"))
    except OSError:
        pass
