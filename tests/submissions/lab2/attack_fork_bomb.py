# Appended to correct.py. Hostile: at import, forks as many sleeping children as it can (at most 500, so that a
# machine without the process-count limit survives the test). The process-count limit stops it; the children
# die with the grading. Tanh's forward reports how many children it got and loses Tanh's points, nothing else.
import os
import time

FORKED = 0
for _ in range(500):
    try:
        if os.fork() == 0:
            time.sleep(600)
            os._exit(0)
        FORKED += 1
    except OSError:
        break


class Tanh(torch.autograd.Function):
    @staticmethod
    def forward(input):
        raise RuntimeError(f"forked {FORKED} children")

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output
