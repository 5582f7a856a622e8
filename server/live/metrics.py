"""Prometheus metrics of the live path, on a registry owned by one app (no global collector state).

Every test app gets its own :class:`LiveMetrics`, so apps built side by side never collide on
metric names. ``/metrics`` renders ``LiveMetrics.registry``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from xactor.server.live.thread_cpu import ThreadCpuCollector

STAGES = ("resample", "vad", "features", "motion", "render", "encode")

# Stage times: 0.1 ms .. 1 s. Latencies: 5 ms .. 2 s (the goal is p95 <= 160 ms).
_STAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 1.0)
_LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.2, 0.3, 0.5, 1.0, 2.0)
# Event-loop lag and worker turns: 1 ms .. 5 s (a turn should take about a frame, 40 ms).
_STALL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LiveMetrics:
    """Histograms per stage plus frame, drop and session counters."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        if registry is None:  # the standard process_* metrics (CPU seconds, memory, descriptors)
            ProcessCollector(registry=r)
            ThreadCpuCollector(registry=r)  # and where the CPU goes, thread by thread
        self.stage_seconds = Histogram(
            "xactor_stage_seconds",
            "Compute time per stage and call (resample: per audio frame; the others: per video frame).",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.audio_to_encoder_seconds = Histogram(
            "xactor_audio_to_encoder_seconds",
            "From the arrival of the newest audio sample a frame used to the moment the frame reached the "
            "encoder (server-side audio-in -> frame-out).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.own_audio_to_encoder_seconds = Histogram(
            "xactor_own_audio_to_encoder_seconds",
            "From the arrival of the last sample of a frame's own 40 ms of audio to the frame reaching the "
            "encoder (adds the lookahead to xactor_audio_to_encoder_seconds).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.audio_to_send_seconds = Histogram(
            "xactor_audio_to_send_seconds",
            "From the arrival of the newest audio sample a frame used to the moment its packets were handed "
            "to RTP (includes encoding).",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.first_frame_seconds = Histogram(
            "xactor_first_frame_seconds",
            "From the answer being ready to the first video frame sent.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.gc_pause_seconds = Histogram(
            "xactor_gc_pause_seconds",
            "Python garbage collections, each a pause of every thread (by generation).",
            ["generation"],
            buckets=_STALL_BUCKETS,
            registry=r,
        )
        self.frames = Counter("xactor_frames_sent", "Video frames sent (new content).", registry=r)
        self.frames_repeated = Counter(
            "xactor_frames_repeated", "Frames re-sent because the renderer was late.", registry=r
        )
        self.frames_dropped = Counter(
            "xactor_frames_dropped", "Motion or rendered frames skipped, newest wins.", ["reason"], registry=r
        )
        self.audio_dropped_samples = Counter(
            "xactor_audio_dropped_samples", "16 kHz input samples dropped by a full audio inbox.", registry=r
        )
        self.silence_samples = Counter(
            "xactor_silence_fill_samples", "16 kHz samples of silence fed while the mic stalled.", registry=r
        )
        self.sessions_started = Counter("xactor_sessions_started", "Live sessions started.", registry=r)
        self.sessions_rejected = Counter(
            "xactor_sessions_rejected", "Session offers refused.", ["reason"], registry=r
        )
        self.sessions_active = Gauge("xactor_sessions_active", "Live sessions now open.", registry=r)
        self.capacity_sessions = Gauge(
            "xactor_capacity_sessions", "Sessions admitted at once (measured or set).", registry=r
        )
        # Health of the process's two schedulers (server/watchdog.py).
        self.loop_lag_seconds = Histogram(
            "xactor_loop_lag_seconds",
            "How late the event loop wakes a 50 ms timer (time the loop could not run anything else).",
            buckets=_STALL_BUCKETS,
            registry=r,
        )
        self.loop_lag_max_seconds = Gauge(
            "xactor_loop_lag_max_seconds", "Largest event-loop lag in the last minute or so.", registry=r
        )
        self.loop_stalls = Counter(
            "xactor_loop_stalls", "Event-loop lags over the threshold (settings.loop_stall_ms).", registry=r
        )
        self.worker_turn_seconds = Histogram(
            "xactor_worker_turn_seconds",
            "Render-worker turns with sessions (ingest every stream, render the due frames).",
            buckets=_STALL_BUCKETS,
            registry=r,
        )
        self.worker_stalls = Counter(
            "xactor_worker_stalls",
            "Render-worker turns over the threshold (settings.worker_stall_ms).",
            registry=r,
        )
