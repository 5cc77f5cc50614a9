"""Ids and names from students made safe for terminals, spreadsheets and file names (issue 9, part 8)."""
import csv
import io

import pytest

from graders.safe_text import clean_id, csv_cell, csv_value, display_name, page_name, page_names, terminal_safe


@pytest.mark.parametrize("raw, expected", [
    ("  alice ", "alice"),
    ("Dana\tLi", "Dana Li"),
    ("bob\x1b[31mRED", "bob RED"),
    ("eve\r\nmallory", "eve mallory"),
    ("x\u202eevil", "x evil"),
    ("bad\udcffname", "bad\ufffdname"),
    ("Zoe\u0301", "Zoé"),          # NFD from macOS folders becomes NFC
    ("", "unnamed"),
    ("\x00\x07", "unnamed"),
])
def test_clean_id(raw, expected):
    assert clean_id(raw) == expected


def test_clean_id_is_idempotent_and_capped():
    for raw in ["  a\x1b]0;title\x07b ", "x" * 500, "é\u0301 \n\t y", "\ud800"]:
        once = clean_id(raw)
        assert clean_id(once) == once
        assert len(once) <= 120
        once.encode("utf-8")  # no surrogate left


def test_terminal_safe_leaves_no_control_character():
    text = terminal_safe("alice\x1b[2J\x1b]0;pwned\x07\r\nok\x9b31m\u202e\udc80")
    assert all(ord(c) >= 0x20 and not 0x7f <= ord(c) <= 0x9f for c in text)
    assert "\\x1b[2J" in text and "\\x0d\\x0a" in text and "\\u202e" in text and "\ufffd" in text
    assert terminal_safe("plain Zoë_1") == "plain Zoë_1"
    assert terminal_safe("abcdef", limit=4) == "abc…"


def test_display_name_keeps_the_end_of_long_names():
    shown = display_name("A4.zip/" + "d/" * 300 + "A4.ipynb")
    assert len(shown) == 200 and shown.endswith("/A4.ipynb") and shown.startswith("…")


@pytest.mark.parametrize("value, cell", [
    ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
    ("+1", "'+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("'=x", "''=x"), ("alice", "alice"), ("'quoted", "'quoted"), ("", ""), (None, ""), (40.0, "40.0"),
])
def test_csv_cell_neutralises_formulas(value, cell):
    assert csv_cell(value) == cell


@pytest.mark.parametrize("text", ["=1+1", "''=x", "'=x", "-", "@", "'", "plain", "", "\t=", "a=b"])
def test_csv_value_inverts_csv_cell_through_a_real_csv_file(text):
    handle = io.StringIO()
    csv.writer(handle).writerow([csv_cell(text)])
    handle.seek(0)
    (read,) = next(csv.reader(handle))
    assert csv_value(read) == text


def test_page_names_are_safe_unique_and_never_the_graders_own_files():
    ids = ["index", "INDEX", "grades", "results", "similarity", "written_marks", "con", "Nul.txt", "COM1",
           " .alice. ", "alice", "Alice", "../../etc/passwd", "\x1b[31m", "a" * 300, "Zoë", "Zo_", ""]
    names = page_names(ids)
    assert set(names) == set(ids)
    lowered = [n.lower() for n in names.values()]
    assert len(set(lowered)) == len(ids)                      # unique, also on case-insensitive disks
    for name in names.values():
        stem = name[: -len(".html")]
        assert name.endswith(".html") and stem and len(stem) <= 90
        assert not stem.startswith((".", "-", "_", " ")) and not stem.endswith((".", " "))
        assert all(c.isascii() and (c.isalnum() or c in "._-") for c in stem)
        base = stem.split(".")[0].lower()
        assert base not in {"index", "grades", "results", "similarity", "written_marks", "con", "nul", "com1"}
    assert names["alice"] != names["Alice"] and names["../../etc/passwd"] == "etc_passwd.html"
    assert page_names(list(reversed(ids))) == names          # independent of order


def test_page_name_adds_to_taken():
    taken = {"bob.html"}
    assert page_name("bob", taken) == "bob-2.html" and page_name("BOB", taken) == "BOB-3.html"
    assert {"bob-2.html", "bob-3.html"} <= taken


def test_written_marks_file_round_trips_hostile_ids(tmp_path):
    """write_marks_file neutralises formulas; read_marks maps every id back to the same clean id."""
    from graders.written import read_marks, write_marks_file
    ids = [clean_id(raw) for raw in ['=HYPERLINK("http://evil","x")', " spaced ", "@SUM(1)", "-1", "'=x", "plain"]]
    path = write_marks_file(tmp_path / "written_marks.csv", ids)
    cells = [row.split(",")[0] for row in path.read_text(encoding="utf-8").splitlines()[1:]]
    assert not any(c.lstrip('"').startswith(("=", "+", "-", "@")) for c in cells)
    # a TA types marks and a formula-looking comment, with a stray space before an id
    text = path.read_text(encoding="utf-8").replace("\nplain,", "\n plain ,3").replace("'-1,", "'-1,4")
    path.write_text(text, encoding="utf-8")
    marks = read_marks(path, set(ids))
    assert set(marks) == set(ids)
    assert marks["plain"]["marks"] == {"q1a": 3.0} and marks["-1"]["marks"] == {"q1a": 4.0}
    write_marks_file(path, ids)   # rewriting keeps everything, encodes nothing twice
    assert read_marks(path, set(ids)) == marks
    assert path.read_text(encoding="utf-8").count("''=x") == 1


def test_status_lines_cannot_be_forged_by_an_id():
    from types import SimpleNamespace

    import grade
    item = SimpleNamespace(awarded=5.0, max=5.0)
    forged = "mallory\r\x1b[2Kalice   40/40\x1b[0m"
    line = grade._status_line(SimpleNamespace(id=forged, auto_awarded=0.0, auto_max=40.0, items={"q4.reconstruct": item}))
    assert "\x1b" not in line and "\r" not in line and "\n" not in line
    assert line.startswith("mallory\\x0d\\x1b[2Kalice   40/40\\x1b[0m")
