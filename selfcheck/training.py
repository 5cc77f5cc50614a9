"""The training items' public checks: the returned model's layout and whether training follows args.

What the model learned ("learns", "uses the labels") is never judged here: the grader trains
the student's function itself on its own images and scores it. Expected shapes, the table's
module types, the budget and its step counts come from ``expected.json``.
"""
import math

from selfcheck.results import CheckResult

NAMES = {"args": "follows args: epochs, batch_size, Adam(lr), data from get_mnist_data()",
         "learns": "learns: held-out loss (nats per image) under the grading budget",
         "labels": "uses the labels: wrong labels raise the held-out loss"}
NOT_HERE = "not checked here: the grader trains your function itself and scores what it learned"


def _layout_problems(conditional: bool, t: dict, meta: dict, train: dict) -> list[str]:
    state = {k[len("state/"):]: list(v.shape) for k, v in t.items() if k.startswith("state/")}
    if not state:
        return [f"returned {meta.get('returned', 'nothing')}"]
    expected = train["shapes"]["cvae" if conditional else "vae"]
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    shapes = sorted(k for k in set(expected) & set(state) if expected[k] != state[k])
    problems = [f"missing {missing[:4]}" if missing else "", f"unexpected {unexpected[:4]}" if unexpected else "",
                "shape of " + ", ".join(f"{k} {state[k]} (expected {expected[k]})" for k in shapes[:3]) if shapes else ""]
    structure, table = meta.get("structure", {}), train["structure"]
    for part, where in (("features", "encoder.features"), ("decoder", "decoder")):
        got = list(structure.get(part) or [])
        if structure and got != table[part]:
            problems.append(f"{where} is {', '.join(got[:8]) or 'empty'}: the table's {where} is {', '.join(table[part])}")
    return [p for p in problems if p]


def _args_problems(t: dict, meta: dict, train: dict) -> list[str]:
    problems, steps = [], int(meta.get("steps", 0))
    data_calls = meta.get("data_calls", [])
    if "train" not in data_calls:
        problems.append("get_mnist_data() never called for the train split" if not data_calls else
                        f"get_mnist_data called for {sorted(set(data_calls))[:4]}, never for the train split")
    if steps not in train["steps"]:
        problems.append(f"{steps} optimizer steps")
    for o in meta.get("optimizers", []):
        if o.get("class") != "Adam":
            problems.append(f"another optimizer ({o.get('class')}): the contract trains with Adam(lr)")
        if o.get("weight_decay"):
            problems.append(f"weight_decay={o['weight_decay']:g}: the contract's Adam(lr) has none")
        low, high = o.get("lr_min"), o.get("lr_max")
        if not (isinstance(low, float) and isinstance(high, float) and math.isfinite(low) and math.isfinite(high)):
            problems.append("an optimizer without a readable learning rate")
        elif abs(high - low) > 1e-12:
            problems.append(f"the learning rate changed during training ({high:g} down to {low:g}: a scheduler?): the "
                            "contract's Adam(lr) keeps lr = args.lr")
        elif abs(high - train["lr"]) > 1e-12:
            problems.append(f"lr={high:g} instead of args.lr = {train['lr']:g}")
    return problems


def judge_training(item: dict, t: dict, meta: dict, train: dict) -> tuple[list, list]:
    """``(checks, notes)``: layout and "follows args" judged; the learning checks shown as not checked here."""
    marks, conditional = dict(item["checks"]), item["conditional"]
    kind = "CVAE" if conditional else "VAE"
    layout = _layout_problems(conditional, t, meta, train)
    checks = [CheckResult("layout", f"returns a {kind} of the contract's layout", marks["layout"],
                          "fail" if layout else "pass",
                          f"the {kind} layout of the handout's table (Linear, Tanh; decoder Linear, Tanh, Linear, "
                          "Sigmoid)" if layout else "", "; ".join(layout),
                          "return the trained model, built with Encoder and nn.Sequential exactly as in the table, "
                          "activations included" if layout else "")]
    args = _args_problems(t, meta, train)
    budget = train["budget"]
    checks.append(CheckResult("args", NAMES["args"], marks["args"], "fail" if args else "pass",
                              f"{' or '.join(str(s) for s in sorted(train['steps']))} steps of Adam(lr={train['lr']:g}) "
                              f"on the train split for epochs={budget['epochs']}, batch_size={budget['batch_size']}"
                              if args else "", "; ".join(args[:4]),
                              "use args = MNISTArgs(**kwargs) for every setting, get_mnist_data() (the train split) "
                              "for the data, torch.optim.Adam(model.parameters(), lr=args.lr) with no scheduler or "
                              "weight decay, and one optimizer step per minibatch" if args else ""))
    for key in ("learns", "labels"):
        if key in marks:   # any other check of the grader's is added by ``verdicts.judge`` as not checked here
            checks.append(CheckResult(key, NAMES[key], marks[key], "not_here", hint=NOT_HERE))
    losses = [v for v in meta.get("losses", []) if isinstance(v, float)]
    notes = []
    bad = [i for i, v in enumerate(losses) if not math.isfinite(v)]
    if bad:   # the stand-ins are squared errors, finite for finite weights: no log(0) can be the cause here
        notes.append(f"{len(bad)} of {len(losses)} recorded training losses were NaN or inf (the first at step "
                     f"{bad[0] + 1}); the self-check trains with squared-error stand-ins for your loss functions, "
                     "so no log of 0 in them is the cause: the model's own outputs grew without bound or stopped being finite "
                     "during training")
    return checks, notes
