"""Judging ``train_mnist_vae`` and ``train_mnist_cvae``: the returned model's layout, "follows args" on the
graded run and on short probe runs that differ from it in every field the grader varies, the seed (same
seed, same weights; another seed, other weights), the held-out loss against the reference trained under
the same budget and, for the CVAE, the labels' effect.

Every message states what was measured; a cause is named only where the counts show it (e.g. the
learning rate the optimizer really used, the rows per minibatch, labels paired with their own images).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

import torch

from graders.judge import baselines as training
from graders.judge.childdata import View, clean_text
from graders.judge.evidence import probe_facts, scaled
from graders.results import Check, ItemResult

if TYPE_CHECKING:
    from graders.items import AutoItem
    from graders.judge.evidence import Context, Outcome

ARGS_HINT = ("use args = MNISTArgs(**kwargs) for every setting, get_mnist_data() (the train split) for the data, "
             "torch.optim.Adam(model.parameters(), lr=args.lr) with no scheduler or weight decay, and one optimizer "
             "step per minibatch of args.batch_size rows, args.epochs times over the data (evaluation passes on "
             "other splits are fine, without steps)")
ARG_FIXES = {"lr": "pass lr=args.lr to Adam", "batch_size": "take minibatches of args.batch_size rows",
             "epochs": "make args.epochs passes over the data"}
INTERFERED_HINT = "step counting was interfered with: leave torch's optimizer machinery alone"


def _args_text(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in kwargs.items())


def _optimizer_problems(optimizers: list[View], lr: float) -> list[str]:
    """What differs from the contract's ``Adam(lr)`` (a fixed lr = args.lr, no weight decay)."""
    problems = []
    for o in optimizers:
        name = o.text("class", "?", limit=60)
        lr_min, lr_max = o.number("lr_min"), o.number("lr_max")
        decay = o.number("weight_decay", 0.0)
        if name != "Adam":
            problems.append(f"another optimizer ({name}): the contract trains with Adam(lr)")
        if decay:
            problems.append(f"weight_decay={decay:g}: the contract's Adam(lr) has none")
        if lr_min is None or lr_max is None:
            problems.append("an optimizer without a readable learning rate")
        elif abs(lr_max - lr_min) > 1e-12:
            problems.append(f"the learning rate changed during training ({lr_max:g} down to {lr_min:g}: a "
                            "scheduler?): the contract's Adam(lr) keeps lr = args.lr")
        elif abs(lr_max - lr) > 1e-12 * max(1.0, lr):
            problems.append(f"lr: called with lr={lr:g} it trained with lr={lr_max:g}")
    return problems


def _step_problems(counts: View, n: int, kwargs: dict[str, Any], steps: int) -> list[str]:
    """Why ``steps`` optimizer steps do not fit ``kwargs`` on ``n`` training rows, naming the argument when
    the rows seen by the grader's loss show it (passes over the data, rows per minibatch)."""
    expected = training.expected_steps(n, kwargs)
    if steps in expected:
        return []
    args = training.run_args(kwargs)
    backward, rows, train_rows = (counts.integer(k, 0, 0) for k in ("backward", "rows", "train_rows"))
    named = []
    if backward and n and train_rows == rows:
        passes, per_batch = train_rows / n, rows / backward
        batch_means = {n / math.ceil(n / args["batch_size"]), n / max(1, n // args["batch_size"])}
        if abs(passes - round(passes)) < 1e-6 and round(passes) != args["epochs"]:
            named.append(f"epochs: called with epochs={args['epochs']} it made {round(passes)} passes over the data")
        if all(abs(per_batch - m) > 0.5 for m in batch_means):
            named.append(f"batch_size: called with batch_size={args['batch_size']} its minibatches held "
                         f"{per_batch:.0f} rows on average")
    return named or [f"{steps} optimizer steps for {_args_text(kwargs)} (expected "
                     f"{' or '.join(str(s) for s in sorted(expected))})"]


def _run_problems(run: View, n: int, kwargs: dict[str, Any], main: bool) -> tuple[list[str], list[str], int]:
    """``(problems, interference reasons, steps)`` of one run's facts (``probe_training``'s meta)."""
    counts = run.view("counts")
    hook_steps, adam_steps = counts.integer("hook_steps", 0, 0), counts.integer("adam_steps", 0, 0)
    backward, rows, train_rows = (counts.integer(k, 0, 0) for k in ("backward", "rows", "train_rows"))
    steps = max(hook_steps, adam_steps)
    interfered = []
    if "counts" not in run:
        interfered.append("the training probe sent back no step counts")
    elif not counts.flag("hook_intact", False):
        interfered.append("torch's optimizer hooks were removed during training")
    if hook_steps < adam_steps:
        interfered.append(f"the optimizer hooks saw {hook_steps} of {adam_steps} Adam steps")
    problems = []
    data_calls = run.texts("data_calls", cap=64, limit=20)
    if main and "train" not in data_calls:
        problems.append("get_mnist_data() never called for the train split" if not data_calls else
                        f"get_mnist_data called for {sorted(set(data_calls))[:4]}, never for the train split")
    problems += _step_problems(counts, n, kwargs, steps)
    problems += _optimizer_problems(counts.views("optimizers", cap=16), training.run_args(kwargs)["lr"])
    if backward > steps > 0:
        problems.append(f"{backward} backward passes through the loss for {steps} optimizer steps")
    if main and backward and rows and train_rows < 0.99 * rows:
        problems.append(f"{rows - train_rows} of the {rows} rows trained on are not from get_mnist_data('train')")
    return problems, interfered, steps


def _args_check(item: AutoItem, meta: View, context: Context, marks: float) -> tuple[Check, list[str], int]:
    """``(Check, interference reasons, steps of the graded run)`` for "follows args": the graded run and
    every probe run (the judge's own plan: the child's word for the arguments is not used)."""
    n = len(context.inputs[item.id]["X"])   # the judge's own training split, not the child's word
    plan = training.plan(context.public)
    problems, interfered, steps = _run_problems(meta, n, plan.budget, True)
    runs = meta.views("runs", cap=len(plan.probes))
    for index, kwargs in enumerate(plan.probes):
        run = runs[index] if index < len(runs) else View({})
        if "error" in run or "counts" not in run:
            why = run.text("error", "it sent back nothing", limit=200)
            problems.append(f"a short run with {_args_text(kwargs)} failed: {why}")
            continue
        found, _, _ = _run_problems(run, min(n, plan.probe_rows), kwargs, False)
        problems += [p if p.split(":")[0] in ("lr", "epochs", "batch_size") else f"with {_args_text(kwargs)}: {p}"
                     for p in found if p not in problems]
    named: dict[str, str] = {}
    for problem in problems:  # the first sentence per argument it names (each names its run's value)
        key = problem.split(":")[0] if problem.split(":")[0] in ARG_FIXES else problem
        named.setdefault(key, problem)
    problems = interfered + sorted(named.values(), key=lambda p: p.split(":")[0] not in ARG_FIXES)
    fixes = [fix for arg, fix in ARG_FIXES.items() if arg in named]
    ok = not problems
    graded = plan.budget
    expected = (f"{' or '.join(str(s) for s in sorted(training.expected_steps(n, graded)))} steps of Adam(lr=0.001) on "
                f"the train split for {_args_text(graded)}, and the steps, lr and minibatches of each short run "
                f"({_args_text(plan.probes[0])})")
    check = Check("follows args: epochs, batch_size, Adam(lr), data from get_mnist_data()", marks,
                  marks if ok else 0, ok, expected, "; ".join(problems[:4]),
                  "" if ok else INTERFERED_HINT if interfered else "; ".join(fixes) if fixes else ARGS_HINT)
    return check, interfered, steps


def _states_of(tensors: dict[str, torch.Tensor], count: int) -> list[dict[str, torch.Tensor]]:
    """The graded run's state dict and each probe run's (``run<i>/state/...``; empty when none came back)."""
    runs = []
    for index in range(count):
        prefix = f"run{index}/"
        runs.append(training.state_dict_of({k[len(prefix):]: v for k, v in tensors.items()
                                            if k.startswith(prefix) and isinstance(v, torch.Tensor)}))
    return runs


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool | None:
    """True, False, or None when the two state dicts cannot be compared (names, shapes or dtypes differ)."""
    if not a or set(a) != set(b) or any(a[k].shape != b[k].shape or a[k].dtype != b[k].dtype for k in a):
        return None
    if not all(a[k].is_floating_point() or a[k].dtype in (torch.int64, torch.int32) for k in a):
        return None
    largest = max((float((a[k].double() - b[k].double()).abs().max()) if a[k].numel() else 0.0) for k in a)
    return largest <= 1e-6 if largest <= 1e-6 or largest > 1e-4 else None


def _seed_check(tensors: dict[str, torch.Tensor], context: Context, marks: float, kind: str) -> Check:
    """Same seed, same weights; another seed (all else equal), other weights: from the plan's probe runs."""
    plan = training.plan(context.public)
    states = _states_of(tensors, len(plan.probes))
    name = "seeds torch with args.seed: same seed, same weights; another seed, other weights"
    fix = "seed torch with args.seed before building the model (call torch.manual_seed with it when it is above 0)"
    pairs = [(i, j) for i in range(len(plan.probes)) for j in range(i + 1, len(plan.probes))]
    missing = [i for i in range(len(plan.probes)) if not states[i]]
    problems = ([f"no weights came back from {len(missing)} of the {len(plan.probes)} short runs (seeds "
                 f"{', '.join(str(plan.probes[i]['seed']) for i in missing)}): see 'follows args'"] if missing else [])
    for i, j in pairs:
        a, b = plan.probes[i], plan.probes[j]
        if i in missing or j in missing or ({k: v for k, v in a.items() if k != "seed"}
                                            != {k: v for k, v in b.items() if k != "seed"}):
            continue
        same = _same_weights(states[i], states[j])
        if same is None:
            problems.append(f"the weights of two short runs with seed={a['seed']} and seed={b['seed']} could not be "
                            "compared")
        elif a["seed"] == b["seed"] and not same:
            problems.append(f"two {kind} runs with the same seed={a['seed']} (all else equal) returned different weights")
        elif a["seed"] != b["seed"] and same:
            problems.append(f"runs with seed={a['seed']} and seed={b['seed']} (all else equal) returned identical "
                            "weights: the trainer ignores args.seed")
    ok = not problems
    return Check(name, marks, marks if ok else 0, ok, "the weights follow args.seed", "; ".join(dict.fromkeys(problems)),
                 "" if ok else fix)


def _layout(conditional: bool, state: dict[str, torch.Tensor], meta: View) -> tuple[str, list[str], dict[str, Any]]:
    """``(Check-less facts)``: the state's layout problem, the structure's problems and the shown structure."""
    shape_reason = (training.layout_problem(conditional, state) if state
                    else f"returned {meta.text('returned', 'nothing', limit=80)}")
    structure = meta.view("structure")
    shown = {"features": structure.texts("features", cap=32, limit=60),
             "decoder": structure.texts("decoder", cap=32, limit=60),
             "mu": structure.text("mu", limit=60), "logvar": structure.text("logvar", limit=60),
             "decoder_type": structure.text("decoder_type", limit=60),
             "decoder_range": structure.numbers("decoder_range", cap=2)[0]}
    structure_wrong = training.structure_problems(shown) if state and "structure" in meta else []
    return shape_reason, structure_wrong, shown


def _learning_checks(item: AutoItem, model: torch.nn.Module, context: Context, marks: dict[str, float], cause: str,
                     structure_wrong: list[str], labels: tuple[int, int]) -> tuple[list[Check], dict[str, Any]]:
    """``(checks, details)``: held-out loss against the reference and, for the CVAE, the labels' effect.
    ``cause``: what the training run's own record shows went wrong ("" when nothing does), the hint of a
    model that learned too little."""
    baseline = cast("training.ReferenceBaselines", context.baselines).get(item.conditional)
    hx, hy = cast("tuple[torch.Tensor, torch.Tensor]", context.held_out)
    score = held_out_loss_safe(model, item.conditional, hx, hy)
    details = {"held_out": score if math.isfinite(score) else None, "reference_held_out": baseline.trained,
               "untrained_held_out": baseline.untrained}
    share = (baseline.untrained - score) / (baseline.untrained - baseline.trained)
    learn = marks["learns"]
    awarded = learn if share >= training.FULL_SHARE else (learn / 2 if share >= training.PARTIAL_SHARE else 0)
    if structure_wrong:
        hint = (f"your model's structure differs from the table ({structure_wrong[0]}), charged on the layout "
                "check; this check scored your weights with your own activations")
    else:
        hint = cause
    checks = [Check("learns: held-out loss (nats per image) under the grading budget", learn, awarded,
                    awarded == learn,
                    f"<= {baseline.trained + (1 - training.FULL_SHARE) * (baseline.untrained - baseline.trained):.1f} "
                    f"(reference {baseline.trained:.1f}, untrained {baseline.untrained:.1f})",
                    f"{score:.1f}" if math.isfinite(score) else "not a finite loss", "" if awarded == learn else hint)]
    if item.conditional:
        gap = held_out_loss_safe(model, True, hx, training.wrong_labels(hy)) - score
        gap = gap if math.isfinite(gap) else float("-inf")
        details.update(label_gap=gap if math.isfinite(gap) else None, reference_label_gap=baseline.wrong_label_gap)
        own = min(max(share, 0.0), 1.0) if math.isfinite(share) else 0.0
        need = training.LABEL_GAP_SHARE * baseline.wrong_label_gap * own
        misaligned = bool(labels[0]) and labels[1] < labels[0]   # rows sent with another image's label
        uses = gap >= need or (own < training.LABEL_JUDGED_SHARE and not misaligned)
        expected = (f">= {need:.1f} nats ({training.LABEL_GAP_SHARE:.0%} of the reference's "
                    f"{baseline.wrong_label_gap:.1f}, scaled by the {own:.0%} of its improvement your model made)")
        checks.append(Check("uses the labels: wrong labels raise the held-out loss", marks["labels"],
                            marks["labels"] if uses else 0, uses, expected, f"{gap:.1f} nats",
                            "" if uses else _labels_hint(labels, share, hint)))
    return checks, details


def _labels_hint(labels: tuple[int, int], share: float, learns_hint: str) -> str:
    """What the training batches show about the labels (``labelled``, ``aligned`` rows), or ""."""
    labelled, aligned = labels
    if labelled and aligned < labelled:
        return (f"{labelled - aligned} of the {labelled} training rows went to the loss with another image's label: "
                "keep x and y aligned (index both with the same rows when shuffling)")
    if labelled and share < training.PARTIAL_SHARE:
        return (f"every training row went to the loss with its own label ({labelled} rows); the model learned "
                f"{max(share, 0):.0%} of the reference's improvement (see 'learns'), too little to use them")
    return learns_hint if learns_hint.startswith("your model's structure") else ""


def held_out_loss_safe(model: torch.nn.Module, conditional: bool, X: torch.Tensor, Y: torch.Tensor) -> float:
    value = training.held_out_loss(model, conditional, X, Y)
    return value if math.isfinite(value) else float("inf")


def _gradients_cause(counts: View) -> tuple[str, str]:
    """``(fact, fix)`` when most optimizer steps the probe told apart (``worker.gradients.GradientWatch``, at
    least 3) found the earlier steps' gradients still in ``p.grad``, or found it cleared after ``backward``;
    else ``("", "")``."""
    grads = counts.view("gradients")
    compared, kept, zeroed = (grads.integer(k, 0, 0) for k in ("compared", "kept", "zeroed"))
    if compared >= 3 and kept * 2 >= compared:
        return (f"the gradients were not cleared between optimizer steps (at {kept} of {compared} steps p.grad "
                "still held the earlier steps' gradients)", "so those steps followed the sum of all gradients so far: "
                "call optimizer.zero_grad() before each loss.backward()")
    if compared >= 3 and zeroed * 2 >= compared:
        return (f"the gradients were cleared between loss.backward() and optimizer.step() (at {zeroed} of {compared} "
                "steps every gradient was empty or zero when the optimizer stepped)", "so those steps used none: call "
                "optimizer.zero_grad() before loss.backward(), not after it")
    return "", ""


def _outputs_leave_unit_interval(shown: dict[str, Any], meta: View) -> str:
    """A sentence when the run's losses were the student's own (the self-check; graded runs put a logits
    decoder's outputs through a sigmoid first) and the decoder's measured outputs (on random z) leave
    [0, 1], where the log-likelihood's logs are not finite; else ""."""
    span = shown.get("decoder_range") or []
    if meta.flag("grader_losses") or len(span) != 2 or None in span or (span[0] >= 0.0 and span[1] <= 1.0):
        return ""
    ends = (shown.get("decoder") or ["?"])[-1]
    return (f"your decoder's outputs range over [{span[0]:.3g}, {span[1]:.3g}] (it ends in {ends}, not Sigmoid), "
            "and log(x_hat), log(1 - x_hat) are not finite outside (0, 1)")


def _losses_notes(meta: View, causes: list[str]) -> tuple[dict[str, Any], list[str]]:
    """``(details, notes)`` of the recorded training losses: how many were left out or were not finite, the
    first non-finite step, and the ``causes`` the run's record shows (none guessed)."""
    losses, dropped = meta.numbers("losses")
    nonfinite = sum(1 for v in losses if v is None)
    details = {"seconds": meta.number("seconds"), "losses": [v for v in losses if v is not None]}  # finite only
    notes = []
    if nonfinite:
        details["nonfinite_losses"] = nonfinite
    if dropped:
        notes.append(f"{dropped} recorded training losses were not numbers and were left out")
    if nonfinite:
        first = next(i for i, v in enumerate(losses) if v is None)
        because = f": {'; '.join(causes)}" if causes else ""
        notes.append(f"{nonfinite} of {len(losses)} recorded training losses were NaN or inf (the first at step "
                     f"{first + 1}){because}")
    return details, notes


def judge_training(item: AutoItem, outcome: Outcome, context: Context) -> ItemResult:
    """``_judge_training``'s result with its notes (non-finite losses ...) also among the messages, so
    every report shows them, unless a message already says the same."""
    result = _judge_training(item, outcome, context)
    result.messages += [f"note: {n}" for n in result.notes if not any(n in m for m in result.messages)]
    return result


def _judge_training(item: AutoItem, outcome: Outcome, context: Context) -> ItemResult:
    """Layout and structure of the returned model, "follows args" (graded and probe runs), the seed,
    held-out loss against the reference (and, for the CVAE, the labels' effect)."""
    marks = dict(item.checks)
    t, meta = outcome.tensors, probe_facts(outcome)
    state = training.state_dict_of({k: v for k, v in t.items() if isinstance(v, torch.Tensor)})
    shape_reason, structure_wrong, shown = _layout(item.conditional, state, meta)
    counts = meta.view("counts")
    cause, fix = _gradients_cause(counts)
    details, notes = _losses_notes(meta, [c for c in (cause, _outputs_leave_unit_interval(shown, meta)) if c])
    if cause:
        cause += f", {fix}"
    elif "nonfinite_losses" in details:
        cause = notes[-1]
    if "structure" in meta:
        details["structure"] = {k: shown[k] for k in ("features", "decoder", "mu", "logvar")}
    kind = "CVAE" if item.conditional else "VAE"
    layout_ok = not shape_reason and not structure_wrong
    checks = [Check(f"returns a {kind} of the contract's layout", marks["layout"], marks["layout"] if layout_ok else 0,
                    layout_ok, f"the {kind} layout of the handout's table (Linear, Tanh; decoder Linear, Tanh, "
                    "Linear, Sigmoid)", "; ".join(([shape_reason] if shape_reason else []) + structure_wrong[:3]),
                    "" if layout_ok else "return the trained model, built with Encoder and nn.Sequential exactly as "
                                         "in the table, activations included")]
    args_check, interfered, steps = _args_check(item, meta, context, marks["args"])
    checks += [args_check, _seed_check(t, context, marks["seed"], kind)]
    flags = []
    if context.public:
        if interfered:
            flags.append(f"{item.id}: step counting was interfered with")
        return ItemResult.from_checks(item.marks, scaled(item, checks), details, notes=notes, flags=flags)
    model = None
    if not shape_reason:
        try:
            model = training.load_state(item.conditional, state, shown if structure_wrong else None)
        except Exception as error:  # noqa: BLE001 - names and shapes fit, but e.g. a dtype does not
            shape_reason = clean_text(f"its weights could not be loaded ({type(error).__name__})")
    if model is None:
        why = f"no model to score ({shape_reason})"
        checks.append(Check("learns: held-out loss", marks["learns"], 0, False, "a trained model", why))
        if item.conditional:
            checks.append(Check("uses the labels", marks["labels"], 0, False, "a trained model", why))
        return ItemResult.from_checks(item.marks, checks, details, notes=notes,
                                      flags=[f"{item.id}: step counting was interfered with"] if interfered else [])
    labels = (counts.integer("labelled_rows", 0, 0), counts.integer("aligned_rows", 0, 0))
    learning, scores = _learning_checks(item, model, context, marks, cause, structure_wrong, labels)
    details.update(scores)
    share_ok = learning[0].awarded > 0
    if steps == 0 and share_ok:
        interfered.append("the model learned but no optimizer step was counted")
        checks[1] = Check(args_check.name, args_check.marks, 0, False, args_check.expected,
                          "; ".join(interfered), INTERFERED_HINT)
    if interfered:
        flags.append(f"{item.id}: step counting was interfered with ({interfered[0]})")
    return ItemResult.from_checks(item.marks, checks + learning, details, notes=notes, flags=flags)
