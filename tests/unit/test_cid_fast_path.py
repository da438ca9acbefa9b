"""The standard-library fast path of accepted CIDs agrees with multiformats."""

import hashlib

from hypothesis import given
from hypothesis import strategies as st
from multiformats import CID

from dapp.codec.cid import check_cid, cid_from_text, cid_of, cid_to_text


@given(st.binary(max_size=600_000), st.sampled_from(["raw", "dag-pb"]))
def test_text_form_equals_multiformats(data, codec):
    digest = hashlib.sha256(data).digest()
    cid = bytes(CID("base32", 1, codec, ("sha2-256", digest)))
    assert check_cid(cid) == cid
    assert cid_to_text(cid) == CID.decode(cid).encode("base32")
    assert cid_from_text(cid_to_text(cid)) == cid


def test_a_real_file_cid_round_trips():
    cid = cid_of(b"x" * 300_000)
    assert cid_to_text(cid).startswith("bafybei") and cid_from_text(cid_to_text(cid)) == cid
