# typeshed's zipfile stub leaves out the undocumented names read here (_EndRecData, _ECD_*, _CD_*, sizeCentralDir...):
# mypy: disable-error-code="attr-defined"
"""Count a zip's entries the way Python's ``zipfile`` will parse them, before it parses them.

A zip's end record states an entry count, but ``zipfile.ZipFile`` ignores it: it reads the whole
central directory (``size_cd`` bytes) and builds one ``ZipInfo`` per record it finds there. A zip
that claims 1 entry while its central directory holds 1.2 million records therefore passed a check
of the stated count and cost +280 MiB to open. ``entry_count`` walks the central directory's
records one header at a time (46 bytes read, names and extras skipped), stops as soon as it has
seen more than ``limit``, and never holds more than one header in memory.
"""
from __future__ import annotations

import struct
import zipfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import BinaryIO


class DamagedZip(ValueError):
    """The zip's end record or central directory cannot be walked; the message says why, in one line."""


def entry_count(handle: BinaryIO, limit: int) -> int:
    """Records in the central directory of the zip open as binary ``handle``, counted up to
    ``limit + 1`` (a result above ``limit`` means "more than ``limit``"); raises ``DamagedZip``.

    Follows ``zipfile._RealGetContents``: the directory starts at its recorded offset plus whatever
    was prepended to the archive (``concat``), and runs for the recorded size."""
    end = zipfile._EndRecData(handle)
    if end is None:
        raise DamagedZip("no end of central directory record: not a zip, or cut short")
    size_cd, offset_cd = end[zipfile._ECD_SIZE], end[zipfile._ECD_OFFSET]
    concat = end[zipfile._ECD_LOCATION] - size_cd - offset_cd
    if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
        concat -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
    start = offset_cd + concat
    if start < 0 or size_cd < 0:
        raise DamagedZip("bad central directory offset or size")
    count, total = 0, 0
    while total < size_cd and count <= limit:
        handle.seek(start + total)
        header = handle.read(zipfile.sizeCentralDir)
        if len(header) != zipfile.sizeCentralDir or header[:4] != zipfile.stringCentralDir:
            raise DamagedZip("bad central directory record")
        fields = struct.unpack(zipfile.structCentralDir, header)
        total += (zipfile.sizeCentralDir + fields[zipfile._CD_FILENAME_LENGTH]
                  + fields[zipfile._CD_EXTRA_FIELD_LENGTH] + fields[zipfile._CD_COMMENT_LENGTH])
        count += 1
    return count


def stated_count(handle: BinaryIO) -> int | None:
    """The entry count the end record states (what a crafted zip lies about), or None."""
    end = zipfile._EndRecData(handle)
    return None if end is None else end[zipfile._ECD_ENTRIES_TOTAL]
