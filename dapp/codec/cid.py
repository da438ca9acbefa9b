"""Content identifiers: the CID ``ipfs add --cid-version 1 --raw-leaves`` prints for a byte string.

A file of at most ``CHUNK_SIZE`` (262,144) bytes is one raw block: CIDv1, codec raw, sha2-256
(``bafkrei…``). A larger file is cut into ``CHUNK_SIZE`` raw leaves joined by a balanced tree of
dag-pb UnixFS ``File`` nodes with at most ``MAX_LINKS`` (174) links each, the layout of the default
importers (kubo, ipfs-unixfs-importer); its CID is the root's (codec dag-pb, ``bafybei…``).

CID, multihash and multibase handling uses ``multiformats``. The dag-pb and UnixFS protobuf
encoding is hand-rolled here (a few fields of two messages; no protobuf library exists in the
machine image), byte for byte as ``@ipld/dag-pb`` and ``ipfs-unixfs`` write it: links before data,
each link ``Hash``, an empty ``Name`` and ``Tsize``; data ``Type=File``, ``filesize`` and one
``blocksizes`` entry per child. ``tests/oracle/unixfs-cid.mjs`` (the JS reference importer) checks it.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from multiformats import CID, multicodec, varint

from dapp.errors import InvalidInput

CHUNK_SIZE = 262_144
"""Bytes per leaf (``ipfs add``'s default fixed-size chunker)."""

MAX_LINKS = 174
"""Links per dag-pb node in the balanced layout (``ipfs add``'s default)."""

ACCEPTED_CODECS = ("raw", "dag-pb")


@dataclass(frozen=True, slots=True)
class _Node:
    """A built block as its parent links it: CID bytes, cumulative DAG size, file bytes below."""

    cid: bytes
    tsize: int
    filesize: int


def _cid_bytes(codec: str, block: bytes) -> bytes:
    """The binary CIDv1 of ``block``: version 1, the codec (raw 0x55 or dag-pb 0x70), sha2-256 (0x12)
    and its length (0x20), one varint byte each, then the digest: what ``multiformats`` builds, without
    its run-time type checks, which cost ~0.3 ms a call (test_cid.py compares with the JS importer)."""
    return bytes((1, {"raw": 0x55, "dag-pb": 0x70}[codec], 0x12, 0x20)) + hashlib.sha256(block).digest()


def _varint(n: int) -> bytes:
    """Protobuf base-128 varint (hand-rolled, see the module docstring)."""
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, value: bytes) -> bytes:
    """A length-delimited protobuf field (``tag`` already holds field number and wire type 2)."""
    return bytes([tag]) + _varint(len(value)) + value


def _file_node(children: list[_Node]) -> _Node:
    """The dag-pb UnixFS ``File`` node linking ``children`` (hand-rolled protobuf)."""
    filesize = sum(c.filesize for c in children)
    unixfs = b"\x08\x02" + b"\x18" + _varint(filesize)               # Type=File, filesize
    unixfs += b"".join(b"\x20" + _varint(c.filesize) for c in children)  # blocksizes
    links = b"".join(
        _field(0x12, _field(0x0A, c.cid) + b"\x12\x00" + b"\x18" + _varint(c.tsize))  # Hash, Name="", Tsize
        for c in children
    )
    block = links + _field(0x0A, unixfs)
    return _Node(_cid_bytes("dag-pb", block), len(block) + sum(c.tsize for c in children), filesize)


def cid_of(data: bytes, *, chunk_size: int = CHUNK_SIZE, max_links: int = MAX_LINKS) -> bytes:
    """The binary CIDv1 of ``data`` as ``ipfs add --cid-version 1 --raw-leaves`` computes it.

    ``chunk_size`` and ``max_links`` exist so tests can build deep trees from small inputs; keep the
    defaults for real content.
    """
    if chunk_size < 1 or max_links < 2:
        raise ValueError(f"chunk_size must be >= 1 and max_links >= 2, got {chunk_size}, {max_links}")
    view = memoryview(data)
    if len(view) <= chunk_size:
        return _cid_bytes("raw", view)
    level = []
    for start in range(0, len(view), chunk_size):
        leaf = view[start:start + chunk_size]
        level.append(_Node(_cid_bytes("raw", leaf), len(leaf), len(leaf)))
    while len(level) > 1:
        level = [_file_node(level[i:i + max_links]) for i in range(0, len(level), max_links)]
    return level[0].cid


def _decode(value: bytes | str) -> CID:
    try:
        return CID.decode(value)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        shown = value.hex() if isinstance(value, bytes) else repr(value)
        raise InvalidInput(f"not a CID: {shown[:100]} ({exc})", code="bad_cid") from exc


def _validated(cid: CID) -> bytes:
    if cid.version != 1:
        raise InvalidInput(
            f"CIDv{cid.version} {cid} is not accepted: use CIDv1 (ipfs add --cid-version 1 --raw-leaves)",
            code="bad_cid",
        )
    if cid.codec.name not in ACCEPTED_CODECS:
        raise InvalidInput(f"CID {cid} has codec {cid.codec.name}: only raw or dag-pb are accepted",
                           code="bad_cid")
    hashfun, size = _multihash_head(cid)
    if hashfun != "sha2-256" or size != 32:
        raise InvalidInput(f"CID {cid} uses {hashfun} with a {size}-byte digest: only sha2-256 (32 bytes) is "
                           "accepted", code="bad_cid")
    return bytes(cid)


def _multihash_head(cid: CID) -> tuple[str, int]:
    """The hash function's name and the digest's declared size, read from the multihash's header with
    the multicodec table only: ``cid.hashfun`` would load that hash function's implementation, which
    for some (keccak, blake3...) needs a package the machine does not have."""
    code, _, rest = varint.decode_raw(cid.digest)
    size, _, _ = varint.decode_raw(rest)
    try:
        return multicodec.get(code=code).name, size
    except KeyError:
        return f"unknown hash function 0x{code:x}", size


_PREFIXES = tuple(_cid_bytes(codec, b"")[:4] for codec in ACCEPTED_CODECS)
"""CIDv1 + an accepted codec + sha2-256 (32 bytes): the only CIDs accepted, 36 bytes each."""


def _accepted_shape(value: object) -> bool:
    """The fast path: an accepted CID is one of two 4-byte prefixes and a 32-byte digest, so it can
    be recognised and base32-encoded with the standard library (multiformats validates types at
    run time and dominates the cost of small inputs; it stays the general path and the error path)."""
    return isinstance(value, bytes) and len(value) == 36 and value[:4] in _PREFIXES


def check_cid(value: bytes) -> bytes:
    """Validates a binary CID (v1, codec raw or dag-pb, sha2-256); returns its canonical bytes.

    Raises ``InvalidInput`` (code ``bad_cid``) otherwise, naming what is wrong. Non-canonical
    encodings (padded varints, trailing bytes) are rejected, so one CID has one binary form.
    """
    if _accepted_shape(value):
        return value
    if not isinstance(value, bytes) or not value:
        raise InvalidInput(f"a CID must be non-empty bytes, got {value!r:.100}", code="bad_cid")
    canonical = _validated(_decode(value))
    if canonical != value:
        raise InvalidInput(f"non-canonical CID bytes 0x{value.hex()[:100]}", code="bad_cid")
    return canonical


def cid_from_text(text: str) -> bytes:
    """Parses a textual CIDv1 (any multibase, e.g. ``bafy…``) into validated binary form."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"a CID must be non-empty text, got {text!r:.100}", code="bad_cid")
    return _validated(_decode(text.strip()))


def cid_to_text(value: bytes) -> str:
    """The usual text form (base32 lower case, ``b…``) of a validated binary CID."""
    if _accepted_shape(value):
        return "b" + base64.b32encode(value).decode().lower().rstrip("=")
    return _decode(check_cid(value)).encode("base32")
