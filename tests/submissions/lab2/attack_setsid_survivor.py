# Appended to correct.py. Hostile: at import, a child leaves the process group (setsid) and becomes a process
# that lives on after grading, to read the folders of the next gradings. No process of a grading may outlive it;
# Sigmoid's forward reports the survivor's pid (so that the test knows it was alive while grading ran) and loses
# Sigmoid's points, nothing else.
import os
import sys

SURVIVOR = "import time\nwhile True:\n    time.sleep(0.05)  # in5550-attack-survivor"
_child = os.fork()
if _child == 0:
    os.setsid()
    if os.fork() == 0:  # a grandchild, whose parent dies at once: it is nobody's child any more
        os.execv(sys.executable, [sys.executable, "-c", SURVIVOR])
    os._exit(0)
os.waitpid(_child, 0)


class Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(input):
        raise RuntimeError("a survivor was started")

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output
