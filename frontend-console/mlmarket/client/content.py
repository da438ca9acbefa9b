"""Reading stored files back through inspect (``contents/<cid>`` and ``contents/<cid>/data``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlmarket.client.errors import ClientError, NodeError
from mlmarket.client.inspect import query_path
from mlmarket.client.outputs import hex_bytes
from mlmarket.client.upload import MAX_UPLOAD_BYTES

if TYPE_CHECKING:
    from mlmarket.client.market import Market


def fetch_content(market: Market, cid: str, *, part: int = 512 * 1024, max_bytes: int = MAX_UPLOAD_BYTES) -> bytes:
    """The bytes of stored file ``cid``, fetched in parts of at most ``part`` bytes and checked
    against the CID. Raises ``ClientError`` if it is not stored, too large, or does not match."""
    from dapp.codec.cid import cid_from_text, cid_of

    info = market.content_info(cid)
    if info is None:
        raise ClientError(f"{cid} is not stored in the dApp")
    size = int(info.get("size", 0))
    if size > max_bytes:
        raise ClientError(f"{cid} holds {size} bytes, more than {max_bytes}")
    parts: list[bytes] = []
    offset = 0
    while offset < size:
        answer = market.query(query_path("contents", cid, "data", offset=offset, length=min(part, size - offset)))
        chunk = hex_bytes(answer.get("data")) if isinstance(answer, dict) else b""
        if not chunk:
            raise NodeError(f"inspect returned no bytes of {cid} at offset {offset}")
        parts.append(chunk)
        offset += len(chunk)
    data = b"".join(parts)
    if cid_of(data) != cid_from_text(cid):
        raise ClientError(f"the bytes read back do not match {cid}")
    return data
