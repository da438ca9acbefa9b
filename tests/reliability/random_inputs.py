"""Random advance requests for the plain fuzz loop (``test_input_fuzz``), from a seeded ``random.Random``.

``InputFuzzer(seed).next()`` returns ``(kind, metadata, payload_hex)``; ``saw(outputs)`` tells it what
an accepted input produced (it learns the job ids in use). The kinds, by weight:

- ``call``: a protocol call (``abi.inputs()``) with arguments of the right ABI types, drawn from
  boundary values, a small vocabulary (policies, tasks, metrics, labels), the few accounts and
  tokens in play, the CIDs this fuzzer uploaded and random values;
- ``mutant``: such a call with one mutation (a flipped byte, a cut, extra bytes, another selector,
  a word set to all ones);
- ``upload``: a whole one-chunk ``uploadChunk`` of a small CSV, a model spec or random bytes, so that
  later calls can name stored contents (jobs on a real validation set, submissions that train);
- ``deposit``: an Ether or ERC-20 portal payload (sometimes cut short) carrying a call, a mutant or
  random bytes as ``execLayerData``;
- ``market``: plausible market calls: a job created with a deposit on the stored CSV (random policy,
  scores, rewards, deadlines, stakes), commits to submissions of the stored specs and CSV to the
  jobs made so far (mostly the newest; plain, or in a deposit carrying a stake) and reveals of
  those commits (mostly the right salt, sometimes a random one), reviews, test-set reveals,
  settles, cancels, top-ups;
- ``bytes``: random bytes, sometimes behind a real selector;
- ``metadata``: a valid call under malformed metadata or a malformed hex payload.

Metadata are v2 (5 % v1), from the senders in play, with increasing input indices and block times
(10 s apart, so deadlines pass during a run).
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from dapp.codec import abi
from dapp.codec.chunks import plan_upload
from dapp.codec.commitment import submission_commitment
from dapp.codec.outputs import Notice
from dapp.domain.commands import JobSpec
from dapp.domain.values import ETHER, Address
from tests.support.market import NOW
from tests.support.rollup import APP, PORTALS, PORTALS_V1, TOKEN, v1_metadata, v2_metadata

ACCOUNTS = [Address(bytes([0xa0 + i]) * 20) for i in range(4)]
ADDRESSES = [*ACCOUNTS, TOKEN, ETHER, PORTALS.ether, PORTALS.erc20, APP]
WORDS = ["threshold", "manual", "best", "classification", "regression", "accuracy", "f1", "r2", "mae",
         "target", "label", "", "x", "fedavg", "\u00e9\u4e2d\U0001f600", "a" * 300]
KINDS = {"call": 25, "mutant": 15, "upload": 5, "market": 20, "deposit": 15, "bytes": 15, "metadata": 5}
POLICIES = ["threshold", "manual", "best"]

_CSV = "x,y,target\n" + "".join(f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}\n" for i in range(30))
CONTENTS = [
    _CSV.encode(),
    json.dumps({"estimator": "LogisticRegression", "params": {"max_iter": 50}}).encode(),
    json.dumps({"estimator": "GaussianNB"}).encode(),
    json.dumps({"estimator": "DecisionTreeClassifier", "params": {"max_depth": 3}}).encode(),
]
_ARRAY = re.compile(r"^(.*)\[(\d*)\]$")
_JOB_CREATED = abi.notices()["JobCreated"].selector


class InputFuzzer:
    """A seeded source of random advance requests (module docstring)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.index = 0
        self.cids: list[bytes] = []
        self.jobs = 0  # the newest job id seen in a JobCreated notice (``saw``)
        self.functions = list(abi.inputs().by_name.values())
        self.stored = [plan_upload(c).cid for c in CONTENTS]  # CSV first, then the model specs
        self.commits: list[tuple[Address, int, bytes, bytes, bytes]] = []  # (sender, job, model, data, salt)

    # -- values ------------------------------------------------------------------------------
    def uint(self, bits: int) -> int:
        """A boundary, small, time-like or random unsigned integer of ``bits`` bits."""
        r = self.rng
        choice = r.choice([0, 1, 2, 3, r.randrange(10), r.randrange(1000), NOW + r.randrange(-50, 50_000),
                           10**6, 10**18, 2**bits - 1, r.getrandbits(bits)])
        return choice % (2**bits)

    def int_(self, bits: int) -> int:
        """A boundary or random signed integer of ``bits`` bits."""
        r = self.rng
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        return r.choice([0, 1, -1, 500_000, 900_000, 1_000_000, low, high, r.randint(low, high)])

    def bytes_(self) -> bytes:
        """Bytes: a known CID (often), empty, short random, or long random."""
        r = self.rng
        pick = r.random()
        if pick < 0.45 and self.cids:
            return r.choice(self.cids)
        if pick < 0.6:
            return b""
        return r.randbytes(r.choice([1, 4, 32, 36, r.randrange(80), r.randrange(3000)]))

    def value(self, kind: str) -> Any:
        """A random value of the ABI type ``kind`` (tuples and arrays included)."""
        r = self.rng
        if kind.startswith("("):
            return tuple(self.value(part) for part in _split_tuple(kind[1:-1]))
        array = _ARRAY.match(kind)
        if array:
            size = int(array.group(2)) if array.group(2) else r.randrange(4)
            return [self.value(array.group(1)) for _ in range(size)]
        if kind == "address":
            return (r.choice(ADDRESSES).raw if r.random() < 0.9 else r.randbytes(20))
        if kind == "bool":
            return r.random() < 0.5
        if kind == "string":
            return r.choice(WORDS) if r.random() < 0.85 else "".join(chr(r.randrange(1, 0x3000)) for _ in range(8))
        if kind == "bytes":
            return self.bytes_()
        if kind.startswith("bytes"):
            return r.choice([bytes(int(kind[5:])), r.randbytes(int(kind[5:]))])
        if kind.startswith("uint"):
            return self.uint(int(kind[4:]))
        if kind.startswith("int"):
            return self.int_(int(kind[3:]))
        raise ValueError(f"no generator for ABI type {kind}")

    # -- payloads ----------------------------------------------------------------------------
    def call(self) -> bytes:
        """A well-typed protocol call with random arguments."""
        function = self.rng.choice(self.functions)
        return function.encode(*(self.value(t) for t in function.arg_types))

    def mutant(self) -> bytes:
        """A call with one random mutation."""
        r, data = self.rng, bytearray(self.call())
        how = r.randrange(5)
        if how == 0:
            data[r.randrange(len(data))] ^= 1 << r.randrange(8)
        elif how == 1:
            del data[r.randrange(len(data)):]
        elif how == 2:
            data += r.randbytes(r.choice([1, 31, 32, 64, r.randrange(200)]))
        elif how == 3:
            data[:4] = r.choice(self.functions).selector
        elif len(data) >= 36:
            word = 4 + 32 * r.randrange((len(data) - 4) // 32)
            data[word:word + 32] = b"\xff" * 32
        return bytes(data)

    def upload(self) -> bytes:
        """A whole one-chunk upload of known or random content (its CID becomes a known CID)."""
        r = self.rng
        content = r.choice(CONTENTS) if r.random() < 0.7 else r.randbytes(r.randrange(1, 2000))
        plan = plan_upload(content)
        self.cids.append(plan.cid)
        return plan.chunks[0].payload

    def job_spec(self, budget: int) -> tuple[Any, ...]:
        """A valid job spec tuple on the stored CSV (random policy, bounds and times), with one field
        replaced by a random value of its type one time in six."""
        r = self.rng
        policy = r.choice(POLICIES)
        hidden = policy == "best" and r.random() < 0.3
        spec = JobSpec(
            title="fuzz", policy=policy, task="classification", label="target", metric=r.choice(["accuracy", "f1"]),
            validation_cid=self.stored[0], base_model_cid=b"", min_score=r.choice([0, 500_000, 900_000, 10**6 + 1]),
            min_gain=r.choice([0, 10_000]) if policy == "threshold" else 0,
            reward_per_accept=0 if policy == "best" else r.choice([1, budget // 3, budget]),
            deadline=NOW + 10 * self.index + r.choice([30, 300, 5_000]),
            accept_by_default=policy == "manual" and r.random() < 0.5,
            test_commitment=r.randbytes(32) if hidden else bytes(32), reveal_window=600 if hidden else 0,
            rounds=0, round_quota=0, round_duration=0, tolerance=0, stake=r.choice([0, 0, 1, 5]),
            max_submissions=r.choice([0, 0, 1, 3]), gated=r.random() < 0.1)
        fields = [getattr(spec, name) for name in JobSpec.__slots__]
        if r.random() < 1 / 6:
            types = _split_tuple(abi.inputs()["createJob"].arg_types[2][1:-1])
            wild = r.randrange(len(fields))
            fields[wild] = self.value(types[wild])
        return tuple(fields)

    def market(self) -> tuple[Address, bytes]:
        """A plausible market call (sender, payload), see the module docstring."""
        r, calls = self.rng, abi.inputs()
        account = r.choice(ACCOUNTS)
        job = max(1, self.jobs - r.randrange(4)) if r.random() < 0.8 else r.randrange(1, self.jobs + 2)
        what = r.choice(["create", "create", "commit", "commit", "reveal_submission", "reveal_submission",
                         "stake", "review", "settle", "reveal", "cancel", "top_up"])
        if what == "create":
            budget = r.choice([10, 1000, 10**6])
            call = calls.encode("createJob", TOKEN.raw, budget, self.job_spec(budget))
            return PORTALS.erc20, TOKEN.raw + account.raw + budget.to_bytes(32, "big") + call
        if what in ("commit", "stake"):
            model, data, salt = r.choice(self.stored[1:]), r.choice([b"", self.stored[0]]), r.randbytes(32)
            self.commits.append((account, job, model, data, salt))
            commitment = submission_commitment(account.hex, job, model, data, salt)
            call = calls.encode("commitSubmission", job, commitment)
            if what == "commit":
                return account, call
            return PORTALS.erc20, TOKEN.raw + account.raw + r.choice([1, 5]).to_bytes(32, "big") + call
        if what == "reveal_submission" and self.commits:
            newest = r.random() < 0.7
            account, job, model, data, salt = self.commits[-1] if newest else r.choice(self.commits)
            salt = salt if r.random() < 0.9 else r.randbytes(32)
            return account, calls.encode("revealSubmission", job, model, data, salt)
        if what == "review":
            return account, calls.encode("reviewSubmission", job, r.randrange(1, 4), r.random() < 0.5)
        if what == "reveal":
            return account, calls.encode("revealTestSet", job, self.stored[0], r.randbytes(32))
        if what == "top_up":
            return account, calls.encode("topUpJob", job, r.choice([1, 100]))
        return account, calls.encode("settleJob" if what == "settle" else "cancelJob", job)

    def attachment(self) -> bytes:
        """``execLayerData`` of a deposit: nothing, a call, a mutant or random bytes."""
        r = self.rng
        return r.choice([lambda: b"", self.call, self.mutant, lambda: r.randbytes(r.randrange(100))])()

    def deposit(self) -> tuple[Address, bytes]:
        """A portal payload (sender, bytes), sometimes cut short."""
        r = self.rng
        data = self.attachment()
        account = r.choice(ACCOUNTS).raw
        amount = self.uint(256).to_bytes(32, "big")
        if r.random() < 0.5:
            sender, payload = PORTALS.ether, account + amount + data
        else:
            sender, payload = PORTALS.erc20, r.choice([TOKEN, ETHER]).raw + account + amount + data
        if r.random() < 0.05:
            payload = payload[:r.randrange(len(payload))]
        return sender, payload

    def saw(self, outputs: list[Any]) -> None:
        """Learns from an answer's outputs: the newest job id (from ``JobCreated`` notices)."""
        for output in outputs:
            if isinstance(output, Notice) and output.payload[:4] == _JOB_CREATED:
                self.jobs = max(self.jobs, int.from_bytes(output.payload[4:36], "big"))

    # -- requests ----------------------------------------------------------------------------
    def metadata(self, sender: Address) -> dict[str, Any]:
        """v2 metadata (5 % v1) for the next input index, time moving 10 s per input."""
        index, timestamp = self.index, NOW + 10 * self.index
        if self.rng.random() < 0.05:
            if sender == PORTALS.ether:
                sender = PORTALS_V1.ether
            return v1_metadata(sender, index, timestamp, 100 + index)
        return v2_metadata(sender, index, timestamp, 100 + index)

    def broken(self, metadata: dict[str, Any], payload: bytes) -> tuple[dict[str, Any] | Any, Any]:
        """Malformed metadata or a malformed hex payload."""
        r = self.rng
        how = r.randrange(6)
        key = r.choice(sorted(metadata))
        if how == 0:
            metadata = {k: v for k, v in metadata.items() if k != key}
        elif how == 1:
            metadata = {**metadata, key: r.choice([None, -1, 2**300, "0x", "zz", [], {}, True, 1.5, "0x" + "ab" * 19])}
        elif how == 2:
            metadata = r.choice([None, [], "metadata", 42])
        elif how == 3:
            return metadata, "0x" + payload.hex()[1:]
        elif how == 4:
            return metadata, r.choice([None, 42, payload.hex(), "0xgg", "0X" + payload.hex(), ["0x00"]])
        else:
            return metadata, "0x" + payload.hex().upper()
        return metadata, "0x" + payload.hex()

    def next(self) -> tuple[str, Any, Any]:
        """The next request: ``(kind, metadata, payload_hex)``."""
        r = self.rng
        kind = r.choices(list(KINDS), weights=list(KINDS.values()))[0]
        sender = r.choice(ACCOUNTS)
        if kind == "call":
            payload = self.call()
        elif kind == "mutant":
            payload = self.mutant()
        elif kind == "upload":
            payload = self.upload()
        elif kind == "deposit":
            sender, payload = self.deposit()
        elif kind == "market":
            sender, payload = self.market()
        elif kind == "bytes":
            payload = r.randbytes(r.randrange(300))
            if r.random() < 0.5:
                payload = r.choice(self.functions).selector + payload
        else:
            payload = self.call()
        metadata = self.metadata(sender)
        self.index += 1
        if kind == "metadata":
            return (kind, *self.broken(metadata, payload))
        return kind, metadata, "0x" + payload.hex()


def _split_tuple(inner: str) -> list[str]:
    """The component types of a tuple type's inside, e.g. ``"uint8,(bool,bytes)"``."""
    parts, depth, start = [], 0, 0
    for position, char in enumerate(inner):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(inner[start:position])
            start = position + 1
    parts.append(inner[start:])
    return [p for p in parts if p]
