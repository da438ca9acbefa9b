"""A market driver that keeps every finished input, to add up a job's money moves from its notices."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.support.market import Market
from tests.support.rollup import notice_args


class RecordedMarket(Market):
    """``Market`` keeping each input's ``Finished`` in ``finished``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.finished: list[Any] = []

    def send(self, sender, payload, *, timestamp=None):
        done = super().send(sender, payload, timestamp=timestamp)
        self.finished.append(done)
        return done

    def notices(self, name: str) -> list[tuple]:
        """The arguments of every ``name`` notice so far, in order."""
        return [args for done in self.finished for args in notice_args(done, name)]

    def rewards(self, job: int) -> Counter:
        """Reward paid by ``job`` per contributor (lower-case hex), from its ``RewardPaid`` notices."""
        paid: Counter = Counter()
        for job_id, _, contributor, _, amount in self.notices("RewardPaid"):
            if job_id == job:
                paid[contributor.lower()] += amount
        return paid

    def assert_value_conserved(self, job: int, budget: int) -> None:
        """The ended ``job`` paid rewards + refund = ``budget`` + its slashed stakes, and holds nothing."""
        refund = sum(args[3] for args in self.notices("JobSettled") if args[0] == job)
        refund += sum(args[1] for args in self.notices("JobCancelled") if args[0] == job)
        slashed = sum(args[3] for args in self.notices("StakeSlashed") if args[0] == job)
        assert sum(self.rewards(job).values()) + refund == budget + slashed
        view = self.job(job)["job"]
        assert view["status"] == "ended" and view["budget"] == "0"
