"""The judge on probe outputs, in-process: self-check and full grader agree on every correct variant,
real mistakes get their real cause, and malformed child data never makes the judge raise.

Namespaces are built from a catalogue case's code (its imports and definitions, with the grader's
scaffold installed, as the worker does); probes run here, and their replies go through the channel's
encode/decode like a worker's would.
"""
import ast

import pytest
import torch

from graders.grading import cases
from graders.proof import catalogue
from graders.judge import dispatch as judge
from graders.judge import baselines as training
from graders.items import AUTO_BY_ID, AUTO_ITEMS
from reference import scaffold, selfcheck
from reference import vae as R
from tests.conftest import ROOT
from worker import channel, probes

PUBLIC_ROWS, FULL_ROWS = 1000, 4000


def namespace(code):
    """The imports, definitions and call-free assignments of ``code``, with the scaffold installed."""
    tree = ast.parse(code)
    keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))
            or (isinstance(n, ast.Assign) and not any(isinstance(c, ast.Call) for c in ast.walk(n.value)))]
    ns = {"__name__": "submission"}
    exec(compile(ast.Module(keep, []), "<submission>", "exec"), ns)
    for name in ("MNISTArgs", "Encoder", "VAE", "CVAE", "append_class_to_data", "get_mnist_data"):
        ns[name] = getattr(scaffold, name)
    return ns


def _context(public):
    X, Y = scaffold.get_mnist_data("train")
    X, Y = (X[:PUBLIC_ROWS], Y[:PUBLIC_ROWS]) if public else (X[:FULL_ROWS], Y[:FULL_ROWS])
    inputs = cases.build_inputs(X, Y)
    context = judge.Context({i.id: channel.item_inputs(inputs, i.id) for i in AUTO_ITEMS}, public=public)
    if not public:
        hx, hy = scaffold.get_mnist_data("test")
        context.held_out = (hx, hy)
        context.baselines = training.ReferenceBaselines((X, Y), (hx, hy))
    return context


@pytest.fixture(scope="module")
def public():
    return _context(True)


@pytest.fixture(scope="module")
def full():
    return _context(False)


LOSSES = {name: getattr(R, name) for name in ("reconstruct", "kl_divergence", "binary_cross_entropy", "elbo",
                                             "creconstruct", "celbo")}


def grade(code, context, item_ids):
    """``{item id: ItemResult}`` for ``code`` on ``item_ids``, each probed in a fresh namespace."""
    results = {}
    for item_id in item_ids:
        item = AUTO_BY_ID[item_id]
        torch.manual_seed(1)
        ns = namespace(code)
        try:
            tensors, meta = probes.run_probe(item_id, ns, context.inputs[item_id], training.budget(context.public),
                                             None if context.public else LOSSES)
            meta = {"probe": meta}
        except Exception as error:  # as the worker reports it
            tensors, meta = {}, {"error": f"{type(error).__name__}: {error}", "exception": type(error).__name__}
        tensors, meta = channel.decode(channel.encode(tensors, meta))
        results[item_id] = judge.judge(item, judge.Outcome(tensors, meta, {"exit_code": 0}), context, 30)
    return results


def _items_of(case):
    functions = set(case.replacements)
    return [i.id for i in AUTO_ITEMS if i.function in functions]


REFERENCE = catalogue.Case("reference", None, {})
AGREEMENT = [REFERENCE] + catalogue.VARIANTS


@pytest.mark.slow
@pytest.mark.parametrize("case", AGREEMENT, ids=lambda c: c.name)
def test_self_check_never_fails_what_the_grader_passes(case, public, full):
    """The issue's table: for every correct variant, each item it changes is full marks in the grader,
    and the self-check never marks it wrong (✔, or "not verified here")."""
    code = catalogue.case_source(case)
    item_ids = _items_of(case) or [i.id for i in AUTO_ITEMS]
    graded = grade(code, full, item_ids)
    checked = grade(code, public, item_ids)
    for item_id in item_ids:
        assert graded[item_id].awarded == graded[item_id].max, (item_id, graded[item_id].messages)
        assert checked[item_id].status == "pass", (item_id, checked[item_id].messages)
        assert not checked[item_id].messages


def test_written_out_losses_are_not_verified_in_the_self_check(public):
    for name in ("elbo in the pytorch/examples style", "celbo in the pytorch/examples style"):
        case = next(c for c in catalogue.VARIANTS if c.name == name)
        result = grade(catalogue.case_source(case), public, _items_of(case))[_items_of(case)[0]]
        assert result.status == "pass" and result.cause == "unverified"
        assert judge.UNVERIFIED in result.notes[0]


def test_notebook_self_check_says_not_verified_for_a_written_out_elbo(capsys):
    ns = namespace(catalogue.case_source(next(c for c in catalogue.VARIANTS
                                              if c.name == "elbo in the pytorch/examples style")))
    ns["kl_divergence"] = lambda mu, logvar: (mu ** 2).sum()   # a wrong helper the elbo does not call
    assert selfcheck.check_elbo(ns["elbo"], ns["reconstruct"], ns["kl_divergence"], ns["binary_cross_entropy"]) is None
    assert selfcheck.UNVERIFIED in capsys.readouterr().out
    # a loss that calls the helpers and differs is still a failure
    ns = namespace(catalogue.case_source(_mutant("elbo: returns the ELBO, not the loss")))
    assert selfcheck.check_elbo(ns["elbo"], ns["reconstruct"], ns["kl_divergence"], ns["binary_cross_entropy"]) is False
    assert "✘ elbo" in capsys.readouterr().out


def _mutant(name):
    return next(c for c in catalogue.MUTANTS if c.name == name)


@pytest.mark.parametrize("name, item_id, words", [
    ("elbo: pytorch/examples sums over the batch", "q4.elbo", "64 times the expected: it sums over the batch"),
    ("kl: sums over the batch", "q4.kl_divergence", "32 times the expected: it sums over the batch"),
    ("loglik: mean over every pixel", "q4.binary_cross_entropy", "1/784 of the expected"),
    ("kl: Monte-Carlo estimate", "q4.kl_divergence", "your value is random"),
    ("elbo: decodes mu without sampling", "q4.elbo", "decodes mu without sampling"),
    ("celbo: conditions on class 0 for every row", "q5.celbo", "one_hot(0) for every row"),
    ("reconstruct: decodes mu in eval mode", "q4.reconstruct", "after model.eval() it decodes mu"),
])
def test_mistakes_get_their_real_cause(name, item_id, words, full):
    result = grade(catalogue.case_source(_mutant(name)), full, [item_id])[item_id]
    assert result.awarded < result.max
    assert any(words in m for m in result.messages), result.messages


def test_logits_taken_as_probabilities(full):
    code = catalogue.case_source(catalogue.Case("bce with logits", None, {"binary_cross_entropy": (
        "def binary_cross_entropy(x_hat, x):\n"
        "    return -F.binary_cross_entropy_with_logits(x_hat, x, reduction='sum') / x.shape[0]")}))
    result = grade(code, full, ["q4.binary_cross_entropy"])["q4.binary_cross_entropy"]
    assert any("takes x_hat as logits" in m for m in result.messages), result.messages


def test_a_non_finite_value_names_its_inputs_and_no_guessed_cause(full):
    """No formula fits NaN: the hint gives the inputs' ranges and the expected value, and names no cause."""
    code = catalogue.case_source(catalogue.Case("kl of log(logvar)", None, {"kl_divergence": (
        "def kl_divergence(mu, logvar):\n"
        "    return 0.5 * (mu ** 2 + logvar.exp() - torch.log(logvar) - 1).sum(1).mean()")}))
    value = _check(grade(code, full, ["q4.kl_divergence"])["q4.kl_divergence"], "value")
    assert not value.passed and value.received == "nan", value.message()
    assert value.hint.startswith("your value is NaN or inf on finite inputs (mu in ["), value.hint
    assert "logvar in [-" in value.hint and value.hint.endswith("])"), value.hint
    assert "log(0)" not in value.hint and "swapped" not in value.hint


@pytest.mark.parametrize("name, words", [
    ("train: ReLU instead of Tanh", "encoder.features uses ReLU: the table uses Tanh"),
    ("train: decoder without the final Sigmoid", "decoder ends in Linear: the table's decoder ends in Sigmoid"),
    ("train cvae: ELU instead of Tanh", "decoder uses ELU: the table uses Tanh"),
    ("train: SGD instead of Adam", "another optimizer (SGD)"),
    ("train: learning-rate scheduler", "the learning rate changed during training"),
    ("train: trains on the test split", "never for the train split"),
])
def test_training_mistakes_named_in_the_self_check(name, words, public):
    case = _mutant(name)
    item_id = _items_of(case)[0]
    result = grade(catalogue.case_source(case), public, [item_id])[item_id]
    assert result.awarded < result.max
    assert any(words in m for m in result.messages), result.messages


def test_nan_losses_are_reported_with_a_cause(public):
    """The self-check runs the student's own losses: a logits decoder's measured outputs leave [0, 1], the cause."""
    result = grade(catalogue.case_source(_mutant("train: decoder without the final Sigmoid")), public,
                   ["q4.train"])["q4.train"]
    assert result.details["nonfinite_losses"] > 0
    assert any("NaN or inf" in n and "(it ends in Linear, not Sigmoid), and log(x_hat), log(1 - x_hat) are not" in n
               for n in result.notes), result.notes


SHARED_FIT = (ROOT / "reference" / "vae.py").read_text()


@pytest.mark.slow
def test_gradients_never_cleared_in_a_shared_helper_are_named_on_each_trainer(full):
    """Issue 16: one missing ``zero_grad`` in the helper both trainers call. Each trainer fails to learn and
    says why from the gradients themselves (not a guess at log(0) or the learning rate); the CVAE's labels,
    aligned, are not blamed; every other check keeps its marks."""
    assert SHARED_FIT.count("optimiser.zero_grad()") == 1
    code = SHARED_FIT.replace("optimiser.zero_grad()", "pass")
    results = grade(code, full, ["q4.train", "q5.train"])
    for item_id, result in results.items():
        learns = _check(result, "learns")
        assert not learns.passed, (item_id, learns.message())
        assert learns.hint.startswith("the gradients were not cleared between optimizer steps (at "), learns.hint
        assert learns.hint.endswith("call optimizer.zero_grad() before each loss.backward()"), learns.hint
        assert [c.name for c in result.checks if not c.passed] == [learns.name], (item_id, result.messages)
        text = " ".join(result.messages + result.notes)
        assert "log(0)" not in text and "learning rate" not in text, text
    assert "another image's label" not in " ".join(results["q5.train"].messages)


@pytest.mark.slow
def test_gradients_cleared_between_backward_and_step_are_named(full):
    """``zero_grad`` between ``backward`` and ``step``: no step uses a gradient, the model learns nothing, and
    'learns' says so from the gradients (the labels, aligned, keep their mark: nothing learned shows none)."""
    result = grade(catalogue.case_source(_mutant("train cvae: zero_grad between backward and step")), full,
                   ["q5.train"])["q5.train"]
    learns = _check(result, "learns")
    assert not learns.passed and learns.hint.startswith(
        "the gradients were cleared between loss.backward() and optimizer.step() (at "), learns.hint
    assert learns.hint.endswith("call optimizer.zero_grad() before loss.backward(), not after it"), learns.hint
    assert [c.name for c in result.checks if not c.passed] == [learns.name], result.messages


def test_wrong_learning_rate_is_named(public):
    code = catalogue.case_source(catalogue.Case("lr 10", None, {"train_mnist_vae": catalogue._trainer(
        False, catalogue._loop(False)).replace("lr=args.lr", "lr=10.0")}))
    result = grade(code, public, ["q4.train"])["q4.train"]
    assert any("lr: called with lr=0.001 it trained with lr=10" in m for m in result.messages), result.messages


# --- issue 16: the arguments and the seed on probe runs; diagnoses from the evidence only ---------------

def _check(result, start):
    return next(c for c in result.checks if c.name.startswith(start))


@pytest.mark.parametrize("name, item_id, check, words", [
    ("train: Adam lr hard-coded to the default 1e-3", "q4.train", "follows args",
     "lr: called with lr=0.002 it trained with lr=0.001"),
    ("train cvae: epochs hard-coded to the default 20", "q5.train", "follows args",
     "epochs: called with epochs=2 it made 20 passes over the data"),
    ("train: ignores epochs and batch_size", "q4.train", "follows args",
     "batch_size: called with batch_size=100 its minibatches held 125 rows on average"),
    ("train: ignores the seed", "q4.train", "seeds torch",
     "runs with seed=2 and seed=3 (all else equal) returned identical weights: the trainer ignores args.seed"),
    ("train: seeds with a constant", "q4.train", "seeds torch", "returned identical weights"),
])
@pytest.mark.slow
def test_constants_equal_to_the_defaults_are_caught_on_probe_runs(name, item_id, check, words, public):
    """Issue 16 parts 1-2: the graded run uses the defaults for lr and seed, so only the probe runs (other lr,
    batch_size, epochs and seed) show these; the message names the argument; nothing else is charged."""
    result = grade(catalogue.case_source(_mutant(name)), public, [item_id])[item_id]
    failed = [c for c in result.checks if not c.passed]
    assert [c.name for c in failed] == [_check(result, check).name], [c.message() for c in failed]
    assert words in failed[0].received, failed[0].message()


def test_seed_check_marks_follow_the_contract():
    """The seed's marks come out of "follows args" (one of its four arguments), in halves."""
    assert AUTO_BY_ID["q4.train"].checks == (("layout", 2), ("args", 1.5), ("seed", 0.5), ("learns", 6))
    assert AUTO_BY_ID["q5.train"].checks == (("layout", 1), ("args", 0.5), ("seed", 0.5), ("learns", 2), ("labels", 1))


def test_a_sigmoid_in_the_decoders_forward_is_not_called_logits(public):
    result = grade(catalogue.case_source(_mutant("train: the decoder applies the sigmoid in its own forward")), public,
                   ["q4.train"])["q4.train"]
    layout = _check(result, "returns a VAE")
    assert not layout.passed and "applies a sigmoid in its own forward" in layout.received, layout.message()
    assert "logits" not in " ".join(result.messages)
    assert [c.name for c in result.checks if not c.passed] == [layout.name]


@pytest.mark.parametrize("name, item_id, hint", [
    ("reconstruct: std = logvar", "q4.reconstruct",
     "z = mu + logvar * eps: it uses logvar itself as the standard deviation (sigma)"),
    ("reconstruct: std = exp(logvar)", "q4.reconstruct",
     "z = mu + exp(logvar) * eps: it uses exp(logvar), the variance, as the standard deviation"),
    ("kl: logvar taken as sigma", "q4.kl_divergence",
     "your value uses logvar as the standard deviation (sigma = logvar)"),
    ("loglik: minus the squared error", "q4.binary_cross_entropy",
     "your value is minus the squared error, -sum((x - x_hat)^2)"),
    ("reconstruct: one noise value per row", "q4.reconstruct", "each latent dimension needs its own noise"),
])
def test_diagnoses_name_the_real_cause_and_charge_it_once(name, item_id, hint, full):
    """Issue 16 part 3: a std mistake is named on the noise check and the gradient check judges the
    reparameterization of that std (no second charge, no "draw new noise" or "torch.normal" hints)."""
    result = grade(catalogue.case_source(_mutant(name)), full, [item_id])[item_id]
    failed = [c for c in result.checks if not c.passed]
    assert len(failed) == 1, [c.message() for c in failed]
    assert hint in failed[0].message(), failed[0].message()
    assert "no fixed seed" not in failed[0].message()


def test_a_reduction_over_a_wrong_axis_combines_with_a_formula_mistake(full):
    code = catalogue.case_source(catalogue.Case("mse mean", None, {"binary_cross_entropy": catalogue._loglik(
        "-F.mse_loss(x_hat, x)")}))
    result = grade(code, full, ["q4.binary_cross_entropy"])["q4.binary_cross_entropy"]
    assert result.checks[0].hint == ("your value is minus the squared error, -sum((x - x_hat)^2) and it averages over "
                                     "the 784 pixels instead of summing them: binary_cross_entropy is the Bernoulli "
                                     "log-likelihood, sum over pixels of x log x_hat + (1 - x) log(1 - x_hat)")


def test_no_fitting_diagnosis_says_expected_and_received_only(full):
    """A KL with log_std where 2 log_std belongs matches no known mistake: no guessed cause."""
    code = catalogue.case_source(catalogue.Case("log std", None, {"kl_divergence": catalogue._kl(
        "(-0.5 * torch.sum(1 + 0.5 * logvar - mu**2 - logvar.exp(), dim=-1)).mean()")}))
    result = grade(code, full, ["q4.kl_divergence"])["q4.kl_divergence"]
    value = result.checks[0]
    assert not value.passed and value.hint == "" and value.expected and value.received
    assert result.messages[0].endswith(f"got {value.received}.")


def test_wrong_value_keeps_form_and_gradient_marks(full, public):
    """Issue 15: a check is either judged or costs nothing; form and gradients are judged on any value."""
    code = catalogue.case_source(_mutant("kl: sums over the batch"))
    result = grade(code, full, ["q4.kl_divergence"])["q4.kl_divergence"]
    assert result.awarded == 1.0 and [c.passed for c in result.checks] == [False, True, True]
    assert not any("not judged" in m for m in result.messages)
    checked = grade(code, public, ["q4.kl_divergence"])["q4.kl_divergence"]
    assert checked.awarded == pytest.approx(4 * 0.5 / 3.5)


@pytest.mark.parametrize("function, item_id", [("kl_divergence", "q4.kl_divergence"),
                                                ("binary_cross_entropy", "q4.binary_cross_entropy")])
@pytest.mark.parametrize("constant", ["torch.tensor(0.0)", "torch.tensor(float('nan'))"])
def test_a_constant_earns_no_form_mark(function, item_id, constant, full):
    """A stub that returns one constant ignores its inputs: no mark at all, the form's included; the
    form of a wrong value computed from the inputs (a batch sum, above) is still judged."""
    args = "mu, logvar" if function == "kl_divergence" else "x_hat, x"
    code = f"import torch\n\ndef {function}({args}):\n    return {constant}\n"
    result = grade(code, full, [item_id])[item_id]
    assert result.awarded == 0 and [c.passed for c in result.checks] == [False, False, False]
    form = result.checks[1]
    assert "on every input, with no gradient" in form.received and args.replace(", ", " and ") in form.hint


def test_the_public_kl_input_separates_a_missing_half_from_a_batch_sum(public):
    """Issue 15: the public KL input has three rows, so a missing 1/2 (2x) is told apart from a batch sum (3x)
    and only the real cause is named."""
    result = grade(catalogue.case_source(_mutant("kl: no 1/2")), public, ["q4.kl_divergence"])["q4.kl_divergence"]
    hint = result.checks[0].hint
    assert "has no factor 1/2" in hint and "sums over the batch" not in hint, hint


def test_clearing_optimizer_hooks_is_caught_and_flagged(public):
    loop = catalogue._loop(False).replace(
        "opt.step()", "__import__('torch.optim.optimizer', fromlist=['x'])._global_optimizer_post_hooks.clear()"
                      "\n            opt.step()")
    code = catalogue.case_source(catalogue.Case("hooks", None, {"train_mnist_vae": catalogue._trainer(False, loop)}))
    result = grade(code, public, ["q4.train"])["q4.train"]
    assert result.awarded < result.max
    assert any("hooks were removed" in m for m in result.messages), result.messages
    assert any("interfered" in f for f in result.flags)


def _training_outcome(meta):
    return judge.Outcome({}, {"probe": meta}, {"exit_code": 0})


@pytest.mark.parametrize("meta", [
    {"seconds": None, "losses": [1.0, "x", None, float("nan")], "n_train": "1000", "counts": []},
    {"seconds": "fast", "returned": "\x1b[31m" + "A" * 100000 + "\ud800", "structure": {"decoder": [1, {}]},
     "counts": {"optimizers": ["x", {"class": None, "lr_min": "a"}], "hook_steps": True}},
    {"losses": {"a": 1}, "data_calls": [1, None, "train"], "structure": "Linear"},
    [], "text", None,
])
def test_malformed_training_meta_never_raises(meta, public):
    result = judge.judge(AUTO_BY_ID["q4.train"], _training_outcome(meta), public, 30)
    assert result.status in ("fail", "partial", "error") and result.cause != "judge_error", result.messages
    for text in result.messages:
        assert len(text) < 2000 and "\x1b" not in text and "\ud800" not in text


@pytest.mark.parametrize("item_id", [i.id for i in AUTO_ITEMS if not i.trains])
def test_malformed_function_meta_never_raises(item_id, public):
    hostile = {"type": "\x1b]0;pwned\x07" + "B" * 5000, "shape": ["a"], "dtype": None, "items": "no",
               "repr": "\ud800" * 10}
    meta = {"probe": {"out": hostile, "c2": hostile, "calls": [{"encoder": "1", "decoder": None}, 5]},
            "load_failures": [None, 3]}
    tensors = {"value1": torch.tensor([1.0, 2.0]), "c2/value": torch.tensor(True), "decoder_in1": torch.zeros(3),
               "out_mu": torch.zeros(2, dtype=torch.int64)}
    result = judge.judge(AUTO_BY_ID[item_id], judge.Outcome(tensors, meta, {"exit_code": 0}), public, 30)
    assert result.cause != "judge_error", result.messages
    assert result.awarded < result.max
    for text in result.messages:
        assert len(text) < 2000 and "\x1b" not in text and "\ud800" not in text


def test_error_meta_is_typed_and_capped(public):
    item = AUTO_BY_ID["q4.elbo"]
    outcome = judge.Outcome({}, {"error": "E" * 10000 + "\x07", "exception": "NotImplementedError"}, {"exit_code": 0})
    assert judge.judge(item, outcome, public, 30).cause == "not_done"
    outcome = judge.Outcome({}, {"error": ["x"], "traceback": 5}, {"exit_code": 0})
    result = judge.judge(item, outcome, public, 30)
    assert result.status == "error" and result.cause == "exception"
    timed_out = judge.judge(item, judge.Outcome({}, {}, {"timed_out": True, "exit_code": None}), public, 30)
    assert timed_out.cause == "timeout"


def test_held_out_loss_leaves_the_global_generator_alone():
    model = training.empty_model(False, seed=1)
    X, _ = scaffold.get_mnist_data("test")
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = training.held_out_loss(model, False, X[:200], None)
    assert torch.equal(torch.get_rng_state(), state)
    assert training.held_out_loss(model, False, X[:200], None) == first
    assert training.empty_model(False, seed=1).state_dict()["decoder.0.weight"].equal(model.decoder[0].weight)


def test_steps_on_another_split_are_caught_by_their_rows(public):
    """The right number of steps, but on rows that are not the train split's: counted by the rows the
    grader's loss saw in its backward passes."""
    trainer = catalogue._trainer(False, catalogue._loop(False)).replace(
        "X, Y = get_mnist_data()", "X, Y = get_mnist_data()\n    X = get_mnist_data('test')[0][: len(X)]")
    code = catalogue.case_source(catalogue.Case("test rows", None, {"train_mnist_vae": trainer}))
    result = grade(code, public, ["q4.train"])["q4.train"]
    assert any("are not from get_mnist_data('train')" in m for m in result.messages), result.messages


def test_evaluation_passes_on_the_test_split_keep_follows_args(public):
    case = next(c for c in catalogue.VARIANTS if c.name.startswith("train with a test pass"))
    result = grade(catalogue.case_source(case), public, ["q4.train"])["q4.train"]
    assert result.status == "pass", result.messages


def test_registry_marks_and_kinds():
    """One registry: every item's checks add up to its marks, and the worker's view of it agrees."""
    from graders.items import AUTO_MAX
    from worker.items import PROBE_BY_ID
    assert AUTO_MAX == 40
    for item in AUTO_ITEMS:
        assert sum(m for _, m in item.checks) == item.marks
        probe = PROBE_BY_ID[item.id]
        assert (probe.kind, probe.function, probe.conditional) == (item.kind, item.function, item.conditional)


def test_worker_package_imports_nothing_of_the_grader():
    """The sandboxed worker sees ``worker/`` and the public scaffold only (issue 8 registry direction)."""
    from pathlib import Path
    for path in (Path(__file__).parent.parent / "worker").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                modules = [f"{base}.{a.name}" if base == "reference" else base for a in node.names]
            else:
                continue
            for module in modules:
                assert not module.startswith("graders"), (path.name, module)
                assert not module.startswith("reference") or module == "reference.scaffold", (path.name, module)


@pytest.mark.slow
def test_the_label_check_says_what_the_batches_show(full):
    """Issue 16: the CVAE's label check blames misaligned labels only when the training batches show them
    (rows paired with another image's label); aligned code that learned nothing is charged on 'learns'
    only (its labels cannot show), and aligned code that learned less than asked keeps the labels mark."""
    shuffled = grade(catalogue.case_source(_mutant("train cvae: labels shuffled apart from images")), full,
                     ["q5.train"])["q5.train"]
    labels = _check(shuffled, "uses the labels")
    assert not labels.passed and "training rows went to the loss with another image's label" in labels.hint, \
        labels.message()
    stuck = grade(catalogue.case_source(_mutant("train cvae: no optimizer step")), full, ["q5.train"])["q5.train"]
    assert _check(stuck, "uses the labels").passed and not _check(stuck, "learns").passed
    every_zero = grade(catalogue.case_source(_mutant("train cvae: every label 0")), full, ["q5.train"])["q5.train"]
    assert not _check(every_zero, "uses the labels").passed and _check(every_zero, "learns").passed
    shorter = (ROOT / "tests" / "real_code" / "martinyanev_hardcoded_args.py").read_text()
    result = grade(shorter, full, ["q5.train"])["q5.train"]
    assert _check(result, "uses the labels").passed and not _check(result, "follows args").passed


@pytest.mark.parametrize("states, passed, words", [
    ({0: 1.0, 1: 1.0, 2: 3.0}, True, ""),
    ({0: 1.0, 1: 1.0, 2: 1.0}, False, "runs with seed=2 and seed=3 (all else equal) returned identical weights"),
    ({0: 1.0, 1: 2.0, 2: 3.0}, False, "two VAE runs with the same seed=2 (all else equal) returned different weights"),
    ({0: 1.0, 2: 3.0}, False, "no weights came back from 1 of the 3 short runs (seeds 2)"),
])
def test_the_seed_check_compares_the_probe_runs_weights(states, passed, words):
    """Same seed, same weights; another seed, other weights; a run without weights is said once."""
    from graders.judge import training as judge_training
    tensors = {f"run{i}/state/encoder.mu.bias": torch.full((3,), v) for i, v in states.items()}
    check = judge_training._seed_check(tensors, judge.Context({}, public=False), 0.5, "VAE")
    assert check.passed == passed and check.awarded == (0.5 if passed else 0)
    assert words in check.received, check.received


def test_what_a_failed_item_printed_is_a_note_with_its_last_lines_and_size(public):
    """``ItemRecord.output`` was captured by the worker and read by nobody: a student whose function raised
    after printing saw no trace of it. Now the last lines are a note on the failed item (cleaned, capped)."""
    item = AUTO_BY_ID["q4.elbo"]
    printed = "".join(f"step {i}\n" for i in range(30)) + "\x1b[31mred\x1b[0m\n"
    record = {"exit_code": 0, "output": printed, "output_bytes": 70_000}
    failed = judge.judge(item, judge.Outcome({}, {"error": "ValueError: bad shape", "exception": "ValueError"},
                                             record), public, 30)
    assert failed.cause == "exception" and len(failed.notes) == 1
    note = failed.notes[0]
    assert note.startswith("it printed (70,000 bytes; the last 12 lines):\nstep 19\n")
    assert note.endswith("step 29\n[31mred[0m") and "\x1b" not in note
    quiet = judge.judge(item, judge.Outcome({}, {"error": "ValueError: bad", "exception": "ValueError"},
                                            {"exit_code": 0}), public, 30)
    assert quiet.notes == []
