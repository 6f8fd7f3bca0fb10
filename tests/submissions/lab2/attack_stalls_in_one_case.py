# Appended to correct.py. Hostile: on one hidden case each (a float32 input of one example, or of one dimension),
# ReLU's forward sleeps (using no CPU time: only the clock's backstop stops it) and Linear's loops forever (the
# CPU-time limit stops it). Each costs that case only: both keep their visible points and lose their
# hidden-input points; every other node keeps its points.
import time


class ReLU(torch.autograd.Function):
    @staticmethod
    def forward(input):
        if input.dim() == 1 and input.dtype == torch.float32:
            time.sleep(3600)
        return torch.relu(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (x > 0)


class Linear(torch.autograd.Function):
    @staticmethod
    def forward(input, weight, bias):
        while input.shape[0] == 1 and input.dtype == torch.float32:
            pass
        return input.matmul(weight.t()) + bias

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], inputs[1])

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        return grad_output.matmul(weight), grad_output.t().matmul(input), grad_output.sum(0)
