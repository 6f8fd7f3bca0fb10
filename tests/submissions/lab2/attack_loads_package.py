# Appended to correct.py. Hostile: ReLU's backward loads the course package's own nodes.py by its path (NODES is
# filled in by the test), under another module name, and so could borrow its nodes. With the mount namespace
# the file is hidden; without it, the runner sees a module loaded from a file of its own. Either way ReLU loses
# its backward and hidden-input points, and keeps its forward points.
import importlib.util

NODES = "{nodes}"


def _borrowed_nodes():
    spec = importlib.util.spec_from_file_location("course_nodes", NODES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
        _borrowed_nodes()  # the borrowing is the offence, whatever is done with it
        return grad_output * (x > 0)
