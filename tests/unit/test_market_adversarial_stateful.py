"""The whole market under attack, with a content store small enough to fill (issue 11).

``MarketMachine`` (tests/unit/test_market_stateful.py: every job policy, stakes, reviews, reveals,
settles, withdrawals, time jumps, and its oracles: value conserved per token, the ledger equal to
what the notices imply, a rejected input changes nothing) run on a backend with small ``Limits``: a
store of 20 KiB (the fake engine's files are a few bytes, each counting 1 KiB more: the honest ones
take half of it), 8 KiB of partial uploads, 4 KiB files, expiry after 400 s and reclamation of
unreferenced files after 1,500 s (the time jumps reach 2,000 s), hidden-test reveals scored in
batches of at most 4 work units (a plain model costs 2, with training data 3, a "heavy" one 8) and 30
units of deferred work per job. Attackers join in, six addresses in all:

- a stranger fills the store with junk, from the start and later: complete uploads as the CLI plans
  them (raw or deflated), partial uploads of raw and deflated chunks left hanging, continued later
  or aborted, and uploads whose content does not match the CID they announce;
- sybils submit (commit, then reveal) junk, crashing and costly models (and copies of good ones)
  to hidden-test ``best`` jobs (one of them a bounty open from the start), with and without stakes,
  until the job's work cap refuses their reveals (the estimate counts evaluation on the validation
  set every job has);
- sponsors reveal late, or never; anyone sends ``settleJob`` while a job is being scored.

Honest participants upload their files again when the store has dropped them; what the store refuses
(``storage_full``, ``uploads_full``) is accepted as an outcome only for inputs that bring new files
(uploads, and reveals whose trained model must be stored), and must change nothing: the snapshot
a rejection is compared with includes the stored files and every account's partial uploads. Checked
after every step, besides the base machine's ledger checks: the store within ``max_total_content``,
partial uploads within ``max_total_pending`` and the per-account caps, no file an unfinished job
uses (or any job's current model) ever dropped; a batch scores the waiting submissions in order, at
least one, as many as ``max_input_work`` allows. At the end, far in the future, ``settleJob`` is sent
until every job has ended, each one while a job is scoring leaving fewer submissions waiting, then
every balance is withdrawn: all value went out.
"""

import base64
import hashlib
import json
import os
import zlib
from collections import Counter, defaultdict
from dataclasses import fields

import eth_abi
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from dapp.codec.chunks import plan_upload
from dapp.domain.commands import JobSpec
from dapp.domain.limits import Limits
from dapp.domain.values import Address
from tests.support.market import SPONSOR
from tests.unit.test_market_stateful import (
    ACCOUNTS, DATA, DAVE, FAR, INPUTS, MODELS, TOKENS, VALIDATION, MarketMachine, encode, job_plans, raw_cid,
)

LIMITS = Limits(max_file_size=4096, max_pending_uploads=3, max_pending_upload_bytes=6144,
                max_total_pending=8192, upload_ttl=400, max_total_content=20 * 1024, content_ttl=1500,
                max_input_work=4, max_job_work=30)
FILE_OVERHEAD, UPLOAD_OVERHEAD, CHUNK_OVERHEAD = 1024, 1024, 512  # what docs/PROTOCOL.md §6 counts
ATTACKERS = [Address(bytes([0xe0 + i]) * 20) for i in range(6)]
ATTACK_MODELS = {"crash": {"score": 0.99, "crash": True}, "heavy": {"score": 0.3, "work": 4}}
HEAVY = ATTACK_MODELS["heavy"]["work"]
SPEC = [f.name for f in fields(JobSpec)]
JOB_INPUTS = {"settleJob", "cancelJob", "revealTestSet", "topUpJob"}  # their first argument is the job id
BOUNTY = {"duration": 3000, "window": 500, "test_ok": True, "gated": False, "broken": False,
          "funding": "deposit", "max_submissions": 0}  # a hidden-test job open long enough for sybils
sybil_models = st.sampled_from(["bad", "crash", "heavy", "good"])
sybil_data = st.sampled_from(["none", "none", "good", "bad"])


def cid_text(cid):
    """The CIDv1 text form (multibase base32), computed independently."""
    return "b" + base64.b32encode(cid).decode().lower().rstrip("=")


def decode_call(payload):
    """(name, arguments) of an input call, or (None, ()) for anything else."""
    if payload[:4] not in INPUTS:
        return None, ()
    name, _, _, types = INPUTS[payload[:4]]
    try:
        return name, eth_abi.decode(types, payload[4:])
    except Exception:
        return name, ()


def named_cids(name, args):
    """The contents a createJob or revealSubmission call needs stored."""
    if name == "createJob" and args:
        spec = args[2]
        cids = [spec[SPEC.index("validation_cid")], spec[SPEC.index("base_model_cid")]]
    elif name == "revealSubmission" and args:
        cids = [args[1], args[2]]
    else:
        return []
    return [cid for cid in cids if cid]


def junk(seed, size, compressible):
    """``size`` bytes of junk: a repeated phrase (deflates well) or hash output (does not)."""
    if compressible:
        unit = f"junk {seed};".encode()
        return (unit * (size // len(unit) + 1))[:size]
    out = b"".join(hashlib.sha256(f"{seed}/{i}".encode()).digest() for i in range(size // 32 + 1))
    return out[:size]


def cut(data, cid, pieces, deflate):
    """``uploadChunk`` payloads for ``data`` in ``pieces`` parts, each raw or one zlib stream."""
    bounds = [len(data) * i // pieces for i in range(pieces + 1)]
    chunks = []
    for i in range(pieces):
        part = data[bounds[i]:bounds[i + 1]]
        if part:
            body = zlib.compress(part) if deflate[i] else part
            chunks.append(encode("uploadChunk", cid, len(data), bounds[i], deflate[i], body))
    return chunks


def bucket(n, top):
    """``n`` for statistics: "0", "1", ... up to "<top>+"."""
    return f"{top}+" if n >= top else str(n)


def error_code(report):
    return json.loads(report)["error"]["code"]


class AdversarialMarketMachine(MarketMachine):
    """``MarketMachine`` with small limits, a store that fills, and attackers."""

    LIMITS = LIMITS
    accounts = ACCOUNTS + ATTACKERS

    def __init__(self):
        self.deferred = Counter()  # hidden-test job -> work its valid submissions deferred (max_job_work)
        self.partials = []  # [uploader, cid, chunks, sent, lie]: junk uploads left unfinished
        self.refs, self.current = defaultdict(set), {}  # job -> files it uses; job -> its current model
        self.batches = Counter()
        super().__init__()
        self.cids |= {name: self.upload(json.dumps(model).encode()) for name, model in ATTACK_MODELS.items()}
        self.files = {self.cids[n]: json.dumps(m).encode() for n, m in (MODELS | ATTACK_MODELS).items()}
        self.files |= {self.cids[f"data:{k}"]: v for k, v in DATA.items()} | {self.validation: VALIDATION}
        assert all(self.is_stored(cid) for cid in self.files)

    # -- the store as inspect tells it -----------------------------------------------------------

    def snapshot(self):
        """The base machine's snapshot plus the stored files and every account's partial uploads."""
        if self.cached is None:
            snap = super().snapshot()
            snap["contents"] = self.m.inspect("contents?limit=200")
            snap["uploads"] = {a.hex: self.m.inspect(f"uploads/{a.hex}?limit=200")["uploads"]
                               for a in self.accounts}
        return self.cached

    def is_stored(self, cid):
        return self.m.inspect(f"contents/{cid_text(cid)}")["ok"]

    def upload(self, data, sender=SPONSOR):
        """Uploads ``data`` as the CLI plans it; the store may refuse it (and then nothing changed)."""
        plan = plan_upload(data)
        for chunk in plan.chunks:
            if not self.send(sender, chunk.payload)[0].accepted:
                return plan.cid
        assert self.is_stored(plan.cid), "an accepted upload is not stored"
        return plan.cid

    def waiting(self, job_id):
        """(id, work at the reveal) of the job's submissions waiting to be scored, in order."""
        answer = self.m.inspect(f"jobs/{job_id}/submissions?limit=200")
        assert answer["next"] is None
        heavy = cid_text(self.cids["heavy"])
        return [(s["id"], (HEAVY if s["model_cid"] == heavy else 1) * (2 + bool(s["data_cid"])))
                for s in answer["submissions"] if s["status"] == "stored"]

    def scoring_jobs(self):
        return [j["id"] for j in self.snapshot()["jobs"] if j["status"] == "scoring"]

    def open_hidden_jobs(self):
        return [i for i, job in sorted(self.jobs.items())
                if job.hidden and not job.ended and self.now < job.deadline]

    # -- expectations the small store and the batches change ---------------------------------------

    def send(self, sender, payload, expect=None):
        name, args = decode_call(payload)
        job_id = args[0] if name in JOB_INPUTS and args else None
        status = self.job_status(job_id) if job_id in self.jobs else None
        if status == "scoring":  # only batches move it: no cancel, no second reveal, no deadline
            job = self.jobs[job_id]
            expect = {"settleJob": True, "cancelJob": False, "revealTestSet": False,
                      "topUpJob": name == "topUpJob" and 0 < args[1] <= self.balance[job.token, sender]
                      }.get(name, expect)
        expect, may_fill = self.content_expectation(name, args, sender, expect)
        scores = name == "settleJob" and status == "scoring" or name == "revealTestSet" and status is not None
        before = self.waiting(job_id) if scores else None
        done, decoded = super().send(sender, payload, None if may_fill else expect)
        if may_fill and not done.accepted:
            assert error_code(done.reports[0]) == "storage_full", done.reports
        if scores and done.accepted:
            if name == "revealTestSet":
                event(f"revealed with {bucket(len(before), 4)} submissions waiting")
            self.check_batch(job_id, before, decoded)
        return done, decoded

    def deposit(self, token, account, amount, data=b"", expect_command=None):
        name, args = decode_call(data)
        expect_command, may_fill = self.content_expectation(name, args, account, expect_command)
        decoded = super().deposit(token, account, amount, data, None if may_fill else expect_command)
        failed = [r for r in self.m.done.reports if not json.loads(r)["ok"]]
        if may_fill and failed:
            assert [error_code(r) for r in failed] == ["storage_full"], failed
        return decoded

    def content_expectation(self, name, args, sender, expect):
        """Honest files the store dropped are uploaded again (the store may refuse them: then the
        call must fail). Returns the expectation and whether ``storage_full`` is also acceptable
        (a submission whose trained model must be stored)."""
        cids = named_cids(name, args)
        for cid in cids:
            if cid in self.files and not self.is_stored(cid):
                event("an honest file was dropped: uploaded again")
                self.upload(self.files[cid], sender)
        if not all(self.is_stored(cid) for cid in cids):
            if any(cid in self.files and not self.is_stored(cid) for cid in cids):
                event(f"{name}: an honest file could not be stored again")
            return False, False
        job = self.jobs.get(args[0]) if name == "revealSubmission" else None
        trains = job is not None and bool(args[2]) and (
            job.policy in ("threshold", "manual", "rounds") or job.policy == "best" and self.held(job))
        return expect, bool(expect) and trains

    def held(self, job):
        """Whether the job's newest commit waits behind an earlier undecided one (its trained model
        is then stored until it is decided, so a full store may refuse it)."""
        mine = sorted(k for k in self.subs if k[0] == job.id)
        return any(self.status[k] in ("committed", "stored") for k in mine[:-1])

    def check_batch(self, job_id, before, decoded):
        """One scoring input: the first waiting submissions, at least one, within max_input_work
        unless a single one exceeds it, and no fewer than the bound allows. When the last batch on
        the revealed test set could score none of them, they all wait again, for the fallback
        split's batches on the validation set."""
        job, cap = self.jobs[job_id], LIMITS.max_input_work
        left = [] if job.ended else self.waiting(job_id)
        assert job.ended == (not left), "a job in scoring with nothing left to score"
        scores = [s["score_millionths"] for s in self.m.inspect(f"jobs/{job_id}/submissions?limit=200")[
            "submissions"]]
        tried = [a for n, a in decoded if n == "SubmissionScored" and a["jobId"] == job_id]
        if tried and {i for i, _ in before} <= {i for i, _ in left} and all(x is None for x in scores):
            event("the revealed test set scored none: the split scores them on the validation set")
            self.batches[job_id] += 1
            return
        done = len(before) - len(left)
        assert left == before[done:], "a batch skipped a waiting submission"
        work = [w for _, w in before[:done]]
        assert done >= 1 or not before, "a scoring input made no progress"
        assert done <= 1 or sum(work) <= cap, f"batch of {work} over max_input_work {cap}"
        assert not left or sum(work) + left[0][1] > cap, "a batch stopped short of the bound"
        if left:
            event("a scoring batch left submissions waiting")
        self.batches[job_id] += 1

    def reveal_ok(self, job, model, data):
        ok = super().reveal_ok(job, model, data)
        checked = model != "bad" and data != "bad"  # the work cap is checked after the content
        if ok and job.hidden and checked:
            return self.deferred[job.id] + self.work(model, data) <= LIMITS.max_job_work
        return ok

    @staticmethod
    def work(model, data):
        """The fake engine's estimate when a hidden-test submission arrives (training, if any, and
        evaluation on the validation set every job now has)."""
        return (HEAVY if model == "heavy" else 1) * (2 + (data != "none"))

    def send_submission(self, job_id, sender, model, data, via_deposit):
        count = len(self.subs)
        super().send_submission(job_id, sender, model, data, via_deposit)
        if len(self.subs) > count and self.jobs[job_id].hidden:
            if self.status[next(reversed(self.subs))] not in ("invalid", "committed"):  # revealed, valid
                self.deferred[job_id] += self.work(model, data)

    # -- what the store must keep, from the notices --------------------------------------------------

    def on_JobCreated(self, a, owed):
        super().on_JobCreated(a, owed)
        validation, base = a["spec"][SPEC.index("validation_cid")], a["spec"][SPEC.index("base_model_cid")]
        self.refs[a["jobId"]] |= {validation, base}
        self.current[a["jobId"]] = base

    def on_SubmissionReceived(self, a, owed):
        super().on_SubmissionReceived(a, owed)
        self.refs[a["jobId"]] |= {a["modelCid"], a["dataCid"]}

    def on_TestSetRevealed(self, a, owed):
        self.refs[a["jobId"]].add(a["testCid"])

    def on_ModelPublished(self, a, owed):
        super().on_ModelPublished(a, owed)
        self.current[a["jobId"]] = a["modelCid"]

    def on_RoundClosed(self, a, owed):
        super().on_RoundClosed(a, owed)
        self.current[a["jobId"]] = a["modelCid"]

    # -- attackers ---------------------------------------------------------------------------------

    @initialize(plan=job_plans("hidden").map(lambda p: p | BOUNTY),
                waves=st.lists(st.tuples(st.integers(1, len(ATTACKERS)), sybil_models, sybil_data,
                                         st.sampled_from([None, "stake"])), min_size=1, max_size=3))
    def sybils_flock_to_a_bounty(self, plan, waves):
        """A hidden-test bounty open for long enough, and waves of sybil submissions to it."""
        self.create_job(plan)
        for count, model, data, via_deposit in waves:
            self.sybil_submissions(0, count, model, data, via_deposit)

    @rule(who=st.sampled_from(ATTACKERS), size=st.integers(1, 5000), seed=st.integers(0, 1 << 16),
          compressible=st.booleans(), pieces=st.integers(1, 4), sent=st.integers(1, 4),
          deflate=st.lists(st.booleans(), min_size=4, max_size=4),
          lie=st.integers(0, 5).map(lambda n: n == 0))
    def upload_junk(self, who, size, seed, compressible, pieces, sent, deflate, lie):
        """A complete upload as the CLI plans it (one piece), or ``sent`` of ``pieces`` chunks, raw
        or deflated; ``lie``: the content does not match the announced CID."""
        data = junk(seed, size, compressible)
        cid = raw_cid(data + b"!") if lie else raw_cid(data)
        if pieces == 1 and not lie:
            chunks = [c.payload for c in plan_upload(data).chunks]
        else:
            chunks = cut(data, cid, pieces, deflate)
        self.feed(who, cid, chunks, 0, sent, lie)

    def feed(self, who, cid, chunks, start, count, lie):
        """Sends ``chunks[start:start + count]``; remembers an upload left unfinished."""
        for index in range(start, min(len(chunks), start + count)):
            last = index == len(chunks) - 1
            done, _ = self.send(who, chunks[index], expect=False if last and lie else None)
            if not done.accepted:
                return
            if last:
                assert self.is_stored(cid), "an upload's last chunk was accepted but its file is not stored"
                event("junk file stored")
                return
        self.partials.append([who, cid, chunks, start + count, lie])

    @initialize(first=st.sampled_from(range(len(ATTACKERS))),
                sizes=st.lists(st.integers(500, 4096), max_size=6), seed=st.integers(0, 1 << 16),
                compressible=st.booleans())
    def a_stranger_fills_the_store(self, first, sizes, seed, compressible):
        """Junk files before (or as) the market opens."""
        self.flood_the_store(first, sizes, seed, compressible)

    @rule(first=st.sampled_from(range(len(ATTACKERS))),
          sizes=st.lists(st.integers(500, 4096), min_size=2, max_size=4), seed=st.integers(0, 1 << 16),
          compressible=st.booleans())
    def flood_the_store(self, first, sizes, seed, compressible):
        """Several complete junk files from several addresses, as the CLI plans them."""
        for n, size in enumerate(sizes):
            data = junk(seed + n, size, compressible)
            self.feed(ATTACKERS[(first + n) % len(ATTACKERS)], raw_cid(data),
                      [c.payload for c in plan_upload(data).chunks], 0, 1, False)

    @precondition(lambda self: self.partials)
    @rule(index=st.integers(0, 10), more=st.integers(1, 3))
    def continue_junk(self, index, more):
        """The next chunks of an unfinished upload (it may have been purged since: a gap)."""
        who, cid, chunks, sent, lie = self.partials.pop(index % len(self.partials))
        self.feed(who, cid, chunks, sent, more, lie)

    @precondition(lambda self: self.partials)
    @rule(index=st.integers(0, 10))
    def abort_junk(self, index):
        """``abortUpload`` succeeds exactly when the upload is still listed (not purged)."""
        who, cid, *_ = self.partials.pop(index % len(self.partials))
        listed = any(u["cid"] == cid_text(cid) for u in self.snapshot()["uploads"][who.hex])
        self.send(who, encode("abortUpload", cid), expect=listed)

    @precondition(lambda self: self.open_hidden_jobs())
    @rule(index=st.integers(0, 10), count=st.integers(1, len(ATTACKERS)),
          model=sybil_models, data=sybil_data, via_deposit=st.sampled_from([None, "stake"]))
    def sybil_submissions(self, index, count, model, data, via_deposit):
        """``count`` attackers each submit the same model to one open hidden-test job."""
        ids = self.open_hidden_jobs()
        if not ids:  # the bounty's sponsor could not fund it
            return
        for attacker in ATTACKERS[:count]:
            self.send_submission(ids[index % len(ids)], attacker, model, data, via_deposit)

    @precondition(lambda self: any(job.hidden and not job.ended for job in self.jobs.values()))
    @rule(index=st.integers(0, 10))
    def reveal_in_time(self, index):
        """The sponsor of an unfinished hidden-test job reveals at its deadline (the base rule's way)."""
        hidden = [i for i, job in sorted(self.jobs.items()) if job.hidden]
        unfinished = [i for i in hidden if not self.jobs[i].ended]
        self.reveal(hidden.index(unfinished[index % len(unfinished)]), None)

    @precondition(lambda self: any(job.hidden for job in self.jobs.values()))
    @rule(index=st.integers(0, 10), upload=st.booleans())
    def reveal_late(self, index, upload):
        """The sponsor reveals once the window has closed: refused (the job splits instead)."""
        hidden = [job for _, job in sorted(self.jobs.items()) if job.hidden]
        job = hidden[index % len(hidden)]
        self.m.timestamp = max(self.now, job.deadline + job.window)
        if upload:
            self.upload(job.test_csv, job.sponsor)
        self.send(job.sponsor, encode("revealTestSet", job.id, raw_cid(job.test_csv), job.salt), expect=False)

    @precondition(lambda self: self.scoring_jobs())
    @rule(index=st.integers(0, 10), sender=st.sampled_from(ACCOUNTS + ATTACKERS))
    def settle_while_scoring(self, index, sender):
        """Anyone may send the next batch."""
        ids = self.scoring_jobs()
        self.send(sender, encode("settleJob", ids[index % len(ids)]), expect=True)

    # -- invariants ----------------------------------------------------------------------------------

    @invariant()
    def the_store_keeps_within_its_caps_and_keeps_what_jobs_use(self):
        snap = self.snapshot()
        assert snap["contents"]["next"] is None
        stored = {f["cid"] for f in snap["contents"]["contents"]}
        used = sum(f["size"] + FILE_OVERHEAD for f in snap["contents"]["contents"])
        assert used <= LIMITS.max_total_content
        full = used + 4 * FILE_OVERHEAD > LIMITS.max_total_content  # a 3 KiB file would not fit
        event(f"store {'full' if full else 'not full'} at some step")
        pending = 0
        for uploads in snap["uploads"].values():
            assert len(uploads) <= LIMITS.max_pending_uploads
            assert sum(u["size"] for u in uploads) <= LIMITS.max_pending_upload_bytes
            pending += sum(u["size"] + UPLOAD_OVERHEAD + CHUNK_OVERHEAD for u in uploads)  # >= 1 row each
        assert pending <= LIMITS.max_total_pending
        for job_id, job in self.jobs.items():
            needed = ({self.current[job_id]} | (set() if job.ended else self.refs[job_id])) - {b""}
            assert {cid_text(c) for c in needed} <= stored, f"job {job_id} lost a file it uses"

    def teardown(self):
        """Far in the future every job settles (one batch per settleJob while it is scoring), then
        everyone withdraws: all value went out."""
        if self.unsettled:
            return
        self.m.timestamp += FAR
        for job in self.jobs.values():
            for _ in range(len(self.subs) + 2):  # every batch scores one submission at least
                if job.ended:
                    break
                self.send(DAVE, encode("settleJob", job.id), expect=True)
            assert job.ended
            if job.hidden:
                event(f"hidden job scored in {bucket(self.batches[job.id], 3)} batches")
        assert all(j["status"] == "ended" and j["budget"] == "0" for j in self.snapshot()["jobs"])
        for (token, account), amount in list(self.balance.items()):
            if amount:
                self.send(account, encode("withdraw", token.raw, amount), expect=True)
        self.value_is_conserved_and_the_ledger_matches_the_notices()
        self.the_store_keeps_within_its_caps_and_keeps_what_jobs_use()
        for token in TOKENS:
            assert self.vouchers[token] == self.deposited[token] and self.stakes[token] == 0


TestAdversarialMarketMachine = AdversarialMarketMachine.TestCase
TestAdversarialMarketMachine.settings = settings(  # longer runs: docs/RELIABILITY.md
    max_examples=int(os.environ.get("MARKET_EXAMPLES", 40)),
    stateful_step_count=int(os.environ.get("MARKET_STEPS", 40)), deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
