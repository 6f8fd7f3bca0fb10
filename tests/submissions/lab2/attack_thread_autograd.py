# Appended to correct.py. Hostile: Sigmoid's backward lets PyTorch autograd compute the gradient in a new thread
# (threads start with gradient mode on, outside the hooks of the calling thread), reaching autograd through a
# name built at run time. The runner sees the thread; a person sees the computed getattr. Sigmoid loses its
# backward and hidden-input points and keeps its forward points.
import threading


def _in_a_thread(function, *args):
    box = []
    worker = threading.Thread(target=lambda: box.append(function(*args)))
    worker.start()
    worker.join()
    return box[0]


def _gradient(x, grad_output):
    engine = getattr(torch, "auto" + "grad")
    x = x.detach().requires_grad_(True)
    return engine.grad(torch.sigmoid(x), x, grad_output)[0]


class Sigmoid(torch.autograd.Function):
    @staticmethod
    def forward(input):
        return torch.sigmoid(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return _in_a_thread(_gradient, x, grad_output)
