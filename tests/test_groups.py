"""Answer groups (``graders.marking.groups``): blank, same text, same final expression by SymPy."""
import pytest

from graders.marking import groups

Q1B = {
    "ann": r"By the triangle inequality, $\tilde L = L + \frac{\lambda}{n}$.",
    "bo": "L̃ = L + λ/n",
    "chen": r"So $\tilde{L} = \frac{\lambda}{n} + L$.",
    "dara": r"$$\tilde L = L + \lambda n^{-1}$$",
    "eve": r"Using (a), $\tilde L = 1 + \frac{\lambda}{n}$",
    "fay": "",
    "gus": "   ",
    "hal": r"By the triangle inequality,   $\tilde L = L + \dfrac{\lambda}{n}$ .",
    "ivo": r"$\tilde L = L \cdot \frac{\lambda}{n}$",
}


def _by_kind(found):
    return {(g.kind, tuple(g.students)) for g in found}


def test_blank_identical_and_equal_expressions_are_grouped():
    found = groups.group_answers("q1b", Q1B, pdf_pages={"gus": [3]})
    assert _by_kind(found) == {
        ("blank", ("fay",)),                                        # gus answered in the PDF: not blank
        ("same result", ("ann", "bo", "chen", "dara", "hal")),      # L + λ/n, however written
        ("same text", ("ann", "hal")),                              # spacing and \dfrac aside, the same text
    }
    assert found[0].kind == "blank" and found[1].label == r"final expression L + \frac{\lambda}{n}"


def test_a_different_expression_is_never_grouped_with_the_answer():
    found = groups.group_answers("q1b", {"a": r"$L + \frac{\lambda}{n}$", "b": r"$L \frac{\lambda}{n}$",
                                         "c": r"$1 + \frac{\lambda}{n}$", "d": r"$1+\lambda/n$"})
    assert _by_kind(found) == {("same result", ("c", "d"))}


@pytest.mark.parametrize("latex, expected", [
    (r"\sqrt{p} L", "L*sqrt(p)"), (r"L\sqrt p", "L*sqrt(p)"), (r"\sqrt{p}\,L", "L*sqrt(p)"),
    (r"\frac{p}{4}", "p/4"), (r"\frac{\sqrt{p}}{4}", "sqrt(p)/4"), ("L + \\lambda /n", "L + lam/n"),
])
def test_latex_to_sympy(latex, expected):
    assert str(groups.latex_to_sympy(latex)) == expected


@pytest.mark.parametrize("latex", ["nothing here", r"\int_0^1 f", "the bound holds", ""])
def test_text_that_is_not_a_formula_is_not_an_expression(latex):
    assert groups.latex_to_sympy(latex) is None


def test_near_identical_answers_are_linked_but_different_ones_are_not():
    base = "The naive average only estimates the second term of equation one; the score term is missing. " * 2
    answers = {"a": base, "b": base.replace("naive", "plain"), "c": "It is unbiased because we average samples."}
    assert _by_kind(groups.group_answers("q2a", answers)) == {("same text", ("a", "b"))}
    assert groups.group_answers("q2a", answers)[0].label == "near-identical answers"


def test_expression_grouping_only_for_items_that_ask_for_one():
    answers = {"a": "$p/4$", "b": r"$\frac{p}{4}$"}
    assert groups.group_answers("q3a", answers) == []
    assert _by_kind(groups.group_answers("q1c", answers)) == {("same result", ("a", "b"))}


def test_question_stats_count_marks_means_and_rubric_use(tmp_path):
    from graders.marking import rubrics
    from graders.marking.stats import question_stats
    from graders.marking.store import MarkStore
    store = MarkStore(tmp_path, seed=rubrics.seed_entries)
    store.update("q1a", "ann", 0, toggle="e1")                      # 2
    store.update("q1a", "bo", 0, applied=["e1", "e2"])              # 4
    store.update("q1a", "chen", 0, manual=5)                        # 5
    store.update("q1a", "old-student", 0, manual=1)                 # not in this batch
    stats = {s.item: s for s in question_stats(store, ["ann", "bo", "chen", "dara"])}
    q1a = stats["q1a"]
    assert (q1a.marked, q1a.total, q1a.mean) == (3, 4, round(11 / 3, 2))
    assert q1a.distribution == [(2.0, 1), (4.0, 1), (5.0, 1)]
    assert [(e, n) for e, _, n in q1a.entries][:3] == [("e1", 2), ("e2", 1), ("e3", 0)]
    assert (stats["q2b"].marked, stats["q2b"].mean) == (0, None)
