"""Prove the graders on known submissions: the reference, the released template and the catalogue."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from graders.batch import runner as batch
from graders.proof import catalogue
from graders.intake import discover
from graders.grading import pipeline
from graders.items import AUTO_MAX
from reference.notebook import solution_notebook, template_notebook

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from graders.results import SubmissionResult


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def write_batch(folder: str | Path, cases: Iterable[catalogue.Case] = catalogue.CASES) -> dict[str, str]:
    """Write the reference, the template and every case into ``folder``; returns ``{id: expectation}``.

    An expectation is ``"full"``, ``"zero"`` or the item id a mutant must lose marks on.
    """
    folder = Path(folder)
    nbformat.write(solution_notebook(), folder / "reference.ipynb")
    nbformat.write(template_notebook(), folder / "template.ipynb")
    expected = {"reference": "full", "template": "zero"}
    for case in cases:
        sub_id = ("mutant-" if case.is_mutant else "variant-") + slug(case.name)
        (folder / f"{sub_id}.py").write_text(catalogue.case_source(case))
        expected[sub_id] = case.item or "full"
    return expected


def problems(expectation: str, result: SubmissionResult) -> list[str]:
    """Why ``result`` misses ``expectation`` (empty when it meets it)."""
    items = result.items
    if expectation == "full":
        return [f"{k} got {v.awarded:g}/{v.max:g}: {v.messages[:1]}" for k, v in items.items() if v.awarded != v.max]
    if expectation == "zero":
        return [f"{k} got {v.awarded:g}" for k, v in items.items() if v.awarded != 0]
    found = []
    if items[expectation].awarded >= items[expectation].max:
        found.append(f"{expectation} kept full marks")
    found += [f"{k} also lost marks: {v.messages[:1]}" for k, v in items.items()
              if k != expectation and v.awarded != v.max]
    return found


def grade_batch(folder: str | Path, workers: int, settings: pipeline.Settings | None = None) -> dict[str, SubmissionResult]:
    run = pipeline.Run.prepare(settings or pipeline.Settings(workers=workers))
    try:
        with tempfile.TemporaryDirectory() as scratch:
            subs = discover.discover(folder, Path(scratch))
            return {r.id: r for r in batch.grade_all(run, subs)}
    finally:
        run.close()


def sample_cases(cases: Iterable[catalogue.Case], k: int | None) -> list[catalogue.Case]:
    """``k`` of ``cases`` in catalogue order (all of them when ``k`` is None): the first and the last, the
    first mistake of every item and the first correct variant, then the rest spread evenly over it."""
    cases = list(cases)
    if k is None or k >= len(cases):
        return cases
    first_of: dict[object, int] = {}
    for index, case in enumerate(cases):
        first_of.setdefault(case.item if case.is_mutant else "variant", index)
    chosen = ({0, len(cases) - 1} | set(first_of.values())) if k > 1 else {0}
    spread = [round(i * (len(cases) - 1) / max(1, k - 1)) for i in range(k)]
    for index in spread + list(range(len(cases))):
        if len(chosen) >= k:
            break
        chosen.add(index)
    return [cases[i] for i in sorted(chosen)][:k] if k > 0 else []


def validate(workers: int = 1, echo: Callable[[str], object] = print, repeat: int = 1, sample: int | None = None) -> bool:
    """Grade everything (or the reference, the template and ``sample`` cases spread over the catalogue)
    ``repeat`` times; print one line per case; True when every expectation holds and every run gave the
    same marks."""
    with tempfile.TemporaryDirectory(prefix="a4-validate-") as folder:
        expected = write_batch(folder, sample_cases(catalogue.CASES, sample))
        runs = [grade_batch(folder, workers) for _ in range(repeat)]
    results = runs[0]
    failures = 0
    for sub_id in expected:
        marks = [{k: v.awarded for k, v in run[sub_id].items.items()} for run in runs]
        if any(m != marks[0] for m in marks[1:]):
            failures += 1
            echo(f"BAD {sub_id}: marks differ between runs: {marks}")
    for sub_id, expectation in expected.items():
        result = results[sub_id]
        found = problems(expectation, result)
        failures += bool(found)
        lost = f"{AUTO_MAX - result.auto_awarded:g} lost" if expectation not in ("full", "zero") else ""
        echo(f"{'ok ' if not found else 'BAD'} {sub_id:<58} {result.auto_awarded:>5g}/{AUTO_MAX:g} {lost}")
        for problem in found:
            echo(f"      {problem}")
    mutants = sum(1 for e in expected.values() if e not in ("full", "zero"))
    echo(f"{len(expected) - failures}/{len(expected)} expectations hold ({mutants} mutants, "
         f"{len(expected) - mutants - 2} correct variants, reference, template)"
         + (f"; marks identical over {repeat} runs" if repeat > 1 and not failures else ""))
    return failures == 0
