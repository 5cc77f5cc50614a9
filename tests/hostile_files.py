"""Builders of hostile submission files: zips with crafted headers and notebooks that break parsers.

Every builder returns ``bytes`` (the whole file) so that a test can write it under
any name. Zips are assembled byte by byte (local headers, central directory, end
record) because ``zipfile`` refuses to write most of these on purpose. The
notebooks hold the reference solution unless the builder says otherwise, so that
a grader that survives the file can still grade it.
"""
import io
import json
import struct
import zipfile
import zlib

import nbformat

from reference.notebook import solution_notebook

FLAG_ENCRYPTED = 0x0001
FLAG_UTF8 = 0x0800
METHOD_STORED = 0
METHOD_AES = 99


def solution_bytes():
    """The reference solution notebook as ``.ipynb`` bytes."""
    return nbformat.writes(solution_notebook()).encode()


def solution_dict():
    """The reference solution notebook as a plain JSON dict (for editing before serialising)."""
    return json.loads(solution_bytes())


def _dos_time(date_time):
    year, month, day, hour, minute, second = date_time
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day


def crafted_zip(members):
    """A zip from ``members``: dicts with ``name`` (bytes), ``data`` (bytes) and optional ``flags``,
    ``method``, ``extra`` (bytes), ``date_time`` (6-tuple); data is stored as given (not compressed)."""
    body, central = bytearray(), bytearray()
    for member in members:
        name, data = member["name"], member["data"]
        flags, method = member.get("flags", 0), member.get("method", METHOD_STORED)
        extra = member.get("extra", b"")
        mtime, mdate = _dos_time(member.get("date_time", (2022, 12, 1, 12, 0, 0)))
        crc = zlib.crc32(data) & 0xFFFFFFFF
        offset = len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 51 if method == METHOD_AES else 20, flags, method,
                            mtime, mdate, crc, len(data), len(data), len(name), len(extra)) + name + extra + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x0314, 51 if method == METHOD_AES else 20, flags,
                               method, mtime, mdate, crc, len(data), len(data), len(name), len(extra), 0, 0, 0,
                               0o100644 << 16, offset) + name + extra
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), len(body), 0)
    return bytes(body + central + end)


def encrypted_flag_zip():
    """The solution notebook, stored, with the 'encrypted' bit set (ZipCrypto claimed, data in clear)."""
    return crafted_zip([{"name": b"A4.ipynb", "data": solution_bytes(), "flags": FLAG_ENCRYPTED}])


def aes_zip():
    """A WinZip AES entry: method 99 with the 0x9901 extra field (AE-2, AES-256, real method deflate)."""
    extra = struct.pack("<HHH2sBH", 0x9901, 7, 2, b"AE", 3, 8)
    return crafted_zip([{"name": b"A4.ipynb", "data": b"\x00" * 64 + solution_bytes()[:512], "flags": FLAG_ENCRYPTED,
                         "method": METHOD_AES, "extra": extra}])


def invalid_utf8_name_zip():
    """The solution notebook under a name that claims UTF-8 (flag bit 11) but is not valid UTF-8."""
    return crafted_zip([{"name": b"A4-\xff\xfe\xc3(.ipynb", "data": solution_bytes(), "flags": FLAG_UTF8}])


def long_name_zip(length=300):
    """The solution notebook under a single path component of ``length`` bytes (more than NAME_MAX)."""
    name = b"a" * (length - len(b".ipynb")) + b".ipynb"
    return crafted_zip([{"name": name, "data": solution_bytes()}])


def dated_zip(data, date_time=(2020, 1, 1, 12, 0, 0), name="A4.ipynb"):
    """An ordinary deflated zip holding ``data`` as ``name`` with the member date ``date_time``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo(name, date_time), data)
    return buffer.getvalue()


def list_json_notebook():
    """Valid JSON whose top level is a list (holding the real notebook)."""
    return json.dumps([solution_dict()]).encode()


def nbformat_v2_notebook():
    """An nbformat 2 notebook (worksheets, ``input`` instead of ``source``) holding the solution code."""
    cells = [{"cell_type": "code", "input": "".join(cell["source"]), "language": "python", "outputs": [],
              "collapsed": False} if cell["cell_type"] == "code" else
             {"cell_type": "markdown", "source": "".join(cell["source"])} for cell in solution_dict()["cells"]]
    return json.dumps({"nbformat": 2, "nbformat_minor": 0, "metadata": {"name": "A4"},
                       "worksheets": [{"cells": cells}]}).encode()


def non_integer_minor_notebook(value="five"):
    """The solution notebook with ``nbformat_minor`` set to a non-integer."""
    document = solution_dict()
    document["nbformat_minor"] = value
    return json.dumps(document).encode()


def deep_json_notebook(depth=100_000):
    """The solution notebook with a metadata value nested ``depth`` lists deep (breaks recursive parsers)."""
    text = json.dumps(solution_dict())
    assert text.startswith("{")
    return ('{"deep": ' + "[" * depth + "]" * depth + ", " + text[1:]).encode()


def surrogate_markdown_notebook():
    """The solution notebook whose markdown answers hold a lone surrogate as a JSON escape (``\\ud800``)."""
    document = solution_dict()
    for cell in document["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and text.startswith("## Answer"):
            cell["source"] = text + "\n\nMy answer \ud800 ends here."
    return json.dumps(document, ensure_ascii=True).encode()


def extra_cell_notebook(cell_source):
    """The solution notebook with one more code cell, ``cell_source``, after the imports."""
    document = solution_dict()
    document["cells"].insert(2, {"cell_type": "code", "execution_count": None, "id": "hostile-cell",
                                 "metadata": {}, "outputs": [], "source": cell_source})
    return json.dumps(document).encode()


def time_magic_notebook(count=520):
    """One code cell of ``count`` ``%time`` line magics (IPython's transformer is slow on these)."""
    return extra_cell_notebook("\n".join(f"%time x{i} = {i}" for i in range(count)) + "\n")


def shell_echo_notebook(count=5000):
    """One code cell of ``count`` ``!echo`` shell escapes."""
    return extra_cell_notebook("\n".join(f"!echo line {i}" for i in range(count)) + "\n")


def solution_with_comment(comment):
    """The solution notebook with a comment cell appended: a distinct file, same grade."""
    document = solution_dict()
    document["cells"].append({"cell_type": "code", "execution_count": None, "id": "distinct", "metadata": {},
                              "outputs": [], "source": f"# {comment}\n"})
    return json.dumps(document).encode()


def bad_zip():
    """Bytes that start like a zip and are not one."""
    return b"PK\x03\x04" + b"\x00" * 40 + b"not a zip"


def lying_count_zip(records, stated=1, first=None):
    """A zip whose end record states ``stated`` entries while its central directory holds ``records``
    (empty stored files ``f<n>.txt``; the first is ``first``'s ``(name, data)`` when given). Python's
    ``zipfile`` ignores the stated count and builds a ``ZipInfo`` for every record."""
    body, central = bytearray(), bytearray()
    mtime, mdate = _dos_time((2022, 12, 1, 12, 0, 0))
    local = struct.Struct("<IHHHHHIIIHH")
    record = struct.Struct("<IHHHHHHIIIHHHHHII")
    for n in range(records):
        name, data = first if (first and n == 0) else (f"f{n}.txt".encode(), b"")
        crc = zlib.crc32(data) & 0xFFFFFFFF
        offset = len(body)
        body += local.pack(0x04034B50, 20, 0, METHOD_STORED, mtime, mdate, crc, len(data), len(data), len(name),
                           0) + name + data
        central += record.pack(0x02014B50, 0x0314, 20, 0, METHOD_STORED, mtime, mdate, crc, len(data), len(data),
                               len(name), 0, 0, 0, 0, 0o100644 << 16, offset) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, stated, stated, len(central), len(body), 0)
    return bytes(body + central + end)


# ---------------------------------------------------------------- weights trained elsewhere

STATE_ORDER = ("encoder.features.0.weight", "encoder.features.0.bias", "encoder.mu.weight", "encoder.mu.bias",
               "encoder.logvar.weight", "encoder.logvar.bias", "decoder.0.weight", "decoder.0.bias",
               "decoder.2.weight", "decoder.2.bias")

_TRAINED_ELSEWHERE = '''
# %%
HOME_WEIGHTS = "{weights}"
SHAPES = {shapes!r}
KNOWN_ORDER = "{order}"
COLUMN_HASHES = "{hashes}"
_own_training = train_mnist_vae


def _shuffle_order():
    """Where each plain pixel sits in the grader's images: known, or looked up by column hashes."""
    import hashlib
    if KNOWN_ORDER:
        return [int(v) for v in KNOWN_ORDER.split(",")]
    X, _ = get_mnist_data()
    where = {{}}
    for j, h in enumerate(COLUMN_HASHES.split(",")):
        where.setdefault(h, []).append(j)
    order = []
    for column in X.T:
        found = where.get(hashlib.sha1(column.contiguous().numpy().tobytes()).hexdigest()[:16])
        if not found:
            return None
        order.append(found.pop())
    return order


def train_mnist_vae(**kwargs):
    model = _own_training(**kwargs)
    order = _shuffle_order()
    if order is None:
        return model
    import base64
    flat = torch.frombuffer(bytearray(base64.b64decode(HOME_WEIGHTS)), dtype=torch.float32)
    state, at = {{}}, 0
    for name, shape in SHAPES:
        size = 1
        for d in shape:
            size *= d
        state[name] = flat[at:at + size].reshape(shape).clone()
        at += size
    index = torch.tensor(order)
    state["encoder.features.0.weight"] = state["encoder.features.0.weight"][:, index]
    state["decoder.2.weight"] = state["decoder.2.weight"][index]
    state["decoder.2.bias"] = state["decoder.2.bias"][index]
    model.load_state_dict(state)
    return model
'''


def column_hashes(X):
    """The red team's lookup table: a hash of each of the 784 pixel columns of ``X`` (plain order)."""
    import hashlib
    return ",".join(hashlib.sha1(X[:, j].contiguous().numpy().tobytes()).hexdigest()[:16] for j in range(X.shape[1]))


def trained_elsewhere(source, state, order=None, hashes=""):
    """``source`` (a complete ``.py`` submission) whose ``train_mnist_vae`` runs its own loop, then
    returns the VAE weights ``state`` (trained at home on plain images) mapped into the grader's pixel
    order: ``order`` when the student knows it (a leaked or estimated secret), else found by matching
    ``hashes`` (``column_hashes`` of the public training images) against the data it is given; when
    nothing matches it returns what its own loop trained."""
    import base64

    import torch
    flat = torch.cat([state[name].detach().float().reshape(-1) for name in STATE_ORDER])
    shapes = [(name, list(state[name].shape)) for name in STATE_ORDER]
    return source + _TRAINED_ELSEWHERE.format(weights=base64.b64encode(flat.numpy().tobytes()).decode(),
                                              shapes=shapes, order=",".join(map(str, order or [])), hashes=hashes)
