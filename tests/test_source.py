"""source.read_cells on hostile files: only UnreadableSource, one line, and text without surrogates."""
import json
import os
import time

import pytest

from graders.intake.source import MAX_CELLS, UnreadableSource, read_cells


def nb(cells, **top):
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5, **top})


def code(text):
    return {"cell_type": "code", "source": text, "metadata": {}, "outputs": [], "execution_count": None}


def md(text):
    return {"cell_type": "markdown", "source": text, "metadata": {}}


def write(tmp_path, text, name="A4.ipynb"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8") if isinstance(text, str) else path.write_bytes(text)
    return path


def unreadable(path):
    with pytest.raises(UnreadableSource) as caught:
        read_cells(path)
    message = str(caught.value)
    assert message and "\n" not in message and len(message) < 300
    return message


def test_plain_notebook(tmp_path):
    cells = read_cells(write(tmp_path, nb([md("# Title"), code(["x = 1\n", "y = 2"]), code("z = 3")])))
    assert cells.code == [("cell 2", "x = 1\ny = 2"), ("cell 3", "z = 3")]
    assert cells.markdown == ["# Title"]


@pytest.mark.parametrize("text, reason", [
    ("[1, 2, 3]", "JSON is a list"),
    ('"just a string"', "JSON is a str"),
    (json.dumps({"metadata": {}, "nbformat": 4, "nbformat_minor": 5}), "no list of 'cells'"),
    (json.dumps({"cells": {"a": 1}, "nbformat": 4}), "no list of 'cells'"),
    (json.dumps({"cells": [], "nbformat": "four"}), "nbformat is 'four'"),
    (nb([code({"a": 1})]), "cell 1: its source is a dict"),
    (nb([code(["x", 3])]), "cell 1: its source is a list"),
    (nb([md(None)]), "cell 1: its source is a NoneType"),
    (nb(["not a cell"]), "cell 1 is a str"),
    ("{not json", "not a valid Jupyter notebook"),
    ("[" * 100_000 + "]" * 100_000, "nested 100000 deep"),
    ('{"cells": ' + "[" * 5000 + "]" * 5000 + "}", "nested 5001 deep"),
])
def test_malformed_notebooks_are_one_line_reasons(tmp_path, text, reason):
    assert reason in unreadable(write(tmp_path, text))


def test_non_integer_minor_version_is_fine(tmp_path):
    cells = read_cells(write(tmp_path, nb([code("x = 1")], nbformat_minor="5.1")))
    assert cells.code == [("cell 1", "x = 1")]


def test_nbformat_3_and_2_worksheets(tmp_path):
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [
        {"cell_type": "heading", "level": 1, "source": "Title"},
        {"cell_type": "code", "input": "def f():\n    return 1", "language": "python", "outputs": []},
        {"cell_type": "markdown", "source": ["## Answer q1a\n", "text"]}]}]}
    cells = read_cells(write(tmp_path, json.dumps(v3)))
    assert cells.code == [("cell 2", "def f():\n    return 1")]
    assert cells.markdown == ["Title", "## Answer q1a\ntext"]
    v2 = {"nbformat": 2, "metadata": {}, "worksheets": [{"cells": [{"cell_type": "code", "input": ["x = 2"]}]}]}
    assert read_cells(write(tmp_path, json.dumps(v2))).code == [("cell 1", "x = 2")]
    assert "worksheets" in unreadable(write(tmp_path, json.dumps({"nbformat": 3, "worksheets": "x"})))


def test_lone_surrogates_and_nul_become_replacement_characters(tmp_path):
    text = nb([md("## Answer q1a\n\\ud800 eights blur"), code("s = '\\udfff'\x00")]).replace("\\\\u", "\\u")
    assert "\\ud800" in text
    cells = read_cells(write(tmp_path, text))
    assert cells.markdown == ["## Answer q1a\n\ufffd eights blur"]
    assert cells.code == [("cell 2", "s = '\ufffd'\ufffd")]
    for part in cells.markdown + [t for _, t in cells.code]:
        part.encode("utf-8")


def test_caps_on_cells_and_cell_size(tmp_path):
    assert f"{MAX_CELLS + 1} cells" in unreadable(write(tmp_path, nb([code("x")] * (MAX_CELLS + 1))))
    assert "cell 2 holds 1100 KiB" in unreadable(write(tmp_path, nb([md("a"), code("#" * (1100 * 1024))])))
    assert "over 5 MiB" in unreadable(write(tmp_path, "x = 1\n" * (1 << 20), "A4.py"))


def test_files_that_are_not_text_or_not_files(tmp_path):
    assert "not UTF-8" in unreadable(write(tmp_path, b"\xff\xfe\x00garbage"))
    assert "empty" in unreadable(write(tmp_path, "  \n"))
    assert "not a regular file" in unreadable(tmp_path)
    fifo = tmp_path / "pipe.ipynb"
    os.mkfifo(fifo)
    started = time.monotonic()
    assert "not a regular file" in unreadable(fifo)          # and it did not block on the open
    assert time.monotonic() - started < 5
    assert "cannot read" in unreadable(tmp_path / "missing.ipynb")


def test_python_source_with_bom_and_cells(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbf# %%\nimport torch\n# %%\ndef f():\n    return 1\n", "A4.py")
    cells = read_cells(path)
    assert cells.code == [("line 1", "# %%\nimport torch"), ("line 3", "# %%\ndef f():\n    return 1")]


@pytest.mark.parametrize("value", [None, 1, 1.5, True, [], {}, [[]], [{}], {"cells": None},
                                   {"nbformat": None, "cells": []}, {"nbformat": 2}, {"nbformat": 3, "worksheets": [1]},
                                   {"nbformat": 3, "worksheets": [{"cells": 7}]}, {"cells": [{"cell_type": 1}]},
                                   {"cells": [{"cell_type": "code"}]}, {"nbformat": True, "cells": []},
                                   {"cells": [{"cell_type": "code", "source": ["a", None]}]}])
def test_any_json_value_is_a_result_or_a_reason(tmp_path, value):
    path = write(tmp_path, json.dumps(value))
    try:
        cells = read_cells(path)
    except UnreadableSource as error:
        assert str(error) and "\n" not in str(error)
    else:
        assert all(isinstance(label, str) and isinstance(text, str) for label, text in cells.code)
