"""Clearing the "open for write" flag of an HDF5 file's superblock (HDF5's ``h5clear -s``),
so that a plain ``h5py.File`` opens a file whose writer was killed: the run writer
(:mod:`twin.core.results`) clears it after each flush of a partial run file."""

from __future__ import annotations

from pathlib import Path

_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _lookup3(data: bytes) -> int:
    """Bob Jenkins' lookup3 ``hashlittle`` (initval 0): HDF5's metadata checksum."""
    m = 0xFFFFFFFF

    def rot(x: int, k: int) -> int:
        return ((x << k) | (x >> (32 - k))) & m

    n = len(data)
    a = b = c = (0xDEADBEEF + n) & m
    i = 0
    while n > 12:
        a = (a + int.from_bytes(data[i:i + 4], "little")) & m
        b = (b + int.from_bytes(data[i + 4:i + 8], "little")) & m
        c = (c + int.from_bytes(data[i + 8:i + 12], "little")) & m
        for k in (4, 6, 8, 16, 19, 4):  # mix(a, b, c): six rounds, the roles turning
            a = ((a - c) & m) ^ rot(c, k)
            c = (c + b) & m
            a, b, c = b, c, a
        n -= 12
        i += 12
    if n == 0:
        return c
    tail = data[i:] + bytes(12 - n)
    a = (a + int.from_bytes(tail[0:4], "little")) & m
    b = (b + int.from_bytes(tail[4:8], "little")) & m
    c = (c + int.from_bytes(tail[8:12], "little")) & m
    for k in (14, 11, 25, 16, 4, 14, 24):  # final(a, b, c): seven rounds, the roles turning
        c = ((c ^ b) - rot(b, k)) & m
        a, b, c = b, c, a
    return b  # the last round's c, its role turned once more


def clear_open_flag(path: str | Path) -> bool:
    """Clear the "open for write" flags of an HDF5 file's superblock (version 2 or 3), as
    HDF5's ``h5clear -s`` does, so that a plain ``h5py.File`` opens a file whose writer was
    killed; True if a flag was cleared. Only for a file no process writes any more, or
    between the flushes of the one that does (:class:`RunWriter`)."""
    with Path(path).open("r+b") as fh:
        head = bytearray(fh.read(48))
        if head[:8] != _SIGNATURE or len(head) < 48 or head[8] not in (2, 3) \
                or head[9] != 8 or head[10] != 8 or head[11] == 0:
            return False
        head[11] = 0
        head[44:48] = _lookup3(bytes(head[:44])).to_bytes(4, "little")
        fh.seek(0)
        fh.write(head)
    return True
