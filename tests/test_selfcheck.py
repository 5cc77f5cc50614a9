"""The notebook's public constants are still the reference's outputs; the checks catch mistakes."""
import pytest
import torch

from reference import selfcheck, vae as R


def test_constants_are_the_reference_outputs():
    mu, logvar, x_hat, x = selfcheck._self_check_inputs()
    assert R.kl_divergence(mu, logvar).item() == pytest.approx(selfcheck.SELF_CHECK_KL, abs=1e-5)
    assert R.binary_cross_entropy(x_hat, x).item() == pytest.approx(selfcheck.SELF_CHECK_LOGLIK, abs=1e-4)


def test_checks_pass_the_reference(capsys):
    assert selfcheck.check_kl_divergence(R.kl_divergence)
    assert selfcheck.check_binary_cross_entropy(R.binary_cross_entropy)
    assert selfcheck.check_reconstruct(R.reconstruct)
    assert selfcheck.check_creconstruct(R.creconstruct)
    assert selfcheck.check_elbo(R.elbo, R.reconstruct, R.kl_divergence, R.binary_cross_entropy)
    assert selfcheck.check_celbo(R.celbo, R.creconstruct, R.kl_divergence, R.binary_cross_entropy)


def test_checks_report_mistakes_and_not_done(capsys):
    assert selfcheck.check_kl_divergence(lambda mu, lv: (mu**2).sum()) is False
    assert "expected 7.0046" in capsys.readouterr().out

    def unfinished(*args):
        raise NotImplementedError

    assert selfcheck.check_elbo(unfinished, R.reconstruct, R.kl_divergence, R.binary_cross_entropy) is None
    assert "not done yet" in capsys.readouterr().out
    assert selfcheck.check_reconstruct(lambda vae, x: (*vae.encoder(x), vae.decoder(vae.encoder(x)[0]))) is False
    assert "fresh noise" in capsys.readouterr().out


def test_loglik_check_is_784_pixels_wide_so_hard_coding_784_passes(capsys):
    _, _, x_hat, x = selfcheck._self_check_inputs()
    assert x_hat.shape[1] == 784 and x.shape[1] == 784

    def hard_coded(x_hat, x):
        return (x.view(-1, 784) * x_hat.view(-1, 784).log()
                + (1 - x.view(-1, 784)) * (1 - x_hat.view(-1, 784)).log()).sum() / x.shape[0]
    assert selfcheck.check_binary_cross_entropy(hard_coded)


def test_a_loss_written_without_the_helpers_is_not_verified_never_failed(capsys):
    """pytorch/examples' form: one loss function, reduction='sum', divided by the batch size."""
    import torch.nn.functional as F
    namespace = {"torch": torch, "F": F}
    exec("def elbo(vae, x):\n"
         "    mu, logvar = vae.encoder(x)\n"
         "    std = torch.exp(0.5 * logvar)\n"
         "    x_hat = vae.decoder(mu + torch.randn_like(std) * std)\n"
         "    BCE = F.binary_cross_entropy(x_hat, x, reduction='sum')\n"
         "    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())\n"
         "    return (BCE + KLD) / x.shape[0]\n", namespace)
    wrong_kl = lambda mu, logvar: mu.sum()  # noqa: E731 - a helper the loss does not use
    assert selfcheck.check_elbo(namespace["elbo"], R.reconstruct, wrong_kl, R.binary_cross_entropy) is not False
    assert selfcheck.UNVERIFIED in capsys.readouterr().out
    # with correct helpers the same seed gives the same value: verified
    assert selfcheck.check_elbo(namespace["elbo"], R.reconstruct, R.kl_divergence, R.binary_cross_entropy) is True


def test_a_traceback_names_the_code_cell_as_a_student_sees_it():
    """Position among the code cells and the cell's first line, never the index among all cells."""
    from worker import loader
    ns = {}
    cells = [("cell 3", "import math"), ("cell 7", "\ndef kl_divergence(mu, logvar):\n    return undefined + mu")]
    report = loader.load(cells, ns)
    assert report.skips == []
    with pytest.raises(NameError) as raised:
        ns["kl_divergence"](1, 2)
    trace = loader.student_traceback(raised.value)
    assert '"<submission code cell 2: def kl_divergence(mu, logvar):>", line 3' in trace
    assert "cell 7" not in trace
    assert loader.cell_filename("line 120", 4, "x = 1") == "<submission line 120>"   # a .py export


def test_q3_trains_with_one_thread_and_restores_the_count():
    from reference import q3_networks as q3
    seen = []
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        X, labels = q3.two_sinusoids(16)
        q3.train_classifier(q3.make_classifier("relu", 1, 2), X, labels, epochs=1,
                            on_epoch=lambda epoch, net: seen.append(torch.get_num_threads()))
        assert seen == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_self_check_errors_are_one_line(tmp_path):
    from selfcheck.cli import CheckError, check
    with pytest.raises(CheckError, match="no such file"):
        check(tmp_path / "missing.ipynb")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(CheckError, match="expected your notebook"):
        check(tmp_path / "notes.txt")
    (tmp_path / "broken.ipynb").write_text("{not json")
    with pytest.raises(CheckError, match="not a Jupyter notebook"):
        check(tmp_path / "broken.ipynb", tmp_path)


def test_marks_print_as_the_contract_writes_them():
    from selfcheck.report import check_line, marks
    from selfcheck.results import CheckResult
    assert [marks(m) for m in (3, 0.5, 3.75, 1.25, 40.0)] == ["3", "0.5", "3.75", "1.25", "40"]
    line = check_line(CheckResult("value", "value on fixed inputs", 3, "fail", "7.00457 for inputs of shape (3, 10)",
                                  "14.0091", "your value has no factor 1/2"))
    assert line == ("✘ value on fixed inputs: lost 3 of 3; expected 7.00457 for inputs of shape (3, 10); got 14.0091. "
                    "Hint: your value has no factor 1/2")


def test_a_check_the_grader_adds_is_shown_as_not_checked_here():
    """The registry's marks travel in the data; a check key the self-check does not know (say a seed check
    added to the training items) costs nothing here and keeps the item's marks summing up."""
    from selfcheck.verdicts import judge
    item = {"id": "q4.train", "function": "train_mnist_vae", "kind": "train", "conditional": False, "args": [],
            "marks": 10, "checks": [["layout", 2], ["args", 1.5], ["seed", 0.5], ["learns", 6]], "time_limit": 60}
    train = {"rows": 1000, "budget": {"epochs": 2, "batch_size": 100}, "steps": [20], "lr": 1e-3,
             "shapes": {"vae": {}}, "structure": {"features": [], "decoder": []}}
    verdict = judge(item, {}, {"probe": {"steps": 20, "data_calls": ["train"], "optimizers": []}}, {},
                    {"train": train})
    seed = next(c for c in verdict.checks if c.key == "seed")
    assert seed.state == "not_here" and seed.marks == 0.5
    assert sum(c.marks for c in verdict.checks) == 10


def test_non_finite_training_losses_are_stated_without_a_guessed_cause():
    """The self-check trains with squared-error stand-ins, so a NaN loss is no log(0) and no guess names one."""
    from selfcheck.training import judge_training
    item = {"checks": [["layout", 2], ["args", 1.5], ["seed", 0.5], ["learns", 6]], "conditional": False}
    train = {"budget": {"epochs": 2, "batch_size": 100}, "steps": [20], "lr": 1e-3, "shapes": {"vae": {}},
             "structure": {"features": [], "decoder": []}}
    meta = {"steps": 20, "data_calls": ["train"], "optimizers": [], "losses": [3.0, 2.0, float("inf"), float("nan")]}
    _, notes = judge_training(item, {}, meta, train)
    assert notes == ["2 of 4 recorded training losses were NaN or inf (the first at step 3); the self-check trains "
                     "with squared-error stand-ins for your loss functions, so no log of 0 in them is the cause: the "
                     "model's own outputs grew without bound or stopped being finite during training"]
    assert judge_training(item, {}, dict(meta, losses=[3.0, 2.0]), train)[1] == []
