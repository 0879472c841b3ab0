"""Evaluation reports: one `EvaluationResult` rendered as self-contained HTML, Markdown and JSON.

Post text is hostile input. Everything taken from data (texts, ids, channel and file names, group names)
goes through `html_text` or `md_text`: HTML-escaped, bidi override and isolate controls (U+202A-202E,
U+2066-2069) replaced by a visible marker, other control characters likewise, never turned into links.
The HTML page also forbids scripts and remote loads with a Content-Security-Policy, so a mistake in
escaping cannot run code or call out. Arabic cells are ``dir="auto"`` with ``<bdi>``, so they read
right-to-left inside a left-to-right report.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from raqib.evaluation import EvaluationResult, LabelMetrics

TEXT_LIMIT = 600
"""Characters of a post shown in a report cell (the JSON keeps the full text)."""

_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_CONTROL = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029\ufeff]")
_UNSAFE = re.compile(
    "[\u202a-\u202e\u2066-\u2069\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029\ufeff]"
)

ARABIC_FONTS = '"Noto Naskh Arabic", "Noto Sans Arabic", "Amiri", "DejaVu Sans", "Arial", sans-serif'
"""CSS font stack for post text: Arabic faces first (Debian fonts-noto-core, fonts-hosny-amiri)."""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
"""No scripts, no remote anything: the report works offline and a post cannot make it call out."""

CSS = f"""
body {{ font-family: "Noto Sans", "DejaVu Sans", Arial, sans-serif; margin: 1.5em auto; max-width: 1160px;
       color: #222; line-height: 1.45; padding: 0 1em; }}
h1 {{ font-size: 1.6em; }} h2 {{ border-bottom: 2px solid #1f4e79; padding-bottom: .2em; margin-top: 2em; }}
table {{ border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; display: block; overflow-x: auto;
         max-width: 100%; }}
th, td {{ border: 1px solid #ccc; padding: .25em .55em; vertical-align: top; }}
th {{ background: #eef2f7; text-align: left; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
td.post {{ font-family: {ARABIC_FONTS}; font-size: 1.05em; white-space: pre-wrap; overflow-wrap: anywhere;
          min-width: 16em; max-width: 38em; }}
td.name {{ font-family: "Noto Sans", {ARABIC_FONTS}; overflow-wrap: break-word; max-width: 18em; }}
td.post bdi, td.name bdi {{ display: block; }}
.ctl {{ background: #fde2e2; color: #900; font-family: monospace; font-size: .8em; padding: 0 .2em; }}
.note {{ background: #fff7e0; border-left: 4px solid #bf9000; padding: .5em .8em; margin: .8em 0; }}
#provenance-table td.name {{ max-width: 60em; }}
#provenance-table td:first-child {{ font-weight: bold; white-space: nowrap; }}
tr.operating td {{ background: #e2efda; font-weight: bold; }}
tr.review td {{ background: #fbe5d6; }}
img {{ max-width: 100%; height: auto; }}
.muted {{ color: #666; font-size: .9em; }}
"""


# ------------------------------------------------------------------------------------------------------------
# Hostile text
# ------------------------------------------------------------------------------------------------------------


def _control_name(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def _shorten(text: str, limit: int | None) -> tuple[str, bool]:
    if limit is not None and len(text) > limit:
        return text[:limit], True
    return text, False


def html_text(value: Any, *, limit: int | None = None) -> str:
    """Data as inert HTML: escaped, control characters shown as visible markers, optionally shortened."""
    text, cut = _shorten("" if value is None else str(value), limit)
    out: list[str] = []
    pos = 0
    for m in _UNSAFE.finditer(text):
        out.append(html.escape(text[pos : m.start()], quote=True))
        kind = "bidi control" if _BIDI.match(m.group()) else "control character"
        out.append(f'<span class="ctl" title="{kind} removed">[{_control_name(m.group())}]</span>')
        pos = m.end()
    out.append(html.escape(text[pos:], quote=True))
    if cut:
        out.append('<span class="muted"> … (shortened)</span>')
    return "".join(out)


def html_post(value: Any, *, limit: int | None = TEXT_LIMIT, css: str = "post") -> str:
    """A cell of data (post text, channel or group name, id): escaped, isolated in a ``<bdi>`` block whose
    direction comes from its own first strong letter, so Arabic reads and aligns right-to-left."""
    return f'<td class="{css}"><bdi dir="auto">{html_text(value, limit=limit)}</bdi></td>'


_MD_ALWAYS = re.compile(r"([\\`*\[\]|~])")
_MD_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")  # intraword _ is not emphasis in GFM
_MD_LEADING = re.compile(r"^([#+-])")
_MD_ORDERED = re.compile(r"^(\d+)([.)])(?=\s|$)")  # "1. " starts a list; "0.5" does not


def md_text(value: Any, *, limit: int | None = None) -> str:
    """Data as inert Markdown (table-cell safe): no raw HTML, no emphasis or links, no autolinks, one line.

    ``<``, ``>`` and ``&`` become entities (so no HTML survives, in any renderer); brackets, backticks,
    asterisks, pipes, tildes and word-edge underscores are backslash-escaped (no links, code or emphasis);
    ``://``, ``www.`` and ``@`` are broken with entities (GitHub autolinks those in plain text); a leading
    list or heading marker is escaped; line breaks become `` ⏎ ``.
    """
    text, cut = _shorten("" if value is None else str(value), limit)
    text = _UNSAFE.sub(lambda m: f"[{_control_name(m.group())}]", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_ALWAYS.sub(r"\\\1", text)
    text = _MD_UNDERSCORE.sub(r"\\_", text)
    text = text.replace("://", "&#58;//").replace("@", "&#64;")
    text = re.sub(r"(?i)\bwww\.", "www&#46;", text)
    text = re.sub(r"\s*[\r\n]+\s*", " ⏎ ", text).strip()
    text = _MD_ORDERED.sub(r"\1\\\2", _MD_LEADING.sub(r"\\\1", text))
    return text + (" … (shortened)" if cut else "")


# ------------------------------------------------------------------------------------------------------------
# Building blocks
# ------------------------------------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table: fixed digits, ``n/a`` for None."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def fmt_ci(value: float | None, ci: Sequence[float] | None, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if not ci:
        return fmt(value, digits)
    return f"{value:.{digits}f} ({ci[0]:.{digits}f}–{ci[1]:.{digits}f})"


@dataclass
class Table:
    """A table rendered the same way in HTML and Markdown. Cells hold plain values."""

    header: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    post_columns: tuple[int, ...] = ()
    """Columns holding post text from the data: isolated, direction-aware, in an Arabic font, shortened."""
    name_columns: tuple[int, ...] = ()
    """Columns holding short data (ids, channel and group names, dates): isolated, direction-aware."""
    name_limit: int | None = 200
    """Characters shown of a ``name_columns`` cell."""
    numeric_columns: tuple[int, ...] = ()
    row_classes: list[str] = field(default_factory=list)
    html_id: str | None = None

    def html(self) -> str:
        if not self.rows:
            return '<p class="muted">(none)</p>'
        tid = f' id="{html.escape(self.html_id)}"' if self.html_id else ""
        out = [
            f"<table{tid}><thead><tr>",
            *(f"<th>{html_text(h)}</th>" for h in self.header),
            "</tr></thead><tbody>",
        ]
        for k, row in enumerate(self.rows):
            cls = self.row_classes[k] if k < len(self.row_classes) and self.row_classes[k] else ""
            out.append(f'<tr class="{cls}">' if cls else "<tr>")
            for j, cell in enumerate(row):
                if j in self.post_columns:
                    out.append(html_post(cell))
                elif j in self.name_columns:
                    out.append(html_post(cell, limit=self.name_limit, css="name"))
                elif j in self.numeric_columns:
                    out.append(f'<td class="num">{html_text(fmt(cell))}</td>')
                else:
                    out.append(f"<td>{html_text(fmt(cell))}</td>")
            out.append("</tr>")
        out.append("</tbody></table>")
        return "".join(out)

    def markdown(self) -> str:
        if not self.rows:
            return "_(none)_\n"
        lines = [
            "| " + " | ".join(md_text(h) for h in self.header) + " |",
            "|"
            + "|".join("---:" if j in self.numeric_columns else "---" for j in range(len(self.header)))
            + "|",
        ]
        for row in self.rows:
            cells = [
                md_text(c, limit=TEXT_LIMIT)
                if j in self.post_columns
                else md_text(c, limit=self.name_limit)
                if j in self.name_columns
                else md_text(fmt(c))
                for j, c in enumerate(row)
            ]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def page(title: str, body: str) -> str:
    """A complete, self-contained HTML page: UTF-8, English frame, no scripts, no remote resources."""
    return (
        '<!DOCTYPE html>\n<html lang="en" dir="ltr">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html_text(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def provenance_rows(provenance: Mapping[str, Any]) -> list[list[Any]]:
    rows = []
    for key, value in provenance.items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False, sort_keys=True)
        rows.append([key, "n/a" if value is None else value])
    return rows


def provenance_section(doc: _Doc, provenance: Mapping[str, Any]) -> None:
    """The "Provenance" section every report opens with: what was scored, by what, with which settings."""
    doc.open_section("provenance")
    doc.heading(2, "Provenance", "provenance-heading")
    doc.table(
        Table(["item", "value"], name_columns=(1,), name_limit=None, html_id="provenance-table",
              rows=provenance_rows(provenance))
    )
    doc.close_section()


def safe_name(text: str) -> str:
    """A label or name as a file-name and HTML-id fragment."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "x"


@dataclass(frozen=True)
class ReportFiles:
    """What a report writer wrote."""

    html: Path
    markdown: Path
    json: Path
    images: list[Path]


class _Doc:
    """Collects one report as HTML and Markdown side by side, so both always have the same sections."""

    def __init__(self) -> None:
        self.html: list[str] = []
        self.md: list[str] = []

    def heading(self, level: int, text: str, anchor: str) -> None:
        self.html.append(f'<h{level} id="{html.escape(anchor)}">{html_text(text)}</h{level}>')
        self.md.append(f"{'#' * level} {md_text(text)}\n")

    def para(self, text: str, *, css: str | None = None) -> None:
        cls = f' class="{css}"' if css else ""
        self.html.append(f"<p{cls}>{html_text(text)}</p>")
        self.md.append(("> " if css == "note" else "") + md_text(text) + "\n")

    def bullets(self, items: Iterable[str]) -> None:
        items = list(items)
        self.html.append("<ul>" + "".join(f"<li>{html_text(i)}</li>" for i in items) + "</ul>")
        self.md.append("".join(f"- {md_text(i)}\n" for i in items))

    def table(self, table: Table) -> None:
        self.html.append(table.html())
        self.md.append(table.markdown())

    def image(self, png: bytes, file_name: str, alt: str) -> None:
        self.html.append(f'<p><img src="{data_uri(png)}" alt="{html_text(alt)}"></p>')
        self.md.append(f"![{md_text(alt)}]({file_name})\n")

    def open_section(self, anchor: str) -> None:
        self.html.append(f'<section id="{html.escape(anchor)}">')

    def close_section(self) -> None:
        self.html.append("</section>")

    def render(self, title: str) -> tuple[str, str]:
        return page(title, "\n".join(self.html)), "\n".join(self.md).rstrip() + "\n"


# ------------------------------------------------------------------------------------------------------------
# Evaluation report
# ------------------------------------------------------------------------------------------------------------


def _metric_row(system: str, kind: str, label: str, m: LabelMetrics) -> list[Any]:
    ci = m.ci
    return [
        f"{system} ({kind})",
        label,
        m.threshold,
        fmt_ci(m.precision, ci.get("precision")),
        fmt_ci(m.recall, ci.get("recall")),
        fmt_ci(m.f1, ci.get("f1")),
        fmt_ci(m.average_precision, ci.get("average_precision")) if not m.hard_labels else "n/a (0/1 labels)",
        m.roc_auc if not m.hard_labels else "n/a (0/1 labels)",
        m.predicted_positive,
        m.support,
    ]


_METRIC_HEADER = [
    "system",
    "label",
    "threshold",
    "precision (95% CI)",
    "recall (95% CI)",
    "F1 (95% CI)",
    "PR-AUC (95% CI)",
    "ROC-AUC",
    "flagged",
    "positives",
]


def _summary_section(doc: _Doc, result: EvaluationResult, *, level: int) -> None:
    doc.open_section("summary")
    doc.heading(level, "Summary", "summary-heading")
    rows, classes = [], []
    for label in result.labels:
        rows.append(_metric_row(result.name, "model", label, result.metrics[label]))
        classes.append("operating")
        for c in result.comparisons:
            if label in c.metrics:
                rows.append(_metric_row(c.name, c.kind, label, c.metrics[label]))
                classes.append("")
    doc.table(
        Table(
            _METRIC_HEADER,
            rows,
            numeric_columns=tuple(range(2, 10)),
            row_classes=classes,
            html_id="metrics-table",
        )
    )
    boot = result.bootstrap
    if boot.get("n"):
        doc.para(
            f"Intervals: {boot.get('method', 'percentile')} bootstrap, {boot['n']} resamples of the "
            f"examples, seed {boot.get('seed')}, {boot.get('confidence', 0.95):.0%}; every system uses the "
            "same resamples.",
            css="muted",
        )
    doc.bullets(
        [
            f"{label}: threshold {result.metrics[label].threshold:.4g}, "
            f"{result.threshold_rules.get(label, '')}"
            for label in result.labels
        ]
        + [f"{c.name} ({c.kind}): {c.description}" for c in result.comparisons]
    )
    doc.close_section()


def _group_table(groups: Sequence[Mapping[str, Any]]) -> Table:
    return Table(
        ["group", "examples", "positives", "flagged", "precision", "recall", "F1", "PR-AUC"],
        [[g["group"], g["n"], g["support"], g["predicted_positive"], g["precision"], g["recall"], g["f1"],
          g["average_precision"]] for g in groups],
        name_columns=(0,),
        numeric_columns=(1, 2, 3, 4, 5, 6, 7),
    )


def render_summary_markdown(result: EvaluationResult, *, level: int = 2, groups: bool = False) -> str:
    """The summary section alone, as Markdown (metrics, intervals, rules, notes): for model cards.

    ``groups`` adds the model's metrics per group (per source, for the shipped model's test split).
    """
    doc = _Doc()
    _summary_section(doc, result, level=level)
    if result.notes:
        doc.bullets(result.notes)
    for label in result.labels if groups else ():
        if result.details[label].groups:
            doc.heading(level + 1, f"Per group: {label}", f"{safe_name(label)}-groups")
            doc.table(_group_table(result.details[label].groups))
    doc.para(
        f"{result.n_examples:,} examples; dataset sha256 {result.provenance.get('dataset_sha256') or 'n/a'}; "
        f"raqib {result.provenance.get('raqib_version', '?')}."
    )
    return doc.render("")[1]


def render_evaluation(
    result: EvaluationResult, *, images: Mapping[str, bytes] | None = None
) -> tuple[str, str]:
    """The report as ``(html, markdown)``. ``images`` maps file names to PNG bytes (drawn when not given)."""
    images = dict(images) if images is not None else evaluation_images(result)
    doc = _Doc()
    doc.heading(1, f"Evaluation report: {result.name}", "top")
    doc.para(
        "Every flag is a candidate for human review, not a verdict. The numbers hold for data like this "
        "evaluation set only; read the false positives and false negatives before relying on them.",
        css="note",
    )

    provenance_section(
        doc,
        {
            "system": result.name,
            "examples": result.n_examples,
            "labels": ", ".join(result.labels),
            **result.provenance,
            "gold_sha256": result.gold_sha256,
        },
    )

    _summary_section(doc, result, level=2)

    if result.notes:
        doc.open_section("notes")
        doc.heading(2, "Notes", "notes-heading")
        doc.bullets(result.notes)
        doc.close_section()

    for label in result.labels:
        _label_section(doc, result, label, images)

    doc.open_section("method")
    doc.heading(2, "How to read this report", "method-heading")
    doc.bullets(
        [
            "Precision: of the posts flagged, the share that are truly positive. Recall: of the truly "
            "positive posts, the share flagged. F1: their harmonic mean. All at the threshold shown "
            "(flag when probability >= threshold).",
            "PR-AUC is average precision over all thresholds (sklearn.metrics.average_precision_score); "
            "chance level is the positive rate. ROC-AUC is n/a when one class is absent.",
            "The thresholds were chosen before this evaluation; choosing them on this set would make it "
            "optimistic.",
            "Reliability: in a well-calibrated model, of the posts given probability p, a share p are "
            "positive. "
            "ECE is the count-weighted mean gap over 10 equal-width bins.",
            "Metrics come from scikit-learn; per-group numbers on small groups are noisy.",
        ]
    )
    doc.close_section()
    return doc.render(f"raqib evaluation: {result.name}")


def _label_section(doc: _Doc, result: EvaluationResult, label: str, images: Mapping[str, bytes]) -> None:
    m = result.metrics[label]
    d = result.details[label]
    key = safe_name(label)
    doc.open_section(f"label-{key}")
    doc.heading(2, f"Label: {label}", f"{key}")

    doc.heading(3, "Metrics at the operating threshold", f"{key}-metrics")
    rows = [_metric_row(result.name, "model", label, m)]
    rows += [
        _metric_row(c.name, c.kind, label, c.metrics[label]) for c in result.comparisons if label in c.metrics
    ]
    doc.table(
        Table(
            _METRIC_HEADER,
            rows,
            numeric_columns=tuple(range(2, 10)),
            row_classes=["operating"] + [""] * (len(rows) - 1),
        )
    )

    doc.heading(3, "Confusion matrix", f"{key}-confusion")
    (tn, fp), (fn, tp) = m.confusion
    doc.table(
        Table(
            ["", "flagged", "not flagged"],
            [
                ["gold positive", f"{tp:,} (true positives)", f"{fn:,} (false negatives)"],
                ["gold negative", f"{fp:,} (false positives)", f"{tn:,} (true negatives)"],
            ],
        )
    )

    doc.heading(3, "Precision-recall curve", f"{key}-pr-curve")
    name = f"{key}_pr_curve.png"
    if name in images:
        doc.image(images[name], name, f"{label} precision-recall curve, operating points marked")

    doc.heading(3, "Threshold sweep", f"{key}-sweep")
    sweep_rows = [
        [r["threshold"], r["precision"], r["recall"], r["f1"], r["flagged"], r["flagged_share"]]
        for r in d.sweep
    ]
    operating = (
        min(range(len(d.sweep)), key=lambda i: abs(d.sweep[i]["threshold"] - m.threshold)) if d.sweep else -1
    )
    doc.table(
        Table(
            ["threshold", "precision", "recall", "F1", "flagged", "flagged share"],
            sweep_rows,
            numeric_columns=(0, 1, 2, 3, 4, 5),
            row_classes=["operating" if i == operating else "" for i in range(len(sweep_rows))],
        )
    )
    doc.para(
        f"The highlighted row is the sweep value nearest the operating threshold ({m.threshold:.4g}).",
        css="muted",
    )

    doc.heading(3, "Calibration", f"{key}-calibration")
    name = f"{key}_reliability.png"
    if name in images:
        doc.image(images[name], name, f"{label} reliability diagram")
    ece = d.calibration.get("ece")
    doc.para(f"Expected calibration error (10 equal-width bins): {fmt(ece)}.")
    doc.table(
        Table(
            ["bin", "examples", "mean predicted", "observed positive rate"],
            [
                [f"{b['low']:.1f}-{b['high']:.1f}", b["count"], b["mean_predicted"], b["fraction_positive"]]
                for b in d.calibration["bins"]
            ],
            numeric_columns=(1, 2, 3),
        )
    )

    for anchor, title, examples in (
        (f"{key}-false-positives", "Highest-scoring false positives", d.false_positives),
        (f"{key}-false-negatives", "Lowest-scoring false negatives", d.false_negatives),
    ):
        doc.heading(3, title, anchor)
        table = Table(
            ["id", "probability", "group", "text"],
            [
                [e.id, e.probability, e.group or "", e.text if e.text is not None else "(text not available)"]
                for e in examples
            ],
            post_columns=(3,),
            name_columns=(0, 2),
            numeric_columns=(1,),
        )
        doc.table(table)

    doc.heading(3, "Per group", f"{key}-groups")
    if d.groups:
        doc.table(_group_table(d.groups))
    else:
        doc.para("No group column was given (use --group-column).", css="muted")
    doc.close_section()


def evaluation_images(result: EvaluationResult) -> dict[str, bytes]:
    """The report's figures as PNG bytes, by file name."""
    from raqib import plots

    out = {}
    for label in result.labels:
        key = safe_name(label)
        out[f"{key}_pr_curve.png"] = plots.to_png(plots.pr_curve(result, label))
        out[f"{key}_reliability.png"] = plots.to_png(plots.reliability(result, label))
    return out


def write_evaluation_report(result: EvaluationResult, out_dir: str | Path) -> ReportFiles:
    """Write ``report.html`` (self-contained), ``report.md`` + PNGs and ``metrics.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = evaluation_images(result)
    html_doc, md_doc = render_evaluation(result, images=images)
    return write_report_files(out, images, html_doc, md_doc, "metrics.json", result.to_json())


def write_report_files(
    out: Path, images: Mapping[str, bytes], html_doc: str, md_doc: str, json_name: str, json_doc: str
) -> ReportFiles:
    """A report's files in ``out``: the PNGs, ``report.html``, ``report.md`` and its JSON."""
    paths = []
    for name, png in images.items():
        (out / name).write_bytes(png)
        paths.append(out / name)
    (out / "report.html").write_text(html_doc, encoding="utf-8")
    (out / "report.md").write_text(md_doc, encoding="utf-8")
    (out / json_name).write_text(json_doc + "\n", encoding="utf-8")
    return ReportFiles(out / "report.html", out / "report.md", out / json_name, paths)
