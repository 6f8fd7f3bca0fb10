# Appended to correct.py. Hostile: Sigmoid's forward kills its own process with SIGSEGV on one hidden case (a 1-D
# float32 input), and Tanh's dereferences a null pointer with ctypes on the same case. Each crash costs that case
# only: both keep their visible forward and backward points and lose their hidden-input points; every other node
# keeps its points.
import ctypes
import os
import signal


def _crashes_here(input):
    return input.dim() == 1 and input.dtype == torch.float32


class Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(input):
        if _crashes_here(input):
            os.kill(os.getpid(), signal.SIGSEGV)
        return torch.sigmoid(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (s,) = ctx.saved_tensors
        return grad_output * s * (1 - s)


class Tanh(torch.autograd.Function):
    @staticmethod
    def forward(input):
        if _crashes_here(input):
            ctypes.string_at(0)
        return torch.tanh(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * (1 - y * y)
