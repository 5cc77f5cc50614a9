"""The grader's loss functions in a process of their own, for the training items (issue 17).

The grader's reference ``kl_divergence``, ``binary_cross_entropy``, ``elbo`` and ``celbo`` and the
reparameterization step of its ``(c)reconstruct`` never enter a process that runs student code: they
arrive as marshalled code in ``losses.bin`` (0600), which only this server reads, and live on its heap
only. Student code calls stubs (``worker.lossclient``) that send plain tensors over a Unix socket and get
back values and the gradients with respect to them; autograd in the student's process joins them to
the model through a custom ``torch.autograd.Function``.

The server answers only while the worker has opened it (``OPEN``): for the training items, which run
after every other item of the submission, so that nothing it computes can stand in for a function the
student had to write. It also counts, for each training item, the loss calls with a gradient, the
backward passes the stubs report and the rows (and rows of the training split) in those calls: facts
measured outside the student's processes, which the grader cross-checks against the child's.

Messages both ways: ``MESSAGE`` header (tag, JSON length, data length), JSON (the facts, and each
tensor's name, dtype and shape), the tensors' raw bytes.
"""
from __future__ import annotations

import json
import marshal
import os
import select
import signal
import socket
import struct
import sys
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, NoReturn, cast

import torch

if TYPE_CHECKING:
    from collections.abc import Callable

MESSAGE = struct.Struct("<4sII")
TAG = b"A4L1"
MAX_JSON = 1 << 16
MAX_BLOB = 256 * 2**20            # one request's tensors (a batch of 60,000 images is 188 MB in float32)
SOCKET_BUFFER = 4 * 2**20         # bytes: a batch's images pass in one write
MAX_CLIENTS = 16
OPS = ("sample", "kl_divergence", "binary_cross_entropy", "elbo", "celbo")
OPEN, CLOSE, REPORT, QUIT = b"O", b"C", b"R", b"Q"   # commands from the worker, one byte each


@dataclass
class ServerCounts:
    """What the server saw during one training item (plain data, written to ``out/<item>.server.json``)."""
    loss_calls: int = 0          # elbo/celbo calls whose value carries a gradient
    backward: int = 0            # backward passes through those values, as the stubs reported them
    rows: int = 0                # rows of x in the calls that were back-propagated
    train_rows: int = 0          # ... of which rows of the training split
    refused: int = 0             # requests refused (the server was closed), all connections together
    lr_first_step: float = 0.0   # median change of the model's sampled parameters at their first change:
                                 # Adam's first step moves each parameter by lr (0.0: not seen)


# --- framing, shared with the client ------------------------------------------------------------

DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16,
          "int64": torch.int64, "int32": torch.int32, "uint8": torch.uint8, "bool": torch.bool}
NAMES = {dtype: name for name, dtype in DTYPES.items()}
MAX_TENSORS = 16


def pack(meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> bytes:
    """One message: ``meta`` (JSON-able) and ``tensors`` (``{name: Tensor}``) as raw bytes, described in
    the JSON (name, dtype, shape): plain data, nothing to unpickle or execute."""
    layout, blobs = [], []
    for name, tensor in tensors.items():
        tensor = tensor.detach().contiguous()
        if tensor.dtype not in NAMES:
            tensor = tensor.to(torch.float32 if tensor.is_floating_point() else torch.int64)
        layout.append([name, NAMES[tensor.dtype], list(tensor.shape)])
        blobs.append(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    text = json.dumps({"meta": meta, "tensors": layout}).encode()
    blob = b"".join(blobs)
    return MESSAGE.pack(TAG, len(text), len(blob)) + text + blob


def receive(sock: socket.socket) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(meta, tensors)`` of the next message on ``sock``; raises ``ConnectionError`` on EOF or anything
    malformed (a dtype not allowed, sizes that do not add up)."""
    tag, text_len, blob_len = MESSAGE.unpack(_exactly(sock, MESSAGE.size))
    if tag != TAG or text_len > MAX_JSON or blob_len > MAX_BLOB:
        raise ConnectionError("malformed message")
    head = json.loads(_exactly(sock, text_len))
    blob = bytearray(_exactly(sock, blob_len)) if blob_len else bytearray()
    if not isinstance(head, dict) or not isinstance(head.get("meta"), dict) or \
            not isinstance(head.get("tensors"), list) or len(head["tensors"]) > MAX_TENSORS:
        raise ConnectionError("malformed message")
    tensors, offset = {}, 0
    for entry in head["tensors"]:
        try:
            name, dtype, shape = entry
            dtype = DTYPES[dtype]
            shape = [int(n) for n in shape]
        except (TypeError, ValueError, KeyError):
            raise ConnectionError("malformed message") from None
        count = 1
        for n in shape:
            count *= n
        size = count * torch.empty(0, dtype=dtype).element_size()
        if not isinstance(name, str) or min(shape, default=1) < 0 or offset + size > len(blob):
            raise ConnectionError("malformed message")
        flat = torch.frombuffer(blob, dtype=dtype, count=count, offset=offset) if count else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(shape)
        offset += size
    if offset != len(blob):
        raise ConnectionError("malformed message")
    return head["meta"], tensors


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError("closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# --- the server ------------------------------------------------------------------------------------

class RowKeys:
    """Exact integer fingerprints of the training split's rows (as ``worker.probes`` keeps them)."""

    def __init__(self, X: torch.Tensor) -> None:
        generator = torch.Generator().manual_seed(4)
        self.weights = torch.randint(1, 2**20, (X.shape[1],), generator=generator, dtype=torch.int64)
        self.keys = set((X.detach().round().to(torch.int64) @ self.weights).tolist())

    def count(self, x: torch.Tensor) -> int:
        """Rows of ``x`` that are rows of the training split."""
        x = x.reshape(len(x), -1) if x.dim() else x.reshape(1, -1)
        if x.shape[-1] != len(self.weights) or x.is_complex():
            return 0
        return sum(1 for key in (x.detach().round().to(torch.int64) @ self.weights).tolist() if key in self.keys)


class Functions:
    """The grader's loss functions, compiled from marshalled code, evaluated on plain tensors."""

    def __init__(self, code_bytes: bytes, append_class_to_data: Callable[..., torch.Tensor]) -> None:
        self.ns: dict[str, Any] = {"__name__": "grader_losses", "torch": torch, "append_class_to_data": append_class_to_data}
        exec(marshal.loads(code_bytes), self.ns)  # noqa: S102 - the grader's own code, compiled by the grader

    def evaluate(self, op: str, tensors: dict[str, torch.Tensor], wants: set[str]) -> dict[str, torch.Tensor]:
        """``op`` on ``tensors`` (``{name: Tensor}``); returns the output(s) and the gradients of the wanted
        inputs: for the scalar losses ``grad_<name>``, for ``sample`` the element-wise derivatives."""
        # the tensors were just deserialized: this request's own, no copy needed
        leaves = {k: v.requires_grad_(k in wants and v.is_floating_point()) for k, v in tensors.items()}
        if op == "sample":
            mu, logvar = (leaves[k].detach().requires_grad_(leaves[k].is_floating_point()) for k in ("mu", "logvar"))
            eps = leaves["eps"].detach()
            z = self._reparameterize(mu, logvar, eps)
            # z is element-wise in (mu, logvar): the gradient of its sum is each element's derivative. (A scalar
            # output and no grad_outputs: explicit ones would import torch.fx's sympy, 0.75 s per server.)
            d_mu, d_logvar = torch.autograd.grad(z.sum(), [mu, logvar], allow_unused=True)
            return {"z": z.detach(), "d_mu": _zero_if_none(d_mu, mu), "d_logvar": _zero_if_none(d_logvar, logvar)}
        if op in ("elbo", "celbo"):
            with _swapped(self.ns, "creconstruct" if op == "celbo" else "reconstruct",
                          (leaves["mu"], leaves["logvar"], leaves["x_hat"])):
                args = (None, leaves["x"]) + ((leaves["y"],) if op == "celbo" else ())
                value = self.ns[op](*args)
        else:
            value = self.ns[op](*(leaves[name] for name in _ARGUMENTS[op]))
        out = {"value": value.detach()}
        needing = [k for k, v in leaves.items() if v.requires_grad]
        if needing and value.requires_grad:
            grads = torch.autograd.grad(value, [leaves[k] for k in needing], allow_unused=True)
            out.update({f"grad_{k}": _zero_if_none(g, leaves[k]) for k, g in zip(needing, grads)})
        return out

    def _reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """The reference ``reconstruct``'s draw of ``z``, with ``torch.randn_like`` giving ``eps``: run on a
        stand-in model whose encoder returns ``(mu, logvar)`` and whose decoder returns its ``z``."""
        parts = _StandIn(mu, logvar)
        original = self.ns["torch"]
        self.ns["torch"] = _TorchWithNoise(eps)
        try:
            return self.ns["reconstruct"](parts, None)[2]
        finally:
            self.ns["torch"] = original


class _StandIn:
    """A model for the reference ``reconstruct``: the encoder gives fixed ``(mu, logvar)``, the decoder is
    the identity (so the third value returned is the ``z`` drawn)."""

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor) -> None:
        self.parts = (mu, logvar)

    def encoder(self, x: object) -> tuple[torch.Tensor, torch.Tensor]:
        return self.parts

    @staticmethod
    def decoder(z: torch.Tensor) -> torch.Tensor:
        return z


_ARGUMENTS = {"kl_divergence": ("mu", "logvar"), "binary_cross_entropy": ("x_hat", "x")}


class _TorchWithNoise:
    """``torch`` as the reference ``reconstruct`` sees it in the server: ``randn_like`` returns ``eps``."""

    def __init__(self, eps: torch.Tensor) -> None:
        self._eps = eps

    def randn_like(self, tensor: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        return self._eps.to(tensor.dtype)

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)


class _swapped:
    def __init__(self, ns: dict[str, Any], name: str, parts: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> None:
        self.ns, self.name, self.parts = ns, name, parts

    def __enter__(self) -> None:
        self.original = self.ns[self.name]
        self.ns[self.name] = lambda *args: self.parts

    def __exit__(self, *exc: object) -> None:
        self.ns[self.name] = self.original


def _zero_if_none(grad: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(like) if grad is None else grad.detach()


class Run:
    """One connection (one process of a training item: the graded run, or a probe run in a fork of it)."""

    pending: dict[str, tuple[int, int]]
    fingerprint: torch.Tensor | None

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.counts, self.pending, self.fingerprint = sock, ServerCounts(), {}, None

    def watch_parameters(self, fingerprint: torch.Tensor) -> None:
        """Keep the first change of the model's sampled parameters between two loss calls."""
        last, self.fingerprint = self.fingerprint, fingerprint.double()
        if self.counts.lr_first_step or last is None or last.shape != fingerprint.shape:
            return
        change = (self.fingerprint - last).abs()
        moved = change[change > 0]
        if len(moved) >= 8:
            self.counts.lr_first_step = float(moved.median())


class Server:
    """Serves the stubs of one submission's training items; commanded by the worker over a pipe. Counts
    are kept per connection (``Run``); the report is the run with the most backward passes (the graded
    run: a training item's probe runs are shorter), the latest of equals."""

    clients: dict[socket.socket, Run]
    runs: list[Run]

    def __init__(self, functions: Functions, row_keys: RowKeys, listener: socket.socket, command_fd: int,
                 allowed_uid: int | None) -> None:
        self.functions, self.row_keys = functions, row_keys
        self.listener, self.command_fd, self.allowed_uid = listener, command_fd, allowed_uid
        self.clients, self.open, self.runs, self.refused = {}, False, [], 0

    def serve(self) -> None:
        """Until the worker says ``QUIT`` (or its pipe closes)."""
        while True:
            ready, _, _ = select.select(cast("list[int | socket.socket]", [self.command_fd, self.listener, *self.clients]),
                                        [], [])
            for source in ready:
                if source == self.command_fd:
                    if not self._command():
                        return
                elif source is self.listener:
                    self._accept()
                elif source in self.clients:
                    self._request(self.clients[source])

    def report(self) -> dict[str, Any]:
        best = max(reversed(self.runs), key=lambda run: run.counts.backward, default=None)
        counts = best.counts if best is not None else ServerCounts()
        return {**asdict(counts), "refused": self.refused, "runs": len(self.runs)}

    def _command(self) -> bool:
        command = os.read(self.command_fd, 1)
        if command in (b"", QUIT):
            return False
        if command == OPEN:
            self.open, self.runs, self.refused = True, [run for run in self.clients.values()], 0
            for run in self.runs:
                run.counts, run.pending, run.fingerprint = ServerCounts(), {}, None
        elif command == CLOSE:
            self.open = False
            for sock in self.clients:
                sock.close()
            self.clients = {}
        elif command == REPORT:
            self._drain()
            data = json.dumps(self.report()).encode()
            os.write(self.command_fd, struct.pack("<I", len(data)) + data)
        return True

    def _drain(self) -> None:
        """Handle every message already sent (a last backward pass may still be in a socket)."""
        for _ in range(10000):
            ready, _, _ = select.select(list(self.clients), [], [], 0)
            if not ready:
                return
            for sock in ready:
                if sock in self.clients:
                    self._request(self.clients[sock])

    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return
        uid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
        if len(self.clients) >= MAX_CLIENTS or (self.allowed_uid is not None and
                                                uid not in (self.allowed_uid, os.getuid())):
            self.refused += 1
            sock.close()
            return
        self.clients[sock] = Run(sock)
        self.runs.append(self.clients[sock])

    def _request(self, run: Run) -> None:
        try:
            meta, tensors = receive(run.sock)
            reply = self._answer(run, meta, tensors)
            if reply is not None:
                run.sock.sendall(pack(*reply))
        except Exception:  # noqa: BLE001 - a malformed request, a closed client: that client only
            self.clients.pop(run.sock, None)
            run.sock.close()

    def _answer(self, run: Run, meta: dict[str, Any], tensors: dict[str, torch.Tensor]
                ) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
        op = meta.get("op")
        if op == "backward":
            rows, train_rows = run.pending.pop(str(meta.get("call")), (0, 0))
            run.counts.backward += 1
            run.counts.rows += rows
            run.counts.train_rows += train_rows
            return None
        if op not in OPS or not self.open:
            self.refused += 1
            return {"error": "the grader's loss functions answer only in the training items"}, {}
        wants = {str(name) for name in meta.get("wants", [])}
        fingerprint = tensors.pop("fingerprint", None)
        if op == "sample" and fingerprint is not None:
            run.watch_parameters(fingerprint)
        out = self.functions.evaluate(op, tensors, wants)
        call = None
        if op in ("elbo", "celbo") and any(k.startswith("grad_") for k in out):
            run.counts.loss_calls += 1
            call = str(run.counts.loss_calls)
            x = tensors.get("x")
            run.pending[call] = (len(x), self.row_keys.count(x)) if x is not None and x.dim() else (0, 0)
        return {"call": call}, out


def serve(job_dir: str, socket_path: str, command_fd: int, inputs: dict[str, torch.Tensor],
          allowed_uid: int | None) -> NoReturn:
    """The server process's body (forked from the worker before any student code runs); never returns."""
    from reference import scaffold
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _not_dumpable()
        with open(os.path.join(job_dir, "losses.bin"), "rb") as handle:
            functions = Functions(handle.read(), scaffold.append_class_to_data)
        X = next((v for k, v in inputs.items() if k.endswith(":X")), torch.zeros(0, 784))
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
        listener.bind(socket_path)
        os.chmod(socket_path, 0o666)
        listener.listen(MAX_CLIENTS)
        os.write(command_fd, b"+")
        Server(functions, RowKeys(X), listener, command_fd, allowed_uid).serve()
        code = 0
    except BaseException:  # noqa: BLE001
        import traceback
        sys.stderr.write(traceback.format_exc()[-2000:])
    os._exit(code)


def _not_dumpable() -> None:
    """No core dump, no ``/proc/<pid>/mem`` or ptrace for processes of the same user."""
    import ctypes
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)   # PR_SET_DUMPABLE = 4
