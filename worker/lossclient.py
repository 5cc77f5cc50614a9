"""Stubs of the grader's loss functions for the training items: every formula is computed by the loss
server (``worker.lossserver``), in a process of its own; these stubs only run the student's model and
send plain tensors.

``stubs(socket_path)`` returns ``{name: callable}`` for ``reconstruct``, ``creconstruct``,
``kl_divergence``, ``binary_cross_entropy``, ``elbo`` and ``celbo``, with the reference's signatures.
The value each returns is joined to the caller's autograd graph by ``_Remote``, whose backward
multiplies the incoming gradient by the gradients the server computed. Outside the training items the
server does not answer, and a stub raises ``RuntimeError``.
"""
from __future__ import annotations

import itertools
import os
import socket
from typing import TYPE_CHECKING, Any

import torch

from reference.scaffold import append_class_to_data
from worker.lossserver import SOCKET_BUFFER, pack, receive

if TYPE_CHECKING:
    from collections.abc import Callable


class Client:
    """One connection to the loss server, opened at the first call."""

    sock: socket.socket | None
    pid: int | None

    def __init__(self, socket_path: str) -> None:
        self.socket_path, self.sock, self.pid = socket_path, None, None
        self.ids = itertools.count()

    def _connection(self) -> socket.socket:
        if self.sock is not None and self.pid != os.getpid():
            self.sock = None  # a fork (a probe run) gets a connection of its own: never one shared stream
        if self.sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
            try:
                sock.connect(self.socket_path)
            except OSError:
                sock.close()
                raise RuntimeError("the grader's loss functions are not available here") from None
            self.sock, self.pid = sock, os.getpid()
        return self.sock

    def call(self, op: str, tensors: dict[str, torch.Tensor], wants: set[str]
             ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """``(meta, tensors)`` of the server's answer to ``op``; raises ``RuntimeError`` when refused."""
        sock = self._connection()
        try:
            sock.sendall(pack({"op": op, "wants": sorted(wants)}, tensors))
            meta, out = receive(sock)
        except (OSError, ConnectionError, ValueError):
            self.sock = None
            raise RuntimeError("the grader's loss functions are not available here") from None
        if "error" in meta:
            raise RuntimeError(str(meta["error"])[:200])
        return meta, out

    def backward_done(self, call: str | None) -> None:
        """Tell the server that the value of loss call ``call`` was back-propagated (no answer)."""
        if call is not None and self.sock is not None and self.pid == os.getpid():
            try:
                self.sock.sendall(pack({"op": "backward", "call": call}, {}))
            except OSError:
                pass


class _Remote(torch.autograd.Function):
    """``op`` computed by the server; backward: incoming gradient times the server's gradients."""

    @staticmethod
    def forward(ctx: Any, client: Client, op: str, names: tuple[str, ...], *tensors: torch.Tensor) -> torch.Tensor:
        wants = {name for name, needed in zip(names, ctx.needs_input_grad[3:]) if needed}
        meta, out = client.call(op, {n: t.detach() for n, t in zip(names, tensors)}, wants)
        ctx.client, ctx.call, ctx.op = client, meta.get("call"), op
        if op == "sample":
            ctx.factors = [out.get("d_mu"), out.get("d_logvar")] + [None] * (len(names) - 2)
            return out["z"].to(tensors[0].dtype)
        ctx.factors = [out.get(f"grad_{name}") for name in names]
        return out["value"]

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        ctx.client.backward_done(ctx.call)
        grads = [None if factor is None else (grad * factor) for factor in ctx.factors]
        return (None, None, None, *grads)


FINGERPRINT_VALUES = 64   # values of each parameter the server watches (to see the optimizer's first step)


def _fingerprint(model: Any) -> torch.Tensor:
    """The first ``FINGERPRINT_VALUES`` values of each of ``model``'s parameters, as one plain tensor."""
    try:
        parts = [p.detach().reshape(-1)[:FINGERPRINT_VALUES].double() for p in model.parameters()][:64]
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)
    except Exception:  # noqa: BLE001 - not an nn.Module
        return torch.zeros(0, dtype=torch.float64)


def stubs(socket_path: str) -> dict[str, Callable[..., object]]:
    """``{name: stub}`` for the training items' loss calls, all talking to the server at ``socket_path``."""
    client = Client(socket_path)

    def remote(op: str, **tensors: torch.Tensor) -> torch.Tensor:
        return _Remote.apply(client, op, tuple(tensors), *tensors.values())

    def as_probabilities(x_hat: Any) -> Any:
        """A decoder without the final Sigmoid returns logits: the training items put them through one,
        so that this mistake is charged once (on the layout check), not again through the loss."""
        if isinstance(x_hat, torch.Tensor) and x_hat.is_floating_point() and ((x_hat < 0).any() or (x_hat > 1).any()):
            return torch.sigmoid(x_hat)
        return x_hat

    def reconstruct(vae: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = vae.encoder(x)
        z = remote("sample", mu=mu, logvar=logvar, eps=torch.randn_like(mu), fingerprint=_fingerprint(vae))
        return mu, logvar, as_probabilities(vae.decoder(z))

    def creconstruct(cvae: Any, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = cvae.encoder(append_class_to_data(x, y))
        z = remote("sample", mu=mu, logvar=logvar, eps=torch.randn_like(mu), fingerprint=_fingerprint(cvae))
        return mu, logvar, as_probabilities(cvae.decoder(append_class_to_data(z, y)))

    def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return remote("kl_divergence", mu=mu, logvar=logvar)

    def binary_cross_entropy(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return remote("binary_cross_entropy", x_hat=x_hat, x=x)

    def elbo(vae: Any, x: torch.Tensor) -> torch.Tensor:
        mu, logvar, x_hat = reconstruct(vae, x)
        return remote("elbo", mu=mu, logvar=logvar, x_hat=x_hat, x=x)

    def celbo(cvae: Any, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mu, logvar, x_hat = creconstruct(cvae, x, y)
        return remote("celbo", mu=mu, logvar=logvar, x_hat=x_hat, x=x, y=y)

    return {"reconstruct": reconstruct, "creconstruct": creconstruct, "kl_divergence": kl_divergence,
            "binary_cross_entropy": binary_cross_entropy, "elbo": elbo, "celbo": celbo}
