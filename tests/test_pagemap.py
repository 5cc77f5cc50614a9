"""Proposed PDF page -> written item maps (``graders.marking.pagemap``), on labels students write."""
import pytest

from graders.marking import pagemap

PAGES = ["Homework 4\nName: Ann\n\nQuestion 1 (a)\nThe gradient is ...\n",
         "continued: so L = 1\n\nQ1b\nL + lambda/n\n1(c) sqrt p L",
         "Question 2\n(a) The average is biased\n(b) Steps:\n(a) draw eps\n(b) map",
         "more of 2b\n",
         "Problem 3 part a\nlinear\n3b) ...\n3.c ...",
         "Q3d: layers",
         "Question 5\na) KL\n(b) CELBO\n(d) eights"]


def test_labels_of_every_style_and_continuation_pages():
    assert pagemap.propose(PAGES) == {
        "q1a": [1, 2], "q1b": [2], "q1c": [2], "q2a": [3], "q2b": [3, 4], "q3a": [5], "q3b": [5], "q3c": [5],
        "q3d": [6], "q5a": [7], "q5b": [7], "q5d": [7]}


@pytest.mark.parametrize("line, item", [
    ("Question 1 (a)", "q1a"), ("QUESTION 1(b):", "q1b"), ("Q1c", "q1c"), ("Q.2(a)", "q2a"), ("2(b)", "q2b"),
    ("3a) linear", "q3a"), ("3.b", "q3b"), ("Problem 3 part c", "q3c"), ("  q3 d.", "q3d"), ("5 (a)", "q5a"),
    ("Exercise 5b", "q5b"), ("5.(d)", "q5d"),
])
def test_one_label(line, item):
    assert pagemap.labels(line)[0] == [item]


@pytest.mark.parametrize("line", ["1. The gradient", "Question 1 and 2", "2 apples", "L = 1 (a bound)",
                                  "q4a", "Question 5(c)", "3 a.m. is late", "see 1(a) above"])
def test_not_a_label(line):
    assert pagemap.labels(line)[0] == []


def test_an_enumeration_inside_an_answer_is_not_read_as_labels():
    texts = ["Question 2\n(a) biased\n(b) the steps:\n(a) draw\n(b) map\n(c) average"]
    assert pagemap.propose(texts) == {"q2a": [1], "q2b": [1]}


def test_a_scanned_pdf_proposes_nothing():
    assert pagemap.propose(["", "", ""]) == {}


@pytest.mark.slow
def test_forty_students_pdfs(tmp_path):
    """40 students, 8 labelling styles, a cover page for half, answers running over pages, 4 scans:
    the proposal is right, page for page, for every PDF with a text layer, and empty for the scans."""
    from tests.pdf_answers import student_pdf
    exact, pairs_right, pairs_true, scans = 0, 0, 0, 0
    for seed in range(40):
        path = tmp_path / f"s{seed}.pdf"
        scanned = seed % 10 == 9
        truth = student_pdf(path, seed, scanned=scanned)
        proposal = pagemap.propose(pagemap.read_texts(path, tmp_path / "out"))
        if scanned:
            scans += proposal == {}
            continue
        exact += proposal == truth
        true_pairs = {(i, p) for i, pages in truth.items() for p in pages}
        pairs_true += len(true_pairs)
        pairs_right += len(true_pairs & {(i, p) for i, pages in proposal.items() for p in pages})
    print(f"exact maps {exact}/36, (item, page) pairs {pairs_right}/{pairs_true}, scans empty {scans}/4")
    assert scans == 4 and exact == 36 and pairs_right == pairs_true
