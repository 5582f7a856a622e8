"""The real-speech report as Markdown: sources side by side (the heuristic baseline beside the
learned ones), one table per portrait and way of making frames, one in motion space."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from typing import Any


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return f"{value:.{digits}f}"


def _rows(scores: dict[str, dict[str, Any]], opening_name: str) -> list[list[str]]:
    def row(name: str, fn: Any) -> list[str]:
        return [name, *(fn(s) for s in scores.values())]

    return [
        row(
            "/p b m/ visibly closed ↑",
            lambda s: f"{s['bilabials_closed']}/{s['bilabials']} ({_num(100 * s['closed_share'], 0)} %)",
        ),
        row("open/closed contrast ↑", lambda s: _num(s["contrast"])),
        row("ρ with phone openness, lag 0 ↑", lambda s: _num(s["rho"])),
        row(
            "best lag (ms; between frames) / ρ there",
            lambda s: f"{_num(s['lag_ms'], 0)} ({_num(s.get('lag_ms_fine'), 0)}) / {_num(s['rho_at_lag'])}",
        ),
        row(f"{opening_name} on open vowels", lambda s: _num(s["open_vowel_opening"], 3)),
        row("frames measured", lambda s: f"{s['measured_frames']}/{s['frames']}"),
    ]


def _table(
    title: str, scores: dict[str, dict[str, Any]], opening_name: str, extra: Sequence[list[str]] = ()
) -> str:
    header = ["metric", *scores]
    lines = [f"**{title}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in [*_rows(scores, opening_name), *extra]:
        lines.append("| " + " | ".join(r) + " |")
    return "\n".join(lines) + "\n"


def _worst_clip(by_clip: dict[str, float]) -> str:
    """The clip the source follows least well, with its ρ ("–" when not measured)."""
    finite = {k: v for k, v in by_clip.items() if v == v}
    if not finite:
        return "–"
    clip = min(finite, key=lambda k: finite[k])
    return f"{_num(finite[clip])} ({clip})"


def markdown(report: dict[str, Any]) -> str:
    dev = report["devset"]
    parts = [
        f"Dev set: {len(dev['clips'])} clips, {dev['seconds']} s, {len(dev['speakers'])} speakers, "
        f"{dev['bilabials']} /p b m/. Weights: `{report['weights_dir']}`, "
        f"lookahead {report.get('lookahead', 1)}. Visibly closed: pixel "
        f"opening ≤ {report['pixel_closed_threshold']} of the mouth width within the phone ±1 frame; "
        f"motion space ≤ {_num(report['motion_closed_threshold'], 3)}.\n",
    ]
    for mode in ("offline", "live"):
        if mode not in report:
            continue
        for portrait, scores in report[mode]["pixels"].items():
            if not scores:
                continue
            extra = []
            if mode == "live":
                fps = report[mode]["client_fps"].get(portrait, {})
                extra.append(["frames a second received", *(_num(fps.get(label), 1) for label in scores)])
            parts.append(_table(f"{mode}, pixels, {portrait}", scores, "inner-lip opening / width", extra))
    offline = report.get("offline") or {}
    space = offline.get("motion_space")
    if space:
        jaw = [
            "jawOpen on open vowels (corpus target)",
            *(
                f"{_num(s['jaw_open_vowels'], 3)} ({_num(s['jaw_target_open_vowels'], 3)})"
                for s in space.values()
            ),
        ]
        peak = [
            "jawOpen peak per open vowel (corpus target)",
            *(
                f"{_num(s.get('jaw_peak_open_vowels'), 3)} ({_num(s.get('jaw_target_peak'), 3)})"
                for s in space.values()
            ),
        ]
        jaw_rho = [
            "ρ of jawOpen alone with phone openness",
            *(_num(s.get("jaw_rho")) for s in space.values()),
        ]
        worst = [
            "lip opening's ρ, worst clip",
            *(_worst_clip(s.get("rho_by_clip") or {}) for s in space.values()),
        ]
        press = [
            "mouthPress on /p b m/ · on /t d n k g ng/ (corpus targets)",
            *(
                f"{_num(s.get('press_bilabials'))} ({_num(s.get('press_target_bilabials'))}) · "
                f"{_num(s.get('press_tongue_stops'))} ({_num(s.get('press_target_tongue_stops'))})"
                for s in space.values()
            ),
        ]
        acc = offline.get("phone_recognizer") or {}
        rec = [
            "phone recognizer: frames / speech / /p b m/",
            *(
                "–"
                if not acc.get(label)
                else f"{_num(100 * acc[label]['all'], 0)} / {_num(100 * acc[label]['speech'], 0)} / "
                f"{_num(100 * acc[label]['bilabial'], 0)} %"
                for label in space
            ),
        ]
        parts.append(
            _table(
                "offline, motion space (face model, no pose)",
                space,
                "lip opening",
                [jaw, peak, jaw_rho, worst, press, rec],
            )
        )
    return "\n".join(parts)


def merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One report from runs of the same dev set split by source (``--sources`` per process, so a
    small machine runs them side by side): their sources side by side."""
    if not reports:
        raise ValueError("nothing to merge")
    if len({json.dumps(r["devset"], sort_keys=True) for r in reports}) > 1:
        raise ValueError("the reports are of different dev sets or clips")
    out = copy.deepcopy(reports[0])
    for other in reports[1:]:
        out["sources"] += [s for s in other["sources"] if s not in out["sources"]]
        for mode in ("offline", "live"):
            if mode not in other:
                continue
            mine = out.setdefault(mode, {"pixels": {}})
            for key, value in other[mode].items():
                if key == "pixels":
                    for portrait, scores in value.items():
                        mine["pixels"].setdefault(portrait, {}).update(scores)
                elif isinstance(value, dict):
                    mine.setdefault(key, {}).update(value)
    return out
