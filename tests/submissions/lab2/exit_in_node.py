# Appended to correct.py. Hostile: CrossEntropy's forward ends the process at once, skipping every handler.
import os


class CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(input, target):
        os._exit(0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None
