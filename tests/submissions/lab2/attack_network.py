# Appended to correct.py. Hostile: at import, connects to a server of the grading machine on 127.0.0.1 (PORT is
# filled in by the test) and sends what it likes. With the network namespace nothing reaches the server; ReLU's
# forward reports what happened and loses ReLU's points, nothing else.
import socket

PORT = {port}
try:
    with socket.create_connection(("127.0.0.1", PORT), timeout=5) as _connection:
        _connection.sendall(b"hello from a submission")
    NETWORK = "connected"
except OSError as error:
    NETWORK = f"no connection: {error}"


class ReLU(torch.autograd.Function):
    @staticmethod
    def forward(input):
        raise RuntimeError(f"network: {NETWORK}")

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output
