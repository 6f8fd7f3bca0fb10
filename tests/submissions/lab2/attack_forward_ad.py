# Appended to correct.py. Hostile: Tanh's backward gets the derivative from forward-mode AD in a module-level
# helper (one jvp per element, with torch.autograd.forward_ad under another name). Found in the source (the
# helper is reached from Tanh) and while it runs. Tanh loses its backward and hidden-input points.
import torch.autograd.forward_ad as dual_numbers


def _derivative(x):
    with dual_numbers.dual_level():
        dual = dual_numbers.make_dual(x, torch.ones_like(x))
        return dual_numbers.unpack_dual(torch.tanh(dual)).tangent


class Tanh(torch.autograd.Function):
    @staticmethod
    def forward(input):
        return torch.tanh(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * _derivative(x)
