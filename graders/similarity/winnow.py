"""k-gram fingerprints with a stable hash, selected by winnowing (Schleimer, Wilkerson, Aiken 2003).

A k-gram is ``K`` consecutive normalised tokens; its hash is the first 8 bytes
of BLAKE2b of the tokens joined by a separator, the same on every machine and
every run (unlike Python's salted ``hash()``). Winnowing keeps, in every window
of ``W`` consecutive k-gram hashes, the smallest (the rightmost on ties), so
any run of at least ``W + K - 1`` shared tokens shares at least one fingerprint,
and no run shorter than ``K`` tokens counts.
"""
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

K = 12   # tokens per k-gram: shorter runs are chance (one normalised statement is 8-15 tokens)
W = 6    # winnowing window: every shared run of W + K - 1 = 17 tokens or more is detected


@dataclass(frozen=True)
class Fingerprint:
    hash: int
    position: int   # index of the k-gram's first token


def kgram_hashes(tokens: Sequence[str], k: int = K) -> list[int]:
    """Stable 64-bit hashes of every k-gram of ``tokens`` (a list of strings), in order."""
    joined = [token.encode() for token in tokens]
    return [int.from_bytes(hashlib.blake2b(b"\x1f".join(joined[i:i + k]), digest_size=8).digest(), "big")
            for i in range(len(joined) - k + 1)]


def winnow(hashes: Sequence[int], w: int = W) -> list[Fingerprint]:
    """The winnowed ``[Fingerprint]`` of a hash sequence; all of them when it is shorter than ``w``."""
    if len(hashes) <= w:
        return [Fingerprint(h, i) for i, h in enumerate(hashes)]
    chosen, last = [], -1
    for start in range(len(hashes) - w + 1):
        window = hashes[start:start + w]
        smallest = min(window)
        position = start + max(i for i, h in enumerate(window) if h == smallest)
        if position != last:
            chosen.append(Fingerprint(smallest, position))
            last = position
    return chosen


def fingerprints(tokens: Sequence[str], k: int = K, w: int = W) -> list[Fingerprint]:
    """Winnowed fingerprints of a token list."""
    return winnow(kgram_hashes(tokens, k), w)
