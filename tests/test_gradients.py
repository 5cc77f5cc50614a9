"""``worker.gradients.GradientWatch`` through the probe's ``TrainingCounters``: every way of clearing the
gradients counts as cleared, a loop that never clears them counts as kept, and a loop the watch cannot
read (clipping rescales ``p.grad``) is neither, so the judge names no cause for it."""
import functools

import pytest
import torch
from torch import nn

from worker.probes import TrainingCounters

STEPS = 12


def _clear(mode, model, opt):
    if mode == "optimizer.zero_grad":
        opt.zero_grad()
    elif mode == "model.zero_grad":
        model.zero_grad()
    elif mode == "p.grad = None":
        for p in model.parameters():
            p.grad = None
    elif mode == "p.grad.zero_()":
        for p in model.parameters():
            if p.grad is not None:
                p.grad.zero_()


def _loop_facts(body, optimizer=functools.partial(torch.optim.Adam, lr=1e-3), steps=STEPS):
    """``counts["gradients"]`` of ``body(model, opt, xb)`` called once per batch of 16 rows, ``opt`` made by
    ``optimizer(model.parameters())``."""
    torch.manual_seed(0)
    X = torch.rand(128, 20)
    counters = TrainingCounters(X)
    undo = counters.install({})
    try:
        model = nn.Sequential(nn.Linear(20, 16), nn.Tanh(), nn.Linear(16, 20))
        opt = optimizer(model.parameters())
        for step in range(steps):
            body(model, opt, X[(step * 16) % 128:][:16])
    finally:
        facts = counters.facts()["gradients"]
        undo()
    return facts


def _loss(model, xb):
    return ((model(xb) - xb) ** 2).mean()


def _train(mode: str, optimizer="Adam", backward_per_step=1, clip=False):
    """``counts["gradients"]`` of a small autoencoder trained ``STEPS`` steps with ``mode`` of clearing."""
    def body(model, opt, xb):
        _clear(mode, model, opt)
        for part in range(backward_per_step):
            _loss(model, xb[part * 8:][:8]).backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), 1e-3)
        if mode.startswith("after backward: "):
            _clear(mode[len("after backward: "):], model, opt)
        opt.step()
    return _loop_facts(body, functools.partial(torch.optim.Adam, lr=1e-3) if optimizer == "Adam"
                       else functools.partial(torch.optim.SGD, lr=0.1, momentum=0.9))


CLEARING = ["optimizer.zero_grad", "model.zero_grad", "p.grad = None", "p.grad.zero_()"]


@pytest.mark.parametrize("mode", CLEARING)
@pytest.mark.parametrize("optimizer", ["Adam", "SGD"])
def test_every_way_of_clearing_counts_as_cleared(mode, optimizer):
    assert _train(mode, optimizer) == {"compared": STEPS - 1, "cleared": STEPS - 1, "kept": 0, "zeroed": 0}


@pytest.mark.parametrize("mode", CLEARING)
def test_clearing_between_backward_and_step_counts_as_zeroed(mode):
    assert _train(f"after backward: {mode}") == {"compared": STEPS - 1, "cleared": 0, "kept": 0,
                                                 "zeroed": STEPS - 1}


def test_gradient_accumulation_over_two_backward_passes_is_cleared():
    assert _train("optimizer.zero_grad", backward_per_step=2) == {"compared": STEPS - 1, "cleared": STEPS - 1,
                                                                  "kept": 0, "zeroed": 0}


def test_never_clearing_counts_as_kept():
    assert _train("never") == {"compared": STEPS - 1, "cleared": 0, "kept": STEPS - 1, "zeroed": 0}


@pytest.mark.parametrize("mode", ["optimizer.zero_grad", "never"])
def test_clipping_is_neither(mode):
    facts = _train(mode, clip=True)
    assert facts["cleared"] == facts["kept"] == facts["zeroed"] == 0


def test_the_watch_leaves_no_hook_behind():
    """After ``undo`` the parameter's tensor hook and the optimizer hooks are gone: nothing more is counted."""
    torch.manual_seed(0)
    counters = TrainingCounters(torch.rand(8, 4))
    undo = counters.install({})
    model = nn.Linear(4, 4)
    opt = torch.optim.Adam(model.parameters())
    for _ in range(3):
        model(torch.rand(2, 4)).sum().backward()
        opt.step()
    undo()
    before = counters.facts()["gradients"]
    for _ in range(3):
        model(torch.rand(2, 4)).sum().backward()
        opt.step()
    assert counters.facts()["gradients"] == before == {"compared": 2, "cleared": 0, "kept": 2, "zeroed": 0}
    assert not model.weight._backward_hooks and not model.bias._backward_hooks


def test_a_parameter_resized_or_recast_mid_training_stops_the_watch_not_the_training():
    """The watch's hook runs inside the student's backward pass: whatever the student does to the watched
    parameter, the training goes on and the watch claims nothing it did not see."""
    torch.manual_seed(0)
    counters = TrainingCounters(torch.rand(8, 4))
    undo = counters.install({})
    try:
        model = nn.Linear(4, 8)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for step in range(6):
            opt.zero_grad()
            if step == 3:   # the watched bias (8 entries) grows: its gradient no longer adds to the last one
                with torch.no_grad():
                    model.bias.data = torch.zeros(2, 8)
            model(torch.rand(2, 4)).sum().backward()
            opt.step()
        model.double()
        opt.zero_grad()
        model(torch.rand(2, 4, dtype=torch.float64)).sum().backward()
        opt.step()
    finally:
        facts = counters.facts()["gradients"]
        undo()
    assert facts["kept"] == facts["zeroed"] == 0 and facts["cleared"] <= 6, facts


def test_a_gradient_that_cannot_be_added_stops_the_watch_without_raising():
    from worker.gradients import GradientWatch
    watch = GradientWatch()
    watch._on_gradient(torch.ones(3))
    watch._on_gradient(torch.ones(4))          # cannot be added to the 3 entries: no exception in backward
    assert watch.stopped
    watch.before_step(torch.optim.SGD([nn.Parameter(torch.ones(3))], lr=0.1))
    assert watch.facts() == {"compared": 0, "cleared": 0, "kept": 0, "zeroed": 0}


@pytest.mark.parametrize("optimizer", [torch.optim.Adam, torch.optim.LBFGS])
def test_a_closure_that_clears_inside_step_claims_nothing(optimizer):
    """A closure runs inside ``step``, after the step hook: no gradient is seen before the step, nothing told."""
    def body(model, opt, xb):
        def closure():
            opt.zero_grad()
            loss = _loss(model, xb)
            loss.backward()
            return loss
        opt.step(closure)
    facts = _loop_facts(body, functools.partial(optimizer, lr=1e-3), steps=6)
    assert facts["kept"] == facts["zeroed"] == 0, facts


def test_two_steps_per_batch_is_no_missing_zero_grad():
    def body(model, opt, xb):
        opt.zero_grad()
        _loss(model, xb).backward()
        opt.step()
        opt.step()
    facts = _loop_facts(body)
    assert facts["kept"] == facts["zeroed"] == 0 and facts["cleared"] == STEPS - 1, facts


def test_one_layer_frozen_by_zeroing_its_gradient_is_not_zeroed():
    def body(model, opt, xb):
        opt.zero_grad()
        _loss(model, xb).backward()
        for p in model[0].parameters():     # the smallest watched parameter (16 entries) lives here
            p.grad.zero_()
        opt.step()
    facts = _loop_facts(body)
    assert facts["zeroed"] == facts["kept"] == 0, facts
