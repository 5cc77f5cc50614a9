"""The loss server (issue 17): the grader's loss functions in a process of their own, reached through stubs.

The stubs give the reference's values and gradients exactly; the server answers only while the worker
has opened it; what it counts (backward passes, rows, the first step's learning rate) is what the
training did.
"""
import json
import time
from pathlib import Path

import pytest
import torch

from graders.grading.pipeline import _loss_code
from reference import scaffold
from reference import vae as ref
from worker import lossclient
from worker.supervise import LossServer


class _Item:
    def __init__(self, item_id):
        self.id, self.params = item_id, {}


class _Job:
    items = [_Item("q4.train")]


@pytest.fixture
def server(tmp_path):
    (tmp_path / "losses.bin").write_bytes(_loss_code())
    X = (torch.rand(64, 784) > 0.5).float()
    handle = LossServer(Path(tmp_path), {"q4.train:X": X}, None)
    yield handle, X
    handle.stop()


def _model(conditional):
    torch.manual_seed(3)
    return ref._mlp_vae(scaffold.CVAE if conditional else scaffold.VAE, scaffold.MNISTArgs(), 10 if conditional else 0)


def test_stubs_give_the_reference_values_and_gradients(server, tmp_path):
    handle, X = server
    handle.after(_Job, set(), tmp_path, None)
    stubs = lossclient.stubs(handle.socket_path)
    x, y = X[:16], torch.arange(16) % 10
    for name, conditional in (("elbo", False), ("celbo", True)):
        model = _model(conditional)
        args = (model, x) + ((y,) if conditional else ())
        torch.manual_seed(5)
        remote = stubs[name](*args)
        remote.backward()
        remote_grads = [p.grad.clone() for p in model.parameters()]
        model.zero_grad()
        torch.manual_seed(5)
        local = getattr(ref, name)(*args)
        local.backward()
        assert remote.shape == local.shape == ()
        assert torch.allclose(remote, local, rtol=1e-6), (name, float(remote), float(local))
        for a, b in zip(remote_grads, [p.grad for p in model.parameters()]):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-7), name
    mu, logvar = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    kl = stubs["kl_divergence"](mu, logvar)
    grad_mu, = torch.autograd.grad(kl, mu)
    assert torch.allclose(kl, ref.kl_divergence(mu, logvar))
    assert torch.allclose(grad_mu, mu.detach() / 4)


def test_closed_server_refuses_at_once(server, tmp_path):
    handle, _ = server
    stubs = lossclient.stubs(handle.socket_path)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="only in the training items"):
        stubs["kl_divergence"](torch.zeros(2, 3), torch.zeros(2, 3))
    assert time.monotonic() - started < 5
    assert not handle.is_open


def test_counts_and_the_first_steps_learning_rate(server, tmp_path):
    handle, X = server
    handle.after(_Job, set(), tmp_path, None)
    stubs = lossclient.stubs(handle.socket_path)
    model = _model(False)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    outside = (torch.rand(8, 784) > 0.5).float()
    for batch in (X[:10], X[10:20], torch.cat([X[20:25], outside[:5]])):
        optimiser.zero_grad()
        stubs["elbo"](model, batch).backward()
        optimiser.step()
    with torch.no_grad():
        stubs["elbo"](model, X[:5])           # an evaluation call: no backward
    handle.after(_Job, {"q4.train"}, tmp_path, "q4.train")
    counts = json.loads((tmp_path / "q4.train.server.json").read_text())
    assert counts["backward"] == 3
    assert counts["rows"] == 30 and counts["train_rows"] == 25
    assert counts["lr_first_step"] == pytest.approx(3e-3, rel=0.01)
    assert not handle.is_open


def test_a_forked_run_has_a_connection_and_counts_of_its_own(server, tmp_path):
    """A probe run in a fork of the item's child (issue 16) talks over its own connection; the report is
    the run with the most backward passes (the graded run)."""
    import os
    handle, X = server
    handle.after(_Job, set(), tmp_path, None)
    stubs = lossclient.stubs(handle.socket_path)
    model = _model(False)
    stubs["elbo"](model, X[:4]).backward()       # the parent connects first
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            stubs["elbo"](model, X[:4]).backward()
            code = 0
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    for _ in range(2):
        stubs["elbo"](model, X[4:8]).backward()   # the parent's connection still answers in order
    handle.after(_Job, {"q4.train"}, tmp_path, "q4.train")
    counts = json.loads((tmp_path / "q4.train.server.json").read_text())
    assert counts["runs"] == 2 and counts["backward"] == 3 and counts["rows"] == 12
