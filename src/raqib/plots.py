"""Report figures as PNG bytes. matplotlib is imported here only, lazily, and pyplot never.

Figures are `matplotlib.figure.Figure` objects drawn on the Agg canvas, so nothing touches global state
(safe in threads and servers). Figures carry no post text, channel names or file names: matplotlib would
neither shape Arabic nor ignore ``$...$`` math markup in hostile strings, so tables carry those and plots
refer to rows by number.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from raqib.evaluation import EvaluationResult

PALETTE = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6")
"""Colours by series: model first, then comparisons."""


def _figure(width: float = 6.0, height: float = 4.0) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError('reports need matplotlib: pip install "raqib[report]"') from exc
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig


def to_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (Agg canvas, fixed metadata so the same figure gives the same bytes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def pr_curve(result: EvaluationResult, label: str) -> Figure:
    """Precision-recall curves of the model and its comparisons, each operating point marked."""
    fig = _figure()
    ax = fig.add_subplot()
    series: list[tuple[str, Mapping[str, Any], Any]] = [
        (result.name, result.details[label].pr_curve, result.metrics[label])
    ]
    series += [
        (c.name, c.pr_curves.get(label, {}), c.metrics[label])
        for c in result.comparisons
        if label in c.metrics
    ]
    for k, (name, curve, m) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        if curve.get("recall") and not m.hard_labels:
            ap = f", AP {m.average_precision:.3f}" if m.average_precision is not None else ""
            ax.step(
                curve["recall"],
                curve["precision"],
                where="post",
                color=colour,
                lw=1.6,
                label=_plain(f"{name}{ap}"),
                zorder=2,
            )
        ax.plot(
            [m.recall],
            [m.precision],
            marker="o" if k == 0 else "s",
            ms=9 if k == 0 else 7,
            color=colour,
            mec="black",
            zorder=3,
            label=_plain(f"{name} at {m.threshold:.3g}: P {m.precision:.2f}, R {m.recall:.2f}"),
        )
    support = result.metrics[label].support
    if result.metrics[label].n:
        ax.axhline(
            support / result.metrics[label].n, color="grey", ls=":", lw=1, label="chance (positive rate)"
        )
    ax.set(
        xlim=(0, 1.01),
        ylim=(0, 1.02),
        xlabel="recall",
        ylabel="precision",
        title=_plain(f"{label}: precision-recall"),
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=7)
    return fig


def reliability(result: EvaluationResult, label: str) -> Figure:
    """Reliability diagram: observed positive rate against mean predicted probability per bin, with counts."""
    calib = result.details[label].calibration
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", ls=":", lw=1, label="perfect calibration")
    used = [b for b in calib["bins"] if b["count"]]
    if used:
        ax.plot(
            [b["mean_predicted"] for b in used],
            [b["fraction_positive"] for b in used],
            marker="o",
            color=PALETTE[0],
            label="model",
        )
    counts = ax.twinx()
    counts.bar(
        [(b["low"] + b["high"]) / 2 for b in calib["bins"]],
        [b["count"] for b in calib["bins"]],
        width=0.9 / calib["n_bins"],
        color=PALETTE[0],
        alpha=0.15,
    )
    counts.set_ylabel("examples per bin")
    counts.set_yscale("symlog")
    ece = calib.get("ece")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1.02),
        xlabel="mean predicted probability",
        ylabel="observed positive rate",
        title=_plain(f"{label}: reliability (ECE {ece:.3f})" if ece is not None else f"{label}: reliability"),
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def daily_counts(days: Sequence[str], flagged: Mapping[str, Sequence[int]], totals: Sequence[int]) -> Figure:
    """Posts per day (bars) and flagged posts per label per day (lines)."""
    import matplotlib.dates as mdates

    fig = _figure(8.0, 3.8)
    ax = fig.add_subplot()
    x = _day_positions(days)
    ax.bar(x, totals, color="#d9d9d9", label="posts", width=0.8)
    for k, (label, series) in enumerate(flagged.items()):
        ax.plot(
            x, series, marker=".", color=PALETTE[(k + 1) % len(PALETTE)], label=_plain(f"flagged {label}")
        )
    if x and not isinstance(x[0], int):
        if len(x) <= 16:  # one tick per day; no hour ticks between days
            ax.set_xticks(x, [d.strftime("%b %d") for d in x], rotation=45 if len(x) > 8 else 0)
        else:
            locator = mdates.AutoDateLocator(minticks=4, maxticks=12)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set(ylabel="posts", title="posts and flagged posts per day")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return fig


def channel_shares(shares: Sequence[float], counts: Sequence[int], review_share: float) -> Figure:
    """Flagged share per channel, numbered as in the channel table, with the review level drawn across."""
    fig = _figure(8.0, max(2.5, 0.28 * len(shares) + 1.2))
    ax = fig.add_subplot()
    y = list(range(1, len(shares) + 1))
    colours = [PALETTE[1] if s > review_share else PALETTE[0] for s in shares]
    ax.barh(y, shares, color=colours)
    for yi, s, n in zip(y, shares, counts, strict=True):
        ax.text(s, yi, f" {s:.1%} of {n}", va="center", fontsize=7)
    ax.axvline(review_share, color="black", ls="--", lw=1, label=f"review level {review_share:.1%}")
    ax.set_yticks(y, [f"#{i}" for i in y])
    ax.invert_yaxis()
    ax.set(
        xlabel="share of scored posts flagged (any label)",
        xlim=(0, min(1.0, max([*shares, review_share]) * 1.25)),
        title="channels by flagged share (numbers as in the channel table)",
    )
    ax.legend(fontsize=8, loc="lower right")
    return fig


def _day_positions(days: Sequence[str]) -> list[Any]:
    """Dates for ISO days (a true time axis, gaps shown), else 0..n-1."""
    from datetime import date

    try:
        return [date.fromisoformat(d) for d in days]
    except ValueError:
        return list(range(len(days)))


def _plain(text: str) -> str:
    """Keep matplotlib from reading ``$`` as math markup in label names."""
    return text.replace("$", r"\$")
