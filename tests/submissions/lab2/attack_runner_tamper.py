# Appended to correct.py. Hostile: at import, it reaches the runner through sys.modules["__main__"], puts the
# original autograd functions back and replaces the watch's run by a plain call. Softmax's backward then calls
# torch.autograd.grad in a module-level helper; ReLU's reaches autograd through a computed name. The runner sees
# nothing. The source reading finds Softmax's helper (Softmax loses its backward and hidden-input points), and
# the hidden review test lists the tampering and the computed names for a person: ReLU keeps its points unless
# a person takes them (the limit of what a program can see in a process the student controls).
import sys

_runner = sys.modules["__main__"]
for _name, _value in list(vars(_runner).items()):
    if isinstance(_value, type) and hasattr(_value, "ENTRY_POINTS"):
        for _owner, _attribute in _value.ENTRY_POINTS:
            _current = getattr(_owner, _attribute)
            setattr(_owner, _attribute, getattr(_current, "__wrapped__", _current))
        _value.run = lambda self, record, function, *args: function(*args)
        _value.check = lambda self: None


def _softmax_gradient(y, grad_output, dim):
    with torch.enable_grad():
        x = torch.log(y).detach().requires_grad_()
        return torch.autograd.grad(torch.softmax(x, dim), x, grad_output)[0]


class Softmax(torch.autograd.Function):
    @staticmethod
    def forward(input, dim):
        return torch.softmax(input, dim)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.dim = inputs[1]
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return _softmax_gradient(y, grad_output, ctx.dim), None


class ReLU(torch.autograd.Function):
    @staticmethod
    def forward(input):
        return torch.relu(input)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        engine = getattr(torch, "auto" + "grad")
        with getattr(torch, "enable" + "_grad")():
            x = x.detach()
            setattr(x, "requires" + "_grad", True)
            return engine.grad(torch.relu(x), x, grad_output)
