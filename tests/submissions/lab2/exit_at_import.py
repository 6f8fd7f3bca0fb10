# Appended to correct.py. Hostile: the submission ends its process as it is imported, with a "success" status.
import sys

sys.exit(0)
