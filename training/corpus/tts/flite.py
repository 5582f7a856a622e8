"""flite speech with phoneme timings read from the engine's own utterance.

Why the C library and not the ``flite`` binary: the binary can print phonemes (``-ps``) but not
their times, and re-aligning its audio afterwards would be a guess. Through ctypes we run
``flite_synth_text`` and read the *same* ``cst_utterance`` that produced the samples: every item
of its ``Segment`` relation has a ``name`` (CMU phone) and an ``end`` time (seconds), the
``SylStructure`` relation gives stress and the word, and ``utt_wave`` the samples. Nothing is
estimated, so the times are as good as the engine's own duration model (see the accuracy note in
the tests). Debian's ``libflite1`` ships every library used here (``libflite.so.1`` and one
``libflite_cmu_us_<voice>.so.1`` a voice); no headers are needed, the two structs read below
(``cst_voice``, ``cst_wave``) are declared in flite's ``cst_voice.h`` / ``cst_wave.h``.

Prosody controls, set on the voice's feature set before each utterance (flite copies the voice
features into the utterance, so setting them every time keeps results independent of call order):

* rate: ``duration_stretch`` = the voice's default stretch / ``Voice.rate`` (all voices).
* pitch (``Voice.pitch`` = percent change of mean F0):
  - clustergen voices (slt, awb): ``f0_shift`` = 1 + pitch/100 multiplies the target mean F0
    (``cg_smooth_F0`` in flite's ``cst_cg.c``);
  - the diphone voice kal16: ``int_f0_target_mean`` and ``int_f0_target_stddev`` (95 / 11 Hz by
    default) scaled by 1 + pitch/100;
  - rms: its F0 comes from the SPAM model (``cst_spamf0``), which overwrites the F0 track after
    the mean/stddev scaling, so no pitch control reaches the audio: rms gets rate variants only
    and :meth:`FliteSynthesizer.synth` refuses a pitch offset for it rather than ignoring it.

flite keeps global state (the registered voices and their feature sets), so all calls into the
library go through one process-wide lock; one synthesiser per process is enough.

Determinism: the clustergen vocoder (``cst_mlsa.c``) draws the sign of its noise excitation from
libc ``rand()``, a process-global generator, so the same text could give slightly different
samples depending on what ran before. Each utterance therefore first calls ``srand`` with a seed
derived from the voice id and the text (CRC-32): equal requests give equal bytes, and different
utterances still get different noise. (Other code calling ``rand()`` in another thread during a
synthesis breaks this: Ray's driver leaves gRPC threads that do, even after ``ray.shutdown()``.
Build corpora in a process that never joined a Ray cluster, as ``xactor synth`` does.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import unicodedata
import zlib
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import soxr

from xactor.engines.timebase import SAMPLE_RATE
from xactor.training.corpus.phonemes import ARPABET, SILENCE, VOWELS, PhoneSpan
from xactor.training.corpus.tts.voices import SynthResult, Voice

# --- CMU / radio phones (flite's cmu_us set and festival's radio set) → ARPAbet ----------------

_SILENT_PHONES = frozenset({"pau", "h#", "brth", "#"})
# Phones outside the 39 that these engines can emit: reduced vowels carry stress 0 by definition;
# syllabic and flapped consonants become their plain counterpart (same articulation for visemes).
_EXTRA_PHONES: dict[str, tuple[str, int | None]] = {
    "ax": ("AH", 0),
    "axr": ("ER", 0),
    "ix": ("IH", 0),
    "ux": ("UW", None),
    "dx": ("D", None),
    "el": ("L", None),
    "em": ("M", None),
    "en": ("N", None),
    "nx": ("N", None),
    "hv": ("HH", None),
}
_ARPABET_SET = frozenset(ARPABET)
_VOWEL_SET = frozenset(VOWELS)


def cmu_to_arpabet(name: str) -> tuple[str, int | None]:
    """Map one CMU/radio phone name to (ARPAbet or ``sil``, forced stress or None).

    Raises ValueError on a phone outside the known sets, so a new engine or voice with another
    phone set fails loudly instead of feeding wrong visemes into the corpus.
    """
    low = name.strip().lower()
    if low in _SILENT_PHONES:
        return SILENCE, None
    if low in _EXTRA_PHONES:
        return _EXTRA_PHONES[low]
    up = low.upper()
    if up in _ARPABET_SET:
        return up, None
    raise ValueError(f"unknown engine phone {name!r} (not CMU/radio ARPAbet)")


@dataclass(frozen=True)
class EngineSegment:
    """One item of an engine's Segment relation, as read from the engine."""

    name: str  # engine phone name
    end: float  # seconds
    stress: int  # the syllable's stress (0 where there is none)
    word: int  # index into the engine's word list, -1 for pauses


def build_spans(segments: list[EngineSegment], audio_seconds: float) -> list[PhoneSpan]:
    """Engine segments (end times only) → contiguous :class:`PhoneSpan` list.

    Each phone starts where the previous one ended (the first at 0, as in both engines);
    adjacent pauses are merged into one ``sil`` span; stress is kept for vowels only. An end
    before its start (never seen, but the engines store float32) is clamped to the start.

    A trailing pause is cut at the end of the audio: diphone synthesis (flite's kal16) stops in
    the middle of the final pause, the last diphone being "phone-pau", so the segment list runs
    ~110 ms past the samples. Speech phones are never moved.
    """
    spans: list[PhoneSpan] = []
    start = 0.0
    for seg in segments:
        phone, forced = cmu_to_arpabet(seg.name)
        end = max(float(seg.end), start)
        if phone == SILENCE:
            if spans and spans[-1].phone == SILENCE:
                spans[-1] = PhoneSpan(SILENCE, spans[-1].start, end)
            else:
                spans.append(PhoneSpan(SILENCE, start, end))
        else:
            stress = 0
            if phone in _VOWEL_SET:
                stress = forced if forced is not None else min(max(seg.stress, 0), 2)
            spans.append(PhoneSpan(phone, start, end, stress=stress, word=seg.word))
        start = end
    if spans and spans[-1].phone == SILENCE and spans[-1].end > audio_seconds:
        last = spans.pop()
        if audio_seconds > last.start:
            spans.append(PhoneSpan(SILENCE, last.start, audio_seconds))
    return spans


def ascii_text(text: str) -> str:
    """The text as both engines can read it: ASCII, one line.

    Both tokenise bytes with English rules; accented letters and typographic quotes would be
    spelled out or dropped unpredictably, so they are folded to ASCII (é → e, ’ → ') and control
    characters (newlines, NUL, which would end a C string) become spaces.
    """
    folded = unicodedata.normalize("NFKD", text)
    folded = folded.translate({0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"', 0x2013: "-", 0x2014: "-"})
    out = "".join(c if " " <= c <= "~" else " " for c in folded if not unicodedata.combining(c))
    return " ".join(out.split())


def to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """int16 (or float) mono samples at ``rate`` → float32 in [-1, 1] at the project's 16 kHz.

    soxr (HQ) is deterministic, so equal input gives equal bytes.
    """
    x = np.asarray(samples)
    y = x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)
    if rate != SAMPLE_RATE and y.size:
        y = soxr.resample(y, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return np.clip(y, -1.0, 1.0)


def engine_result(
    engine: str,
    samples: np.ndarray,
    rate: int,
    segments: list[EngineSegment],
    text: str,
    voice: Voice,
    words: list[str],
) -> SynthResult:
    """An utterance of flite or festival (same segment model): 16 kHz audio with its spans."""
    audio = to_16k(samples, rate)
    spans = build_spans(segments, audio.shape[0] / SAMPLE_RATE)
    if not any(s.phone != SILENCE for s in spans):
        raise RuntimeError(f"{engine} produced no phonemes for {text!r}")
    return SynthResult(audio=audio, phones=spans, text=text, voice=voice, words=words)


def voice_id(engine: str, short: str, pitch: float, rate: float) -> str:
    """Stable corpus id, e.g. ``flite-slt-p+20-r1.1`` / ``festival-kal-p0-r0.9``."""
    p = "p0" if pitch == 0 else f"p{pitch:+g}"
    return f"{engine}-{short}-{p}-r{rate:.1f}"


# --- the flite library --------------------------------------------------------------------------


class _CstVoice(ctypes.Structure):
    """``struct cst_voice_struct`` (flite cst_voice.h): only ``features`` is used."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("features", ctypes.c_void_p),
        ("ffunctions", ctypes.c_void_p),
        ("utt_init", ctypes.c_void_p),
    ]


class _CstWave(ctypes.Structure):
    """``cst_wave`` (flite cst_wave.h): int16 interleaved samples."""

    _fields_ = [
        ("type", ctypes.c_char_p),
        ("sample_rate", ctypes.c_int),
        ("num_samples", ctypes.c_int),
        ("num_channels", ctypes.c_int),
        ("samples", ctypes.POINTER(ctypes.c_short)),
    ]


@dataclass(frozen=True)
class _FliteVoiceSpec:
    lib: str  # library / register function stem, e.g. "cmu_us_slt"
    sex: Literal["female", "male"]
    pitch: Literal["f0_shift", "target", "none"]  # how pitch offsets reach the audio (see module doc)


FLITE_VOICE_SPECS: dict[str, _FliteVoiceSpec] = {
    "slt": _FliteVoiceSpec("cmu_us_slt", "female", "f0_shift"),
    "awb": _FliteVoiceSpec("cmu_us_awb", "male", "f0_shift"),
    "rms": _FliteVoiceSpec("cmu_us_rms", "male", "none"),
    "kal16": _FliteVoiceSpec("cmu_us_kal16", "male", "target"),
}

# (voice, pitch percent, rate) for the corpus: female and male, a few fixed offsets each.
FLITE_CORPUS: tuple[tuple[str, float, float], ...] = (
    ("slt", 0, 1.0), ("slt", 15, 0.9), ("slt", -10, 1.1), ("slt", 25, 1.2),
    ("awb", 0, 1.0), ("awb", -10, 0.9), ("awb", 15, 1.1),
    ("rms", 0, 1.0), ("rms", 0, 0.9), ("rms", 0, 1.2),
    ("kal16", 0, 1.0), ("kal16", 20, 0.9), ("kal16", -10, 1.1),
)  # fmt: skip

# feat_set_* keeps the *pointer* to a new feature's name, so the names live as long as the module.
_FEAT_NAMES = {
    name: ctypes.create_string_buffer(name.encode())
    for name in ("duration_stretch", "f0_shift", "int_f0_target_mean", "int_f0_target_stddev")
}
_LOCK = threading.RLock()  # flite's voices and their features are process-global


def _find(stem: str) -> str:
    """Path or soname of ``lib<stem>``; the Debian soname is tried when ldconfig does not know it."""
    return ctypes.util.find_library(stem) or f"lib{stem}.so.1"


class _Flite:
    """The loaded library with typed entry points, and the voices registered so far."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(_find("flite"), mode=ctypes.RTLD_GLOBAL)
        vp, cp, f = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_float

        def sig(name: str, restype: Any, *argtypes: Any) -> Any:
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, list(argtypes)
            return fn

        self.init = sig("flite_init", ctypes.c_int)
        self.synth_text = sig("flite_synth_text", vp, cp, vp)
        self.utt_relation = sig("utt_relation", vp, vp, cp)
        self.relation_head = sig("relation_head", vp, vp)
        self.item_next = sig("item_next", vp, vp)
        self.item_as = sig("item_as", vp, vp, cp)
        self.path_to_item = sig("path_to_item", vp, vp, cp)
        self.item_feat_string = sig("item_feat_string", cp, vp, cp)
        self.item_feat_float = sig("item_feat_float", f, vp, cp)
        self.ffeature_int = sig("ffeature_int", ctypes.c_int, vp, cp)
        self.utt_wave = sig("utt_wave", ctypes.POINTER(_CstWave), vp)
        self.delete_utterance = sig("delete_utterance", None, vp)
        self.feat_present = sig("feat_present", ctypes.c_int, vp, cp)
        self.feat_float = sig("feat_float", f, vp, cp)
        self.feat_set_float = sig("feat_set_float", None, vp, cp, f)
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        self.srand = libc.srand
        self.srand.restype, self.srand.argtypes = None, [ctypes.c_uint]
        self.init()
        self.voices: dict[str, tuple[int, dict[str, float]]] = {}  # name → (cst_voice*, defaults)

    def voice(self, name: str) -> tuple[int, dict[str, float]]:
        """Register ``name`` once; returns the cst_voice pointer and its default prosody features."""
        with _LOCK:
            return self._voice(name)

    def _voice(self, name: str) -> tuple[int, dict[str, float]]:
        if name not in self.voices:
            spec = FLITE_VOICE_SPECS[name]
            vlib = ctypes.CDLL(_find(f"flite_{spec.lib}"))
            register = getattr(vlib, f"register_{spec.lib}")
            register.restype, register.argtypes = ctypes.POINTER(_CstVoice), [ctypes.c_char_p]
            ptr = register(None)
            if not ptr:
                raise RuntimeError(f"flite: register_{spec.lib} returned NULL")
            feats = ptr.contents.features
            defaults = {
                k: float(self.feat_float(feats, b.value))
                for k, b in _FEAT_NAMES.items()
                if self.feat_present(feats, b.value)
            }
            self.voices[name] = (ctypes.cast(ptr, ctypes.c_void_p).value or 0, defaults)
        return self.voices[name]

    def set_feature(self, voice_ptr: int, name: str, value: float) -> None:
        feats = ctypes.cast(voice_ptr, ctypes.POINTER(_CstVoice)).contents.features
        self.feat_set_float(feats, ctypes.cast(_FEAT_NAMES[name], ctypes.c_char_p), value)


_FLITE: _Flite | None = None


def _flite() -> _Flite:
    """The process's flite library, loaded and initialised on first use."""
    global _FLITE
    with _LOCK:
        if _FLITE is None:
            _FLITE = _Flite()
        return _FLITE


class FliteSynthesizer:
    """flite through its C library; audio and phoneme times come from the same utterance."""

    engine: Literal["flite"] = "flite"

    def available(self) -> bool:
        """True when libflite and at least one corpus voice library load."""
        return self.unavailable_reason() is None

    def unavailable_reason(self) -> str | None:
        """Why flite cannot run here (for test skips), or None."""
        try:
            lib = _flite()
        except (OSError, AttributeError) as exc:  # missing library / a flite without these symbols
            return f"libflite not loadable ({exc}); apt-get install flite"
        for name in FLITE_VOICE_SPECS:
            try:
                lib.voice(name)
                return None
            except (OSError, AttributeError, RuntimeError):
                continue
        return "no flite voice library (libflite_cmu_us_*.so.1) loads; apt-get install flite"

    def installed_voice_names(self) -> list[str]:
        """The voice names of :data:`FLITE_VOICE_SPECS` whose libraries load here."""
        names = []
        for name in FLITE_VOICE_SPECS:
            try:
                _flite().voice(name)
                names.append(name)
            except (OSError, AttributeError, RuntimeError):
                continue
        return names

    def voices(self) -> list[Voice]:
        """The corpus voices (:data:`FLITE_CORPUS`) whose voice library is installed."""
        installed = set(self.installed_voice_names()) if self.available() else set()
        return [
            Voice(
                id=voice_id("flite", name, pitch, rate),
                engine="flite",
                name=name,
                pitch=pitch,
                rate=rate,
                sex=FLITE_VOICE_SPECS[name].sex,
                extra={"pitch_unit": "percent of mean F0"},
            )
            for name, pitch, rate in FLITE_CORPUS
            if name in installed
        ]

    def synth(self, text: str, voice: Voice) -> SynthResult:
        """Speak ``text`` with ``voice``; RuntimeError when flite yields no speech."""
        if voice.engine != "flite" or voice.name not in FLITE_VOICE_SPECS:
            raise ValueError(f"not a flite voice: {voice}")
        spec = FLITE_VOICE_SPECS[voice.name]
        if voice.pitch != 0 and spec.pitch == "none":
            raise ValueError(f"flite voice {voice.name!r} has no working pitch control (SPAM F0)")
        if voice.rate <= 0:
            raise ValueError(f"rate must be positive, got {voice.rate}")
        clean = ascii_text(text)
        if not clean:
            raise RuntimeError("flite: nothing to say (empty text after ASCII folding)")
        lib = _flite()
        with _LOCK:
            ptr, defaults = lib.voice(voice.name)
            factor = 1.0 + voice.pitch / 100.0
            lib.set_feature(ptr, "duration_stretch", defaults.get("duration_stretch", 1.0) / voice.rate)
            if spec.pitch == "f0_shift":
                lib.set_feature(ptr, "f0_shift", factor)
            elif spec.pitch == "target":
                for key in ("int_f0_target_mean", "int_f0_target_stddev"):
                    if key in defaults:
                        lib.set_feature(ptr, key, defaults[key] * factor)
            lib.srand(zlib.crc32(f"{voice.id}\n{clean}".encode()))
            utt = lib.synth_text(clean.encode("ascii"), ptr)
            if not utt:
                raise RuntimeError(f"flite_synth_text failed for {text!r}")
            try:
                words, segments = self._read_segments(lib, utt)
                wave_p = lib.utt_wave(utt)
                if not wave_p or wave_p.contents.num_samples <= 0:
                    raise RuntimeError(f"flite produced no audio for {text!r}")
                wave = wave_p.contents
                n = wave.num_samples * max(wave.num_channels, 1)
                raw = np.ctypeslib.as_array(wave.samples, shape=(n,)).copy()
                if wave.num_channels > 1:
                    raw = raw.reshape(-1, wave.num_channels)[:, 0].copy()
                rate = int(wave.sample_rate)
            finally:
                lib.delete_utterance(utt)
        return engine_result("flite", raw, rate, segments, text, voice, words)

    @staticmethod
    def _read_segments(lib: _Flite, utt: int) -> tuple[list[str], list[EngineSegment]]:
        """Words of the ``Word`` relation and every ``Segment`` item with its end, stress, word."""
        words: list[str] = []
        word_of: dict[int, int] = {}  # SylStructure word item → index
        w = lib.relation_head(lib.utt_relation(utt, b"Word"))
        while w:
            words.append((lib.item_feat_string(w, b"name") or b"").decode("ascii", "replace"))
            as_syl = lib.item_as(w, b"SylStructure")
            if as_syl:
                word_of[as_syl] = len(words) - 1
            w = lib.item_next(w)
        segments: list[EngineSegment] = []
        s = lib.relation_head(lib.utt_relation(utt, b"Segment"))
        while s:
            name = (lib.item_feat_string(s, b"name") or b"").decode("ascii", "replace")
            end = float(lib.item_feat_float(s, b"end"))
            parent_word = lib.path_to_item(s, b"R:SylStructure.parent.parent")
            stress = int(lib.ffeature_int(s, b"R:SylStructure.parent.stress")) if parent_word else 0
            segments.append(EngineSegment(name, end, stress, word_of.get(parent_word or 0, -1)))
            s = lib.item_next(s)
        return words, segments
