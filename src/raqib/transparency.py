"""The channel transparency report: what `raqib score` flagged over one or many channels, where to look first.

It reads `raqib score` JSON Lines output (`PostScore.to_dict()` records) and counts; it never re-scores. The
report says how many posts were flagged per label, per channel and per day, which day peaked, which
channels have a flagged share above a chosen review level, the most confident examples, and how many
records could not be scored, so that a reader can check every number against the score files, whose
SHA-256 it records.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raqib.errors import ReaderError

if TYPE_CHECKING:
    from raqib.reports import ReportFiles, Table

log = logging.getLogger(__name__)

NO_CHANNEL = "(no channel)"
NO_DATE = "(no date)"
MAX_TABLE_ROWS = 100
"""Rows shown in a report's channel and day tables (the JSON has them all)."""
MAX_PLOTTED_CHANNELS = 30


@dataclass(frozen=True)
class TransparencyResult:
    """Counts and examples over `raqib score` outputs, as plain values (see `write_transparency_report`)."""

    labels: tuple[str, ...]
    totals: dict[str, Any]
    """records, scored, errors, flagged_any, share_any, flagged {label}, share {label} (of scored posts)."""
    channels: list[dict[str, Any]]
    """Per channel, by flagged share then count: channel, records, scored, errors, flagged_any, share_any,
    flagged {label}, share {label}, first_day, last_day, review (bool)."""
    days: list[dict[str, Any]]
    """Per day in date order: day, scored, flagged_any, share_any, flagged {label}; undated: ``(no date)``."""
    peak_day: dict[str, Any] | None
    """The day with the most flagged posts (any label; ties to the earliest), with its counts."""
    review_share: float
    """Channels whose flagged share is above this are listed for review."""
    min_posts: int
    """... if they have at least this many scored posts."""
    review_candidates: list[str]
    examples: dict[str, list[dict[str, Any]]]
    """Per label, the most probable flagged posts: id, channel, date, probability, text (or None)."""
    errors: dict[str, Any]
    """count, by_message [{message, count}], unreadable_lines."""
    thresholds: dict[str, list[float]]
    """Per label, every distinct threshold the score files used (more than one means mixed runs)."""
    provenance: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        return data

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent, allow_nan=False)


def read_scores(paths: Sequence[str | Path]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """All records of `raqib score` JSON Lines files, and what was read (paths, sha256, counts).

    A line that is not a JSON object is counted, not fatal (a crashed run can leave a half line).

    Raises:
        ReaderError: a file is missing, or no file holds a single score record.
    """
    from raqib.labelled import file_sha256

    records: list[dict[str, Any]] = []
    inputs = []
    unreadable = 0
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise ReaderError(str(p), "no such file (give the JSON Lines output of 'raqib score')")
        n = 0
        with p.open(encoding="utf-8", errors="replace") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    unreadable += 1
                    log.warning("%s line %d: not JSON; counted as unreadable", p, line_no)
                    continue
                if not isinstance(rec, dict) or not ("error" in rec or any(k.startswith("p_") for k in rec)):
                    unreadable += 1
                    continue
                records.append(rec)
                n += 1
        inputs.append({"path": str(p), "sha256": file_sha256(p), "records": n})
    if not records:
        raise ReaderError(
            ", ".join(str(p) for p in paths),
            "no score records found; these must be JSON Lines written by 'raqib score'",
        )
    return records, {"inputs": inputs, "unreadable_lines": unreadable}


def _day(date: Any) -> str:
    """The calendar day of a date as written (the source's own clock; no timezone conversion)."""
    if not date:
        return NO_DATE
    text = str(date).strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        pass
    head = text[:10]
    try:
        return datetime.strptime(head, "%Y-%m-%d").date().isoformat()
    except ValueError:
        return NO_DATE


def transparency_report(
    records: Sequence[Mapping[str, Any]],
    *,
    review_share: float = 0.05,
    min_posts: int = 1,
    examples: int = 10,
    texts: Mapping[tuple[str | None, str], str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    unreadable_lines: int = 0,
) -> TransparencyResult:
    """Count flagged posts per label, channel and day, and pick channels and examples for review.

    Args:
        records: `PostScore.to_dict()` records (``raqib score`` output), any number of channels.
        review_share: list channels whose share of scored posts flagged (any label) is above this.
        min_posts: ... and that have at least this many scored posts (tiny channels are noisy).
        examples: how many of the most confident flagged posts to show per label.
        texts: ``{(channel, id): text}`` to show examples with their text (see `load_post_texts`).
        provenance: extra provenance entries (input files...).
        unreadable_lines: lines of the score files that were not records (from `read_scores`), for the count.
    """
    if not 0.0 <= review_share <= 1.0:
        raise ValueError(f"review_share must be within [0, 1], got {review_share!r}")
    labels: list[str] = []
    for rec in records:
        for key in rec:
            if key.startswith("p_") and key[2:] not in labels:
                labels.append(key[2:])
        for key in rec.get("thresholds") or {}:
            if key not in labels:
                labels.append(key)

    ch_stats: dict[str, dict[str, Any]] = {}
    day_stats: dict[str, dict[str, Any]] = {}
    thresholds: dict[str, set[float]] = defaultdict(set)
    error_messages: Counter[str] = Counter()
    normalisers: Counter[str] = Counter()
    candidates: dict[str, list[tuple[float, int, Mapping[str, Any]]]] = {lb: [] for lb in labels}

    def empty(**extra: Any) -> dict[str, Any]:
        return {
            **extra,
            "records": 0,
            "scored": 0,
            "errors": 0,
            "flagged_any": 0,
            "flagged": dict.fromkeys(labels, 0),
        }

    for k, rec in enumerate(records):
        channel = str(rec["channel"]) if rec.get("channel") not in (None, "") else NO_CHANNEL
        day = _day(rec.get("date"))
        ch = ch_stats.setdefault(channel, empty(channel=channel, days=set()))
        dy = day_stats.setdefault(day, empty(day=day))
        for s in (ch, dy):
            s["records"] += 1
        if rec.get("error") is not None:
            error_messages[_error_kind(str(rec["error"]))] += 1
            ch["errors"] += 1
            dy["errors"] += 1
            continue
        for lb, t in (rec.get("thresholds") or {}).items():
            if isinstance(t, (int, float)):
                thresholds[lb].add(float(t))
        if rec.get("normaliser_version") is not None:
            normalisers[str(rec["normaliser_version"])] += 1
        flagged = [lb for lb in (rec.get("flagged") or []) if lb in labels]
        for s in (ch, dy):
            s["scored"] += 1
            s["flagged_any"] += bool(flagged)
            for lb in flagged:
                s["flagged"][lb] += 1
        if day != NO_DATE:
            ch["days"].add(day)
        for lb in flagged:
            p = rec.get(f"p_{lb}")
            if isinstance(p, (int, float)):
                candidates[lb].append((float(p), k, rec))

    def shares(s: dict[str, Any]) -> None:
        n = s["scored"]
        s["share_any"] = s["flagged_any"] / n if n else 0.0
        s["share"] = {lb: (s["flagged"][lb] / n if n else 0.0) for lb in labels}

    channels = []
    for s in ch_stats.values():
        shares(s)
        days = sorted(s.pop("days"))
        s["first_day"] = days[0] if days else None
        s["last_day"] = days[-1] if days else None
        s["review"] = s["share_any"] > review_share and s["scored"] >= min_posts
        channels.append(s)
    channels.sort(key=lambda s: (-s["share_any"], -s["flagged_any"], s["channel"]))
    days_list = []
    for day in sorted(d for d in day_stats if d != NO_DATE) + ([NO_DATE] if NO_DATE in day_stats else []):
        s = day_stats[day]
        shares(s)
        days_list.append(s)
    dated = [d for d in days_list if d["day"] != NO_DATE and d["flagged_any"] > 0]
    peak = (
        max(dated, key=lambda d: d["flagged_any"]) if dated else None
    )  # days ascend: ties go to the earliest

    totals = empty()
    for s in channels:
        for key in ("records", "scored", "errors", "flagged_any"):
            totals[key] += s[key]
        for lb in labels:
            totals["flagged"][lb] += s["flagged"][lb]
    shares(totals)

    example_rows: dict[str, list[dict[str, Any]]] = {}
    for lb in labels:
        top = sorted(candidates[lb], key=lambda t: (-t[0], t[1]))[:examples]
        example_rows[lb] = [
            {
                "id": None if r.get("id") is None else str(r.get("id")),
                "channel": r.get("channel"),
                "date": r.get("date"),
                "probability": p,
                "text": _lookup(texts, r),
            }
            for p, _, r in top
        ]

    notes = []
    mixed = {lb: sorted(v) for lb, v in thresholds.items() if len(v) > 1}
    if mixed:
        notes.append(
            "the score files used different thresholds ("
            + "; ".join(f"{lb}: {', '.join(f'{t:g}' for t in v)}" for lb, v in mixed.items())
            + "); counts mix those runs"
        )
    if len(normalisers) > 1:
        notes.append(f"the score files used different normaliser versions: {dict(normalisers)}")
    if min_posts > 1:
        notes.append(f"channels with fewer than {min_posts} scored posts are never listed for review")
    return TransparencyResult(
        labels=tuple(labels),
        totals=totals,
        channels=channels,
        days=days_list,
        peak_day=peak,
        review_share=float(review_share),
        min_posts=int(min_posts),
        review_candidates=[s["channel"] for s in channels if s["review"]],
        examples=example_rows,
        errors={
            "count": totals["errors"],
            "unreadable_lines": int(unreadable_lines),
            "by_message": [{"message": m, "count": c} for m, c in error_messages.most_common(10)],
        },
        thresholds={lb: sorted(v) for lb, v in thresholds.items()},
        provenance={**_environment(), **dict(provenance or {})},
        notes=notes,
    )


def _error_kind(message: str) -> str:
    """Group error messages: drop a leading position (``line 17: ``) so equal causes count together."""
    head, sep, rest = message.partition(": ")
    if sep and (head.startswith(("line ", "messages[", "record ")) or head.isdigit()):
        return rest[:200]
    return message[:200]


def _lookup(texts: Mapping[tuple[str | None, str], str] | None, rec: Mapping[str, Any]) -> str | None:
    if not texts or rec.get("id") is None:
        return None
    key_id = str(rec["id"])
    found = texts.get((rec.get("channel"), key_id))
    if found is None:
        found = texts.get((None, key_id))
    return found


def load_post_texts(path: str | Path, *, text_column: str = "text") -> dict[tuple[str | None, str], str]:
    """Texts of the scored input, keyed by ``(channel, id)`` and, where an id is unique, ``(None, id)``.

    Telegram ids are per channel, so a bare id is used only when no two channels share it.
    """
    from raqib.posts import Post
    from raqib.readers import read_posts

    by_key: dict[tuple[str | None, str], str] = {}
    seen: Counter[str] = Counter()
    with read_posts(path, text_column=text_column) as posts:
        for post in posts:
            if not isinstance(post, Post) or post.id is None:
                continue
            by_key[(post.channel, str(post.id))] = post.text
            seen[str(post.id)] += 1
    for (channel, pid), text in list(by_key.items()):
        if seen[pid] == 1:
            by_key[(None, pid)] = text
    return by_key


def _environment() -> dict[str, Any]:
    from raqib import __version__

    return {"raqib_version": __version__, "created": datetime.now(UTC).replace(microsecond=0).isoformat()}


# ------------------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------------------


def transparency_images(result: TransparencyResult) -> dict[str, bytes]:
    """Per-day and per-channel figures as PNG bytes, by file name."""
    from raqib import plots

    out = {}
    dated = [d for d in result.days if d["day"] != NO_DATE]
    if dated:
        fig = plots.daily_counts(
            [d["day"] for d in dated],
            {lb: [d["flagged"][lb] for d in dated] for lb in result.labels},
            [d["scored"] for d in dated],
        )
        out["per_day.png"] = plots.to_png(fig)
    shown = result.channels[:MAX_PLOTTED_CHANNELS]
    if shown:
        out["per_channel.png"] = plots.to_png(
            plots.channel_shares(
                [c["share_any"] for c in shown], [c["scored"] for c in shown], result.review_share
            )
        )
    return out


def render_transparency(
    result: TransparencyResult, *, images: Mapping[str, bytes] | None = None
) -> tuple[str, str]:
    """The report as ``(html, markdown)``."""
    from raqib.reports import Table, _Doc, provenance_section, safe_name

    images = dict(images) if images is not None else transparency_images(result)
    t = result.totals
    doc = _Doc()
    doc.heading(1, "Channel transparency report", "top")
    doc.para(
        "Flags are a model's candidates for human review, not findings. Counts are what the model flagged "
        "at the thresholds below, not what is truly violent or propaganda; the model's evaluation report "
        "says how often it is wrong.",
        css="note",
    )

    provenance_section(
        doc,
        {
            **result.provenance,
            "thresholds": result.thresholds,
            "review_share": result.review_share,
            "min_posts": result.min_posts,
        },
    )

    doc.open_section("summary")
    doc.heading(2, "Summary", "summary-heading")
    rows = [["any label", t["flagged_any"], t["share_any"]]]
    rows += [[lb, t["flagged"][lb], t["share"][lb]] for lb in result.labels]
    doc.bullets(
        [
            f"{t['records']:,} records in {len(result.channels):,} channel(s): {t['scored']:,} scored, "
            f"{t['errors']:,} could not be scored.",
            f"{len(result.review_candidates):,} channel(s) above the review level of "
            f"{result.review_share:.1%} flagged.",
            (
                "Peak day: "
                + f"{result.peak_day['day']} with {result.peak_day['flagged_any']:,} flagged post(s) of "
                f"{result.peak_day['scored']:,} ({result.peak_day['share_any']:.1%})"
            )
            if result.peak_day
            else "Peak day: none (no dated flagged post).",
        ]
    )
    doc.table(
        Table(
            ["label", "flagged posts", "share of scored posts"],
            [[r[0], r[1], f"{r[2]:.2%}"] for r in rows],
            numeric_columns=(1, 2),
            html_id="totals-table",
        )
    )
    doc.close_section()

    if result.notes:
        doc.open_section("notes")
        doc.heading(2, "Notes", "notes-heading")
        doc.bullets(result.notes)
        doc.close_section()

    doc.open_section("review")
    doc.heading(2, "Channels for review", "review-heading")
    review = [c for c in result.channels if c["review"]]
    if review:
        doc.para(
            f"Channels whose share of scored posts flagged (any label) is above {result.review_share:.1%}"
            + (f" with at least {result.min_posts} scored posts" if result.min_posts > 1 else "")
            + ", highest share first."
        )
        doc.table(_channel_table(result, review))
    else:
        doc.para(f"No channel is above the review level of {result.review_share:.1%}.")
    doc.close_section()

    doc.open_section("per-channel")
    doc.heading(2, "Per channel", "per-channel-heading")
    if "per_channel.png" in images:
        doc.image(
            images["per_channel.png"],
            "per_channel.png",
            "flagged share per channel; bar numbers are the row numbers of the table below",
        )
    doc.table(_channel_table(result, result.channels[:MAX_TABLE_ROWS]))
    if len(result.channels) > MAX_TABLE_ROWS:
        doc.para(
            f"{len(result.channels) - MAX_TABLE_ROWS:,} more channel(s) are in report.json.", css="muted"
        )
    doc.close_section()

    doc.open_section("per-day")
    doc.heading(2, "Per day", "per-day-heading")
    if "per_day.png" in images:
        doc.image(images["per_day.png"], "per_day.png", "posts and flagged posts per day")
    days = result.days
    busiest = {d["day"] for d in sorted(days, key=lambda d: (-d["flagged_any"], d["day"]))[:MAX_TABLE_ROWS]}
    shown = [d for d in days if d["day"] in busiest]
    doc.table(
        Table(
            ["day", "scored", "flagged (any)", "share", *[f"flagged {lb}" for lb in result.labels]],
            [
                [
                    d["day"],
                    d["scored"],
                    d["flagged_any"],
                    f"{d['share_any']:.1%}",
                    *[d["flagged"][lb] for lb in result.labels],
                ]
                for d in shown
            ],
            name_columns=(0,),
            numeric_columns=tuple(range(1, 4 + len(result.labels))),
            row_classes=[
                "review" if result.peak_day and d["day"] == result.peak_day["day"] else "" for d in shown
            ],
        )
    )
    if len(days) > len(shown):
        doc.para(
            f"Showing the {len(shown)} days with the most flagged posts; all {len(days):,} are in "
            "report.json.",
            css="muted",
        )
    doc.para(
        "Days are the date part of each post's time as written in its source (no timezone conversion).",
        css="muted",
    )
    doc.close_section()

    doc.open_section("examples")
    doc.heading(2, "Most confident flagged posts", "examples-heading")
    for lb in result.labels:
        doc.heading(3, f"{lb}", f"examples-{safe_name(lb)}")
        ex = result.examples.get(lb, [])
        if not ex:
            doc.para("No post flagged for this label.", css="muted")
            continue
        doc.table(
            Table(
                ["probability", "channel", "id", "date", "text"],
                [
                    [
                        e["probability"],
                        e["channel"] or "",
                        e["id"] or "",
                        e["date"] or "",
                        e["text"] if e["text"] is not None else "(text not available: pass --posts INPUT)",
                    ]
                    for e in ex
                ],
                post_columns=(4,),
                name_columns=(1, 2, 3),
                numeric_columns=(0,),
            )
        )
    doc.close_section()

    doc.open_section("errors")
    doc.heading(2, "Records that could not be scored", "errors-heading")
    err = result.errors
    doc.para(
        f"{err['count']:,} error record(s); {err.get('unreadable_lines', 0):,} unreadable line(s) in the "
        "score files. Error records are counted in 'records' but not in any share."
    )
    if err["by_message"]:
        doc.table(
            Table(
                ["error", "records"],
                [[e["message"], e["count"]] for e in err["by_message"]],
                name_columns=(0,),
                numeric_columns=(1,),
            )
        )
    doc.close_section()
    return doc.render("raqib channel transparency report")


def _channel_table(result: TransparencyResult, channels: Sequence[Mapping[str, Any]]) -> Table:
    from raqib.reports import Table

    index = {c["channel"]: i for i, c in enumerate(result.channels, start=1)}
    return Table(
        [
            "#",
            "channel",
            "scored",
            "errors",
            "flagged (any)",
            "share",
            *[f"flagged {lb}" for lb in result.labels],
            "first day",
            "last day",
        ],
        [
            [
                index[c["channel"]],
                c["channel"],
                c["scored"],
                c["errors"],
                c["flagged_any"],
                f"{c['share_any']:.1%}",
                *[c["flagged"][lb] for lb in result.labels],
                c["first_day"] or "",
                c["last_day"] or "",
            ]
            for c in channels
        ],
        name_columns=(1,),
        numeric_columns=tuple(range(2, 6 + len(result.labels))),
        row_classes=["review" if c["review"] else "" for c in channels],
    )


def write_transparency_report(result: TransparencyResult, out_dir: str | Path) -> ReportFiles:
    """Write ``report.html`` (self-contained), ``report.md`` + PNGs and ``report.json`` into ``out_dir``."""
    from raqib.reports import write_report_files

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = transparency_images(result)
    html_doc, md_doc = render_transparency(result, images=images)
    return write_report_files(out, images, html_doc, md_doc, "report.json", result.to_json())
