"""The job page's chart of scores over submissions and rounds, as SVG geometry (pure).

``score_chart`` places every scored submission (x: submission id, y: score in the metric's units),
the best score so far (a step line; lower is better for losses), each published model (the job's
current model, the global model after each federated round) and a mark where a round begins. The
template draws it as an inline ``<svg>``: no JavaScript, no external library.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dapp.ml.metrics import LOSSES

PLOTTED = ("scored", "accepted", "rejected")
"""Submission statuses with a meaningful score (``invalid`` has 0, ``stored`` none yet)."""


@dataclass(frozen=True)
class Point:
    """A mark: pixel position, the value it stands for, a tooltip and a CSS class."""

    x: float
    y: float
    value: float
    label: str
    kind: str


@dataclass(frozen=True)
class Chart:
    """What the template draws; ``empty`` when no submission has a score yet."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    points: tuple[Point, ...]
    published: tuple[Point, ...]
    best_path: str
    y_ticks: tuple[tuple[float, str], ...]
    x_ticks: tuple[tuple[float, str], ...]
    round_marks: tuple[tuple[float, str], ...]
    metric: str

    @property
    def empty(self) -> bool:
        """Whether there is nothing to draw."""
        return not self.points and not self.published


def published_models(history: Iterable[Mapping[str, Any]]) -> list[tuple[float, float, int]]:
    """(position, score, round) of each ``ModelPublished`` event: the position is the submission
    that made it, the last one accepted before it (else the last one received; 0.5, the chart's left
    edge, before any), its score in metric units."""
    received = accepted = 0
    found = []
    for event in history:
        kind = event.get("type")
        if kind == "SubmissionReceived":
            received = int(event.get("submission_id") or received)
        elif kind in ("SubmissionScored", "SubmissionReviewed") and event.get("accepted"):
            accepted = int(event.get("submission_id") or accepted)
        elif kind == "ModelPublished" and event.get("score") is not None:
            position = accepted or received
            found.append((float(position) if position else 0.5, int(event["score"]) / 1e6,
                          int(event.get("round") or 0)))
            accepted = 0
    return found


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    step = (hi - lo) / (count - 1)
    return [lo + i * step for i in range(count)]


def score_chart(submissions: Iterable[Mapping[str, Any]], history: Iterable[Mapping[str, Any]], metric: str,
                *, width: int = 640, height: int = 240) -> Chart:
    """The chart of ``submissions`` (inspect submission views) and the job's ``history`` events."""
    left, right, top, bottom = 56, 16, 16, 36
    scored = sorted((int(s["id"]), float(s["score"]), str(s.get("status")), int(s.get("round") or 0))
                     for s in submissions if s.get("status") in PLOTTED and s.get("score") is not None)
    models = published_models(history)
    values = [s[1] for s in scored] + [m[1] for m in models]
    if not values:
        return Chart(width, height, left, right, top, bottom, (), (), "", (), (), (), metric)
    lo, hi = min(values), max(values)
    if 0.0 <= lo and hi <= 1.0 and metric not in LOSSES:
        lo, hi = min(lo, max(0.0, hi - 0.2)), 1.0
    if hi - lo < 1e-9:
        lo, hi = lo - 0.05, hi + 0.05
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad
    first = 0.5
    last = max([s[0] for s in scored] + [m[0] for m in models]) + 0.5
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return round(left + (x - first) / (last - first) * plot_w, 1)

    def py(y: float) -> float:
        return round(top + (hi - y) / (hi - lo) * plot_h, 1)

    lower_better = metric in LOSSES
    points, path, best, previous_round = [], [], None, None
    marks = []
    for sub_id, score, status, round_ in scored:
        points.append(Point(px(sub_id), py(score), score, f"submission {sub_id}: {score:g} ({status})", status))
        if best is None or (score < best if lower_better else score > best):
            if best is not None:
                path.append(f"L{px(sub_id)},{py(best)}")
            best = score
            path.append(f"{'M' if len(path) == 0 else 'L'}{px(sub_id)},{py(best)}")
        if previous_round is not None and round_ != previous_round:
            marks.append((px(sub_id - 0.5), f"round {round_}"))
        previous_round = round_
    if best is not None:
        path.append(f"L{px(last)},{py(best)}")
    published = tuple(Point(px(x), py(score), score, f"model published (round {r}): {score:g}", "published")
                      for x, score, r in models)
    y_ticks = tuple((py(v), f"{v:.3g}") for v in _ticks(lo + pad, hi - pad))
    step = max(1, round((last - first) / 10))
    x_ticks = tuple((px(i), str(i)) for i in range(1, int(last) + 1, step))
    return Chart(width, height, left, right, top, bottom, tuple(points), published, " ".join(path), y_ticks,
                 x_ticks, tuple(marks), metric)
