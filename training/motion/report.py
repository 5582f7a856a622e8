"""The evaluation report as tables: plain rows the console (rich) and the markdown file share."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from xactor.engines.timebase import FPS

# key, label, format; ↑ higher is better, ↓ lower is better, ≈ closest to the truth's value is best
METRICS: tuple[tuple[str, str, str], ...] = (
    ("rho_jaw", "ρ jawOpen ↑", "{:.3f}"),
    ("lip_mae", "lip MAE ↓", "{:.4f}"),
    ("lve", "LVE (face widths) ↓", "{:.4f}"),
    ("bilabial_closed", "closed on P/B/M ↑", "{:.1%}"),
    ("other_closed", "closed, other speech ↓", "{:.1%}"),
    ("fdd_upper", "upper-face FDD ↓", "{:.4f}"),
    ("emotion_acc", "emotion accuracy ↑", "{:.1%}"),
    ("jitter_head", "jitter head ≈", "{:.5f}"),
    ("jitter_mouth", "jitter mouth ≈", "{:.5f}"),
    ("jitter_brows", "jitter brows ≈", "{:.5f}"),
    ("jitter_eyes", "jitter eyes ≈", "{:.5f}"),
    ("jitter_gaze", "jitter gaze ≈", "{:.5f}"),
    ("beat_align", "beat alignment ≈", "{:.3f}"),
    ("beat_align_chance", "beat alignment, chance", "{:.3f}"),
)
PCT = "{:.0f}%"
LIP_SYNC = ("rho_jaw", "lip_mae", "lve", "bilabial_closed", "other_closed")
EMOTION_GIVEN_LIPS = ("rho_jaw", "lip_mae", "bilabial_closed")  # shown inferred / given


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]


def drift_cell(dr: dict[str, Any]) -> str:
    """Worst channel's drift of mean and std, and which channel it was."""
    if not dr:
        return "—"
    return f"{fmt(dr.get('mean_pct'), PCT)} / {fmt(dr.get('std_pct'), PCT)} ({dr.get('worst_channel', '?')})"


def drift_cells(dr: dict[str, Any]) -> list[str]:
    """Worst channel (all, then without Life's blinks and gaze) and the median channel."""
    median = fmt(dr.get("median_mean_pct"), PCT) if dr else "—"
    return [drift_cell(dr), drift_cell(dr.get("without_life", {}) if dr else {}), median]


def fmt(value: Any, spec: str = "{:.3f}") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return spec.format(value)


def tables(report: dict[str, Any]) -> list[Table]:
    """Every table of a report from :func:`xactor.training.motion.evaluate.evaluate`, in reading order."""
    out = []
    for cond, title in (
        ("clean", "test split, clean audio"),
        ("augmented", "test split, call-degraded audio"),
    ):
        if cond not in report:
            continue
        cols = report[cond]["columns"]
        spans = {c["span"]: c["frames"] for c in cols}
        minutes = "; ".join(f"{k}: {v / FPS / 60:.1f} min" for k, v in spans.items())
        header = ["metric"] + [c["label"] for c in cols]
        rows = [[label] + [fmt(c["metrics"].get(key), spec) for c in cols] for key, label, spec in METRICS]
        out.append(Table(f"{title} ({minutes})", header, rows))
    specs = {k: s for k, _, s in METRICS}
    labels = {k: label for k, label, _ in METRICS}
    given = report.get("emotion_given", {})
    if given:
        header = [
            "source",
            "emotion accuracy: inferred",
            "given",
            "truth (ceiling)",
            *(f"{labels[k]}: inferred / given" for k in EMOTION_GIVEN_LIPS),
        ]
        rows = [
            [
                name if g["span"] == "all" else f"{name} {g['span']}",
                fmt(g["inferred"]["emotion_acc"], specs["emotion_acc"]),
                fmt(g["given"]["emotion_acc"], specs["emotion_acc"]),
                fmt(g["truth_emotion_acc"], specs["emotion_acc"]),
                *(
                    f"{fmt(g['inferred'][k], specs[k])} / {fmt(g['given'][k], specs[k])}"
                    for k in EMOTION_GIVEN_LIPS
                ),
            ]
            for name, g in given.items()
        ]
        out.append(
            Table(
                "emotion inferred from the audio vs given (true label and intensity per frame)", header, rows
            )
        )
    for name, la in report.get("lookahead", {}).items():
        header = ["L"] + [label for key, label, _ in METRICS if key in LIP_SYNC]
        rows = [
            [f"{L}{' (default)' if int(L) == la['default'] else ''}"]
            + [fmt(r[k], specs[k]) for k in LIP_SYNC]
            for L, r in la["rows"].items()
        ]
        out.append(
            Table(f"{name}: lookahead (first {la['seconds_per_clip']:g} s of each clip)", header, rows)
        )
    names = list(report.get("diversity", {}))
    if names:
        rows = []
        for name in names:
            so = report.get("streaming_vs_offline", {}).get(name, {})
            dr = report.get("drift", {}).get(name, {})
            rows.append(
                [
                    name,
                    fmt(report["diversity"][name]),
                    fmt(so.get("rho_jaw")),
                    fmt(so.get("lip_mae"), "{:.4f}"),
                    f"{fmt(so.get('stream_rho_jaw_truth'))} / {fmt(so.get('offline_rho_jaw_truth'))}"
                    if so
                    else "—",
                    *drift_cells(dr),
                ]
            )
        seeds = report.get("config", {}).get("seeds", 3)
        header = [
            "source",
            f"diversity, {seeds} seeds (÷ truth σ)",
            "stream↔offline ρ jaw",
            "stream↔offline lip MAE",
            "ρ jaw vs truth: stream / offline",
            "drift, worst channel: mean / std (which)",
            "drift without Life's blinks and gaze",
            "drift, median channel: mean",
        ]
        out.append(Table("sampling: diversity, streaming vs offline, drift", header, rows))
    times = report.get("timings_s", {})
    if times:
        rows = [[part, f"{s:.1f}"] for part, s in times.items()]
        wall = report.get("wall_s", sum(times.values()))
        out.append(Table("runtime", ["part", "seconds"], [*rows, ["total (wall clock)", f"{wall:.1f}"]]))
    return out


def json_safe(value: Any) -> Any:
    """The report with NaN as null (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def markdown(report: dict[str, Any]) -> str:
    """The tables as GitHub markdown, with the run's notes."""
    lines = ["# xactor eval motion", ""]
    for t in tables(report):
        lines += [f"## {t.title}", "", "| " + " | ".join(t.header) + " |", "|" + "---|" * len(t.header)]
        lines += ["| " + " | ".join(r) + " |" for r in t.rows]
        lines.append("")
    if report.get("notes"):
        lines += ["## notes", ""] + [f"- {n}" for n in report["notes"]] + [""]
    return "\n".join(lines)
