"""espeak-ng speech with phoneme timings from the engine's own events (ctypes, no subprocess).

:class:`EspeakSynthesizer` drives ``libespeak-ng.so.1`` (Debian's ``libespeak-ng1``) through
``ctypes`` in ``AUDIO_OUTPUT_SYNCHRONOUS`` mode with ``espeakINITIALIZE_PHONEME_EVENTS``: the synth
callback receives the int16 samples (22050 Hz; 16 kHz for an MBROLA voice,
:mod:`~xactor.training.corpus.tts.mbrola`) together with the events, and every
``espeakEVENT_PHONEME`` carries the phoneme's mnemonic and the output sample where the engine
placed it. Those events are the timing source: each phoneme lasts from its event to the next
phoneme event (or the end of the audio). No forced alignment, no second pass. The audio is then
resampled to 16 kHz with soxr; times are seconds and do not change.

Timing refinements, both read from the engine's own output (no acoustic model):

* Pre-pauses. espeak-ng queues a phoneme's pre-pause (a stop's closure, 40-60 ms at the normal
  rate; 10-15 ms before some word-initial consonants) *before* the phoneme's event, so the raw
  event of /p/ marks its burst and the closure would be labelled as the vowel before it. The
  pre-pause is silence the engine generates (zero samples, or exactly its own echo), so
  :func:`phoneme_starts` moves the start back over that run, bounded by the WORD event that the
  engine queues just before it. (Closure onsets: p90 error 37 ms -> 6 ms.)
* A post-vocalic liquid ("tell", Scottish "there") is rendered as the vowel's ending before
  its own event; left with no time of its own it takes the last 40 % of the vowel's span.

Known bias: for a vowel after a nasal or liquid the engine emits the event after the vowel's
onset transition (synthesize.c: "do the phoneme event after the vowel-start"), so such vowels
start ~20 ms late (nasal -> vowel energy rise: median 22 ms before the span boundary).

Stress is not in the events, so the phoneme trace (``espeak_SetPhonemeTrace`` +
``espeak_SetPhonemeCallback``, the string ``espeak-ng -x`` prints, one per clause) is captured
during the same synthesis and its stress marks (``'`` primary, ``,`` secondary) are copied onto
the phoneme events by aligning the two mnemonic sequences.

Mnemonics -> ARPAbet (:func:`arpabet_map`): a General-American map shared by all dialects, a
rhotic layer (``en-us`` and ``en-gb-scotland`` realise ``A@``, ``O@``, ``e@``... with [ɹ]) and a
few per-dialect overrides where the engine's realisation (its IPA, checked with ``--ipa``) is
clearly another ARPAbet phoneme (West Midlands ``aI`` = [ɔɪ], Lancaster and West Midlands ``V``
= [ʊ], RP ``aa`` = [ɑː]...). One mnemonic may become two ARPAbet phones (``@L`` -> AH L, ``O@``
-> AO R); the event's span is then split 60/40. Pauses become ``sil``; the linking glide ``;``
(a short [j] after i/ɪ before a vowel) is given to the phone before it. Any other mnemonic
raises :class:`UnknownPhonemeError` listing them: nothing is dropped. Dialect gaps by design:
``en-029`` has no TH/DH (th-stopping), ``en-gb-x-gbcwmd`` no HH (h-dropping).

Determinism, threads and processes: espeak-ng keeps hidden static state between utterances
(the F0 flutter phase, the echo buffer, the limiter gain, libc ``rand()`` for breath noise), so
the same text would not come out identical twice in one process. Each
:meth:`EspeakSynthesizer.synth` therefore loads the library afresh (``dlopen``), initialises it,
speaks, terminates it and unloads it (``dlclose``; ~6 ms with the voice list scan) and seeds
``rand()``: the bytes depend only on text, voice and the installed espeak-ng. Nothing else in the
process may hold ``libespeak-ng`` loaded, or the reload cannot reset it (a warning is logged), nor
draw from ``rand()`` in another thread meanwhile (Ray's driver leaves gRPC threads that do).
espeak-ng is one global engine and not thread-safe: calls are serialised by a process-wide lock,
so a process runs one synthesis at a time. Parallel corpus generation must use worker processes
(one synthesiser each), not threads. libespeak-ng 1.51 leaks ~4 KB of static buffers per
load/unload cycle: recycle workers every ~10k utterances (e.g. ``maxtasksperchild``).
"""

from __future__ import annotations

import _ctypes
import ctypes
import ctypes.util
import difflib
import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xactor.engines.audio.resample import resample_array
from xactor.engines.timebase import SAMPLE_RATE
from xactor.training.corpus.phonemes import SILENCE, VOWELS, PhoneSpan
from xactor.training.corpus.tts.voices import Engine, SynthResult, Voice

logger = logging.getLogger(__name__)

LIBRARY_NAMES: tuple[str, ...] = ("libespeak-ng.so.1", "libespeak-ng.so")
RATE_NORMAL_WPM = 175  # espeakRATE_NORMAL: Voice.rate == 1.0
RATE_MIN_WPM, RATE_MAX_WPM = 80, 450  # espeakRATE_MINIMUM / espeakRATE_MAXIMUM
DEFAULT_VOLUME = 70  # espeakVOLUME (100 = normal): at 100 loud voices hit the engine's limiter

# speak_lib.h (ESPEAK_API_REVISION 12)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000  # without it a missing espeak-ng-data calls exit()
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_END = 5
_EVENT_MSG_TERMINATED = 6
_EVENT_PHONEME = 7
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_PHONEMES_SHOW = 0x01
_TRACE_MODE = _PHONEMES_SHOW | (ord(" ") << 8)  # mnemonics separated by spaces (bits 8-23)
_BUFFER_MS = 200  # callback buffer length; any value gives the same audio


class _EventId(ctypes.Union):
    _fields_ = (
        ("number", ctypes.c_int),  # WORD / SENTENCE events
        ("name", ctypes.c_char_p),  # MARK / PLAY events
        ("string", ctypes.c_char * 8),  # PHONEME events: mnemonic, NUL-terminated unless 8 bytes
    )


class _Event(ctypes.Structure):
    """``espeak_EVENT``: 40 bytes on x86_64 (6 x int32, pointer at offset 24, union at 32)."""

    _fields_ = (
        ("type", ctypes.c_int),  # espeak_EVENT_TYPE (an enum: int)
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # characters from the start of the text, 1-based
        ("length", ctypes.c_int),  # word length in characters (WORD events)
        ("audio_position", ctypes.c_int),  # ms in the output
        ("sample", ctypes.c_int),  # samples in the output (finer than audio_position)
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    )


assert ctypes.sizeof(_Event) == 40, "espeak_EVENT layout (x86_64 / LP64 expected)"

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)
_PhonemeCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p)


# ---------------------------------------------------------------------------------------------
# Mnemonics -> ARPAbet
# ---------------------------------------------------------------------------------------------

PAUSES: frozenset[str] = frozenset({"_", "_:", "_::", "_!", "_|", "||", "_;_", "_^_", "_X1"})
MERGE_WITH_PREVIOUS: frozenset[str] = frozenset({";"})  # linking [j] glide: part of the vowel before

_COMMON: dict[str, tuple[str, ...]] = {
    # stops, incl. unreleased t2, flap t#, d#/z# (voicing-assimilated), glottal ? (= /t/, "button")
    "p": ("P",), "b": ("B",), "t": ("T",), "t2": ("T",), "t#": ("T",), "?": ("T",), "t[": ("T",),
    "d": ("D",), "d#": ("D",), "d[": ("D",), "k": ("K",), "g": ("G",),
    # fricatives and affricates; x ("loch") has no ARPAbet phoneme: K, as CMUdict writes it
    "f": ("F",), "v": ("V",), "T": ("TH",), "D": ("DH",), "s": ("S",), "z": ("Z",), "z#": ("Z",),
    "z/2": ("Z",), "S": ("SH",), "Z": ("ZH",), "h": ("HH",), "C": ("HH",), "x": ("K",),
    "tS": ("CH",), "dZ": ("JH",),
    # nasals, liquids, glides (incl. syllabic n- l- m-, linking r-, Scottish w# = [ʍ])
    "m": ("M",), "m-": ("M",), "n": ("N",), "n-": ("N",), "N": ("NG",),
    "l": ("L",), "l/": ("L",), "l/2": ("L",), "l/3": ("L",), "l-": ("L",),
    "r": ("R",), "r-": ("R",), "r/": ("R",), "j": ("Y",), "w": ("W",), "w#": ("W",),
    # schwas and the unstressed vowels
    "@": ("AH",), "@2": ("AH",), "@5": ("AH",), "@#": ("AH",), "@-": ("AH",), "a#": ("AH",),
    "a#2": ("AH",), "3": ("AH",), "@L": ("AH", "L"),
    # monophthongs
    "a": ("AE",), "a2": ("AE",), "aa": ("AE",), "A#": ("AE",), "a/": ("AE",),
    "A:": ("AA",), "A@": ("AA",), "A~": ("AA",), "0": ("AA",), "0#": ("AA",), "02": ("AA",), "O2": ("AA",),
    "O:": ("AO",), "O": ("AO",), "O@": ("AO",), "o@": ("AO",), "O~": ("AO",),
    "V": ("AH",), "U": ("UH",), "u:": ("UW",), "u": ("UW",),
    "E": ("EH",), "E#": ("EH",), "E2": ("EH",), "e#": ("EH",), "e": ("EH",), "e:": ("EY",),
    "I": ("IH",), "I2": ("IH",), "I#": ("IH",), "I2#": ("IH",), "i": ("IY",), "i:": ("IY",),
    "3:": ("ER",), "IR": ("ER",), "VR": ("ER",),
    # diphthongs; the centring ones glide to schwa where the dialect does not pronounce the r
    "eI": ("EY",), "aI": ("AY",), "aI2": ("AY",), "aU": ("AW",), "oU": ("OW",), "oU#": ("OW",),
    "o:": ("OW",), "o": ("OW",), "OI": ("OY",),
    "e@": ("EH", "AH"), "i@": ("IY", "AH"), "i@3": ("IH", "AH"), "U@": ("UH", "AH"),
    "aI@": ("AY", "AH"), "aI3": ("AY", "AH"), "aU@": ("AW", "AH"),
}  # fmt: skip

# Dialects whose espeak-ng tables pronounce the r of "car", "near", "more" (IPA [ɑːɹ], [ɪɹ]...).
RHOTIC: frozenset[str] = frozenset({"en-us", "en-gb-scotland"})
_RHOTIC: dict[str, tuple[str, ...]] = {
    "3": ("ER",), "A@": ("AA", "R"), "O@": ("AO", "R"), "o@": ("AO", "R"), "e@": ("EH", "R"),
    "i@3": ("IH", "R"), "U@": ("UH", "R"), "aI3": ("AY", "ER"),
}  # fmt: skip
# Where the dialect's realisation (espeak-ng --ipa) is another ARPAbet phoneme than the default.
_DIALECT: dict[str, dict[str, tuple[str, ...]]] = {
    "en-us": {"O2": ("AO",), "A#": ("AA",)},  # [ɔ] in "long", [ɑː] in "pasta"
    "en-us-nyc": {"O2": ("AO",), "A#": ("AA",)},
    "en-gb-x-rp": {"aa": ("AA",), "U@": ("AO",), "i": ("IH",)},  # bath [ɑː], tour [ɔː], happy [ɪ]
    "en-gb-scotland": {"3:": ("EH",), "i": ("EY",), "o@": ("OW", "R")},  # heard [e], city [e], more [o]
    "en-gb-x-gbclan": {"V": ("UH",)},  # strut [ʊ]
    "en-gb-x-gbcwmd": {"V": ("UH",), "aI": ("OY",), "e@": ("ER",)},  # strut [ʊ], price [ɔɪ], care [ɜː]
}
DIALECTS: tuple[str, ...] = (
    "en-us", "en-us-nyc", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
)  # fmt: skip
SPLIT_FIRST = 0.6  # share of a two-phone mnemonic's span given to its first phone
MIN_PHONE_S = 0.001  # a phone left shorter than this shares the span of the phone before it


def arpabet_map(dialect: str) -> dict[str, tuple[str, ...]]:
    """espeak-ng mnemonic -> ARPAbet phones for a voice of ``dialect`` (espeak-ng voice name)."""
    table = dict(_COMMON)
    if dialect in RHOTIC:
        table.update(_RHOTIC)
    table.update(_DIALECT.get(dialect, {}))
    return table


class UnknownPhonemeError(ValueError):
    """espeak-ng produced mnemonics that have no ARPAbet mapping (the map must be extended)."""

    def __init__(self, unknown: list[str], dialect: str, text: str) -> None:
        self.unknown = sorted(set(unknown))
        super().__init__(
            f"espeak-ng ({dialect}) produced phoneme mnemonics with no ARPAbet mapping: "
            f"{', '.join(repr(m) for m in self.unknown)} (text: {text[:80]!r})"
        )


# ---------------------------------------------------------------------------------------------
# Events -> PhoneSpans (pure: no library needed)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawEvent:
    """What the synth callback copies out of one ``espeak_EVENT``."""

    kind: int  # espeak_EVENT_TYPE
    sample: int  # output sample (at the engine's rate) where it happens
    text_position: int  # 1-based character position in the text
    length: int = 0  # WORD: characters
    mnemonic: str = ""  # PHONEME: espeak-ng mnemonic


@dataclass
class RawSynthesis:
    """One utterance straight from the engine: int16 samples [N] at ``rate``, events, traces."""

    samples: np.ndarray  # [N] int16
    rate: int
    events: list[RawEvent] = field(default_factory=list)
    traces: list[str] = field(default_factory=list)  # phoneme trace, one string per clause
    echo_delay_ms: int = 0  # the variant's "echo" (the engine adds it to every sample, silence too)
    echo_amp: int = 0  # in 1/256ths


MIN_PREPAUSE_S = 0.001  # shorter runs of engine silence are zero crossings, not a pre-pause
MAX_PREPAUSE_S = 0.3  # the longest stop closure at the slowest rate is well below this


def engine_silence(raw: RawSynthesis) -> np.ndarray:
    """Bool [N]: samples where the engine played silence (``PlaySilence``), echo included.

    Without echo that is exactly the zero samples. With echo each output sample is its dry
    value plus ``(out[n - D] * amp) >> 8`` (wavegen.c), so silence is where that residual is
    zero; after a WAV-sampled sound the echo buffer holds 3/4 of the output, hence the slack.
    """
    x = raw.samples.astype(np.int64)  # [N]
    delay = raw.echo_delay_ms * raw.rate // 1000
    amp = min(raw.echo_amp, 100)
    if delay <= 0 or amp <= 0 or delay >= x.shape[0]:
        return x == 0
    before = np.concatenate([np.zeros(delay, np.int64), x[:-delay]])  # [N]: out[n - D]
    residual = x - ((before * amp) >> 8)
    return np.abs(residual) <= (np.abs(before) * amp) // 1024 + 1


def phoneme_starts(raw: RawSynthesis) -> list[int]:
    """Start sample of each PHONEME event of ``raw``, moved back over the engine's pre-pause.

    espeak-ng queues a phoneme's pre-pause (a stop's closure, 40-60 ms at normal rate; 10-15
    ms before word-initial fricatives, nasals, liquids) *before* its PHONEME event
    (synthesize.c ``Generate``), so the event marks the release and the closure would belong
    to the phone before it. The pre-pause is engine silence ending exactly at the event, so
    the start moves back over that run; a WORD event (queued just before the pre-pause)
    bounds it. A run that swallows the whole previous phone (a glottal stop's own silence, a
    pause) is not a pre-pause we can separate: the event time stays.
    """
    phonemes = [e for e in raw.events if e.kind == _EVENT_PHONEME]
    quiet = engine_silence(raw)
    loud = np.flatnonzero(~quiet)  # [L] sorted indices of samples that are not engine silence
    min_run = round(MIN_PREPAUSE_S * raw.rate)
    max_run = round(MAX_PREPAUSE_S * raw.rate)
    word_sample: dict[int, int] = {}  # index into phonemes -> WORD event sample just before it
    pending: int | None = None
    k = 0
    for e in raw.events:
        if e.kind == _EVENT_WORD:
            pending = e.sample
        elif e.kind == _EVENT_PHONEME:
            if pending is not None:
                word_sample[k] = pending
                pending = None
            k += 1
    starts: list[int] = []
    previous = 0  # the previous phoneme's event sample
    for i, e in enumerate(phonemes):
        event = min(max(e.sample, 0), int(quiet.shape[0]))
        start = event
        if i > 0 and e.mnemonic not in PAUSES:  # the first keeps the lead-in as silence
            word = word_sample.get(i)
            # first sample of the run of engine silence that ends at the event
            k = int(np.searchsorted(loud, event)) - 1
            run = max(int(loud[k]) + 1 if k >= 0 else 0, event - max_run)
            if word is not None and previous <= word <= event:
                start = max(run, word)
            elif run > previous:
                start = run
            if event - start < min_run:
                start = event
        starts.append(max(start, starts[-1] if starts else 0))
        previous = event
    return starts


_STRESS_MARKS = {"'": 1, ",": 2}
_WORD_RE = re.compile(r"\w[\w'’.-]*")


def trace_stress(traces: list[str]) -> list[tuple[str, int]]:
    """Phoneme trace strings -> [(mnemonic, stress)] without pauses (what ``-x`` shows)."""
    out: list[tuple[str, int]] = []
    for trace in traces:
        for token in trace.split():
            stress = 0
            while token and token[0] in "',%=":
                stress = max(stress, _STRESS_MARKS.get(token[0], 0))
                token = token[1:]
            if token and token not in PAUSES:
                out.append((token, stress))
    return out


def _event_stress(mnemonics: list[str], traced: list[tuple[str, int]]) -> list[int]:
    """Stress of each phoneme event, copied from the trace by aligning the two mnemonic sequences."""
    stress = [0] * len(mnemonics)
    idx = [i for i, m in enumerate(mnemonics) if m not in PAUSES]
    a = [mnemonics[i] for i in idx]
    b = [m for m, _ in traced]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    matched = 0
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            stress[idx[block.a + k]] = traced[block.b + k][1]
        matched += block.size
    if matched < len(a):
        logger.debug("stress: %d of %d phoneme events not found in the trace", len(a) - matched, len(a))
    return stress


def events_to_spans(
    raw: RawSynthesis, dialect: str, text: str, duration: float | None = None
) -> tuple[list[PhoneSpan], list[str]]:
    """The engine's events -> (contiguous :class:`PhoneSpan` list from 0 to the end, words).

    Each phoneme lasts from its event to the next phoneme event (the last to ``duration``, by
    default the end of the samples); the audio before the first phoneme and every pause is
    ``sil`` and consecutive ``sil`` merge. ``word`` indexes the returned words (the WORD
    events' text), -1 for silence. Raises :class:`UnknownPhonemeError` for unmapped mnemonics.
    """
    end_time = raw.samples.shape[0] / raw.rate if duration is None else duration
    table = arpabet_map(dialect)
    phonemes = [e for e in raw.events if e.kind == _EVENT_PHONEME]
    unknown = [
        e.mnemonic
        for e in phonemes
        if e.mnemonic not in table and e.mnemonic not in PAUSES and e.mnemonic not in MERGE_WITH_PREVIOUS
    ]
    if unknown:
        raise UnknownPhonemeError(unknown, dialect, text)

    word_text: dict[int, str] = {}  # text_position -> the word's text
    for e in raw.events:
        if e.kind == _EVENT_WORD and 0 < e.text_position <= len(text):
            at = e.text_position - 1
            if e.length > 0:
                word_text[e.text_position] = text[at : at + e.length]
            else:  # espeak-ng reports some words (after quotes) with length 0
                found = _WORD_RE.match(text, at)
                word_text[e.text_position] = found.group(0) if found else text[at]
    words: list[str] = []  # the words that were spoken, in order
    word_at: dict[int, int] = {}  # text_position -> index into words

    def word_index(position: int) -> int:
        if position not in word_text:
            return -1
        if position not in word_at:
            word_at[position] = len(words)
            words.append(word_text[position])
        return word_at[position]

    stress = _event_stress([e.mnemonic for e in phonemes], trace_stress(raw.traces))
    times = [min(s / raw.rate, end_time) for s in phoneme_starts(raw)]
    # (phone, start, end, stress, word); built as a list, merged, then frozen into PhoneSpans
    rows: list[list] = []

    def add(phone: str, start: float, end: float, st: int, word: int) -> None:
        if rows and phone == SILENCE and rows[-1][0] == SILENCE:
            rows[-1][2] = end
        elif end > start or phone != SILENCE:
            rows.append([phone, start, end, st, word])

    if phonemes and times[0] > 0.0:
        add(SILENCE, 0.0, times[0], 0, -1)
    elif not phonemes:
        add(SILENCE, 0.0, end_time, 0, -1)
    for i, e in enumerate(phonemes):
        start = times[i]
        end = times[i + 1] if i + 1 < len(phonemes) else end_time
        if e.mnemonic in PAUSES:
            add(SILENCE, start, end, 0, -1)
            continue
        if e.mnemonic in MERGE_WITH_PREVIOUS:
            if rows:
                rows[-1][2] = end
            else:
                add(SILENCE, start, end, 0, -1)
            continue
        phones = list(table[e.mnemonic])
        nxt = next((p for p in phonemes[i + 1 :] if p.mnemonic not in MERGE_WITH_PREVIOUS), None)
        if (
            len(phones) > 1
            and phones[-1] == "R"
            and nxt is not None
            and table.get(nxt.mnemonic, ("",))[0] == "R"
        ):
            phones.pop()  # "A@ r" (Scottish "car"): the r is its own event
        word = word_index(e.text_position)
        cuts = [start, end] if len(phones) == 1 else [start, start + SPLIT_FIRST * (end - start), end]
        for k, phone in enumerate(phones):
            st = stress[i] if k == 0 and phone in VOWELS else 0
            add(phone, cuts[k], cuts[k + 1], st, word)
    for k in range(1, len(rows)):
        # A post-vocalic liquid ("tell", Scottish "there") is rendered as the vowel's ending
        # before its event and can be left with no time of its own: give it the vowel's tail.
        here, before = rows[k], rows[k - 1]
        if here[0] != SILENCE and before[0] != SILENCE and here[2] - here[1] < MIN_PHONE_S:
            before[2] = here[1] = before[1] + SPLIT_FIRST * (here[2] - before[1])
    spans = [PhoneSpan(p, float(s), float(t), int(st), int(w)) for p, s, t, st, w in rows]
    return spans, words


# ---------------------------------------------------------------------------------------------
# The library
# ---------------------------------------------------------------------------------------------

_LOCK = threading.Lock()  # espeak-ng is one global engine per process


@dataclass
class _Collector:
    """Where the C callbacks put what they receive during one synthesis."""

    chunks: list[bytes] = field(default_factory=list)
    events: list[RawEvent] = field(default_factory=list)
    traces: list[str] = field(default_factory=list)


_CURRENT = _Collector()


@_SynthCallback
def _on_synth(wav: ctypes._Pointer, n: int, events: ctypes._Pointer) -> int:
    """Copy samples and events out of the engine's buffers (they are reused after we return)."""
    if wav and n > 0:
        _CURRENT.chunks.append(ctypes.string_at(wav, 2 * n))
    if events:
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            ev = events[i]
            mnemonic = ""
            if ev.type == _EVENT_PHONEME:
                raw = bytes(ev.id.string)  # 8 bytes; NUL-terminated unless all 8 are used
                mnemonic = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
            _CURRENT.events.append(RawEvent(ev.type, ev.sample, ev.text_position, ev.length, mnemonic))
            i += 1
    return 0  # continue


@_PhonemeCallback
def _on_phonemes(text: bytes | None) -> int:
    if text:
        _CURRENT.traces.append(text.decode("utf-8", "replace"))
    return 0


_LIBRARY_NAME: str | None = None


def _find_library() -> str:
    """The loadable name of libespeak-ng (probed once per process)."""
    global _LIBRARY_NAME
    if _LIBRARY_NAME is not None:
        return _LIBRARY_NAME
    candidates = [*LIBRARY_NAMES, ctypes.util.find_library("espeak-ng")]
    errors: list[str] = []
    for name in candidates:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            errors.append(str(exc))
            continue
        _ctypes.dlclose(lib._handle)
        _LIBRARY_NAME = name
        return name
    raise OSError(f"libespeak-ng not found ({'; '.join(errors)}); apt-get install libespeak-ng1")


def _declare(lib: ctypes.CDLL) -> None:
    """Argument and result types from speak_lib.h (defaults would truncate pointers)."""
    lib.espeak_Initialize.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int)
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = (_SynthCallback,)
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetPhonemeCallback.argtypes = (_PhonemeCallback,)
    lib.espeak_SetPhonemeCallback.restype = None
    lib.espeak_SetPhonemeTrace.argtypes = (ctypes.c_int, ctypes.c_void_p)
    lib.espeak_SetPhonemeTrace.restype = None
    lib.espeak_SetVoiceByName.argtypes = (ctypes.c_char_p,)
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int)
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = (
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
        ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
    )  # fmt: skip
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Info.argtypes = (ctypes.POINTER(ctypes.c_char_p),)
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_Terminate.argtypes = ()
    lib.espeak_Terminate.restype = ctypes.c_int
    lib.espeak_ng_GetSampleRate.argtypes = ()
    lib.espeak_ng_GetSampleRate.restype = ctypes.c_int


class _Libc:
    """libc bits: a FILE* on /dev/null for the phoneme trace, and srand() for breath noise."""

    def __init__(self) -> None:
        self.lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        self.lib.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
        self.lib.fopen.restype = ctypes.c_void_p
        self.lib.srand.argtypes = (ctypes.c_uint,)
        self.lib.srand.restype = None
        self.devnull = self.lib.fopen(os.devnull.encode(), b"w")  # kept open for the process
        if not self.devnull:
            raise OSError(f"cannot open {os.devnull}")


_LIBC: _Libc | None = None
_WARNED_RESIDENT = False


@contextmanager
def _session() -> Iterator[tuple[ctypes.CDLL, int, str]]:
    """A freshly loaded and initialised engine: (library, sample rate, data directory).

    Loaded and unloaded around every utterance so that no state leaks from one to the next
    (see the module docstring). Must be entered with ``_LOCK`` held.
    """
    global _LIBC, _WARNED_RESIDENT
    if _LIBC is None:
        _LIBC = _Libc()
    name = _find_library()
    lib = ctypes.CDLL(name)
    try:
        _declare(lib)
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, None, _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            raise RuntimeError(f"espeak_Initialize failed ({rate}): espeak-ng-data missing?")
        path = ctypes.c_char_p()
        lib.espeak_Info(ctypes.byref(path))
        data_dir = (path.value or b"").decode()
        lib.espeak_SetSynthCallback(_on_synth)
        lib.espeak_SetPhonemeCallback(_on_phonemes)
        lib.espeak_SetPhonemeTrace(_TRACE_MODE, _LIBC.devnull)
        _LIBC.lib.srand(1)
        try:
            yield lib, rate, data_dir
        finally:
            lib.espeak_Terminate()
    finally:
        _ctypes.dlclose(lib._handle)
        try:  # RTLD_NOLOAD: a handle only if it is still mapped (then release that handle too)
            _ctypes.dlclose(ctypes.CDLL(name, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)._handle)
            resident = True
        except OSError:
            resident = False
        if resident and not _WARNED_RESIDENT:
            _WARNED_RESIDENT = True
            logger.warning(
                "%s stays loaded (another user in this process): espeak-ng state will leak between "
                "utterances and output is not reproducible",
                name,
            )


ESPEAK_DRIVEN: frozenset[str] = frozenset({"espeak-ng", "mbrola"})  # engines synthesised here


def dialect(voice: Voice) -> str:
    """The espeak-ng dialect whose phoneme mnemonics ``voice`` speaks (an MBROLA voice names its
    own in ``extra["dialect"]``; an espeak-ng voice's name is its dialect)."""
    return voice.extra.get("dialect", voice.name)


def _voice_name(voice: Voice) -> str:
    return f"{voice.name}+{voice.variant}" if voice.variant else voice.name


def _check_voice_fields(voice: Voice) -> int:
    """Validate the espeak-ng settings of ``voice``; returns the rate in words per minute."""
    if voice.engine not in ESPEAK_DRIVEN:
        raise ValueError(f"{voice.id}: not an espeak-ng voice ({voice.engine})")
    wpm = round(RATE_NORMAL_WPM * voice.rate)
    if not RATE_MIN_WPM <= wpm <= RATE_MAX_WPM:
        raise ValueError(f"{voice.id}: rate {wpm} wpm outside {RATE_MIN_WPM}..{RATE_MAX_WPM}")
    for what, value in (("pitch", voice.pitch), ("pitch_range", voice.pitch_range)):
        if not 0 <= value <= 100:
            raise ValueError(f"{voice.id}: espeak-ng {what} {value} outside 0..100")
    return wpm


def _variant_echo(data_dir: Path, variant: str) -> tuple[int, int]:
    """The ``echo <delay ms> <amp>`` of a variant file (the English voice files set none)."""
    delay = amp = 0
    if variant:
        for line in (data_dir / "voices" / "!v" / variant).read_text(errors="replace").splitlines():
            words = line.split("//")[0].split()
            if len(words) >= 3 and words[0] == "echo":
                with suppress(ValueError):
                    delay, amp = int(words[1]), int(words[2])
    return delay, amp


def synth_raw(text: str, voice: Voice, volume: int = DEFAULT_VOLUME) -> RawSynthesis:
    """Speak ``text`` with ``voice``: samples at the engine's rate, events and phoneme trace."""
    wpm = _check_voice_fields(voice)
    data = text.encode("utf-8") + b"\0"
    with _LOCK:
        _CURRENT.chunks.clear()
        _CURRENT.events.clear()
        _CURRENT.traces.clear()
        with _session() as (lib, rate, data_dir):
            if voice.variant and not (Path(data_dir) / "voices" / "!v" / voice.variant).is_file():
                # espeak_SetVoiceByName ignores an unknown variant silently
                raise RuntimeError(f"{voice.id}: espeak-ng has no variant {voice.variant!r} in {data_dir}")
            rc = lib.espeak_SetVoiceByName(_voice_name(voice).encode())
            if rc != 0:
                raise RuntimeError(f"{voice.id}: espeak_SetVoiceByName({_voice_name(voice)!r}) failed ({rc})")
            for param, value in (
                (_PARAM_RATE, wpm),
                (_PARAM_PITCH, round(voice.pitch)),
                (_PARAM_RANGE, round(voice.pitch_range)),
                (_PARAM_VOLUME, volume),
            ):
                rc = lib.espeak_SetParameter(param, value, 0)
                if rc != 0:
                    raise RuntimeError(f"{voice.id}: espeak_SetParameter({param}, {value}) failed ({rc})")
            rc = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if rc != 0:
                raise RuntimeError(f"{voice.id}: espeak_Synth failed ({rc}) for {text[:80]!r}")
            rate = lib.espeak_ng_GetSampleRate()  # the voice's: an MBROLA database speaks at 16 kHz
        samples = np.frombuffer(b"".join(_CURRENT.chunks), dtype="<i2").copy()  # [N] int16
        delay, amp = _variant_echo(Path(data_dir), voice.variant)
        return RawSynthesis(samples, rate, list(_CURRENT.events), list(_CURRENT.traces), delay, amp)


# ---------------------------------------------------------------------------------------------
# The corpus voices and the Synthesizer
# ---------------------------------------------------------------------------------------------

# (dialect, variant, pitch 0-100, pitch range 0-100, rate wpm, sex). espeak-ng's pitch and range
# scale the variant's own base pitch and range (50 = as the variant defines it).
_VOICE_TABLE: tuple[tuple[str, str, int, int, int, str], ...] = (
    ("en-us", "m3", 55, 50, 165, "male"),
    ("en-us", "f2", 70, 50, 160, "female"),
    ("en-us", "m1", 30, 40, 175, "male"),
    ("en-us", "f4", 60, 70, 185, "female"),
    ("en-us", "klatt2", 45, 50, 170, "male"),
    ("en-us", "f5", 75, 60, 150, "female"),
    ("en-us", "klatt", 60, 60, 190, "male"),
    ("en-us", "Annie", 55, 50, 165, "female"),
    ("en-us", "michel", 60, 45, 170, "male"),
    ("en-us-nyc", "m7", 50, 55, 180, "male"),
    ("en-us-nyc", "f3", 65, 50, 170, "female"),
    ("en", "m2", 40, 50, 170, "male"),
    ("en", "f1", 65, 60, 165, "female"),
    ("en", "klatt4", 50, 40, 160, "male"),
    ("en", "belinda", 55, 55, 170, "female"),
    ("en-gb-x-rp", "m4", 35, 50, 160, "male"),
    ("en-gb-x-rp", "f5", 60, 45, 175, "female"),
    ("en-gb-scotland", "m5", 65, 60, 170, "male"),
    ("en-gb-scotland", "f3", 60, 50, 160, "female"),
    ("en-029", "m6", 60, 50, 165, "male"),
    ("en-029", "f4", 70, 60, 155, "female"),
    ("en-gb-x-gbclan", "m8", 60, 50, 175, "male"),
    ("en-gb-x-gbclan", "f2", 60, 40, 170, "female"),
    ("en-gb-x-gbcwmd", "m3", 45, 55, 165, "male"),
    ("en-gb-x-gbcwmd", "f1", 70, 50, 180, "female"),
)


def voice_id(dialect: str, variant: str, pitch: int, pitch_range: int, wpm: int) -> str:
    """Stable id, e.g. ``espeak-en-us+f2-p70-r160`` (``-pr<range>`` appended unless 50)."""
    base = f"espeak-{dialect}+{variant}" if variant else f"espeak-{dialect}"
    return f"{base}-p{pitch}-r{wpm}" + (f"-pr{pitch_range}" if pitch_range != 50 else "")


def corpus_voices() -> list[Voice]:
    """The espeak-ng corpus voices (no library needed to list them)."""
    return [
        Voice(
            id=voice_id(dialect, variant, pitch, rng, wpm),
            engine="espeak-ng",
            name=dialect,
            variant=variant,
            pitch=float(pitch),
            pitch_range=float(rng),
            rate=wpm / RATE_NORMAL_WPM,
            sex="female" if sex == "female" else "male",
            extra={"rate_wpm": str(wpm)},
        )
        for dialect, variant, pitch, rng, wpm, sex in _VOICE_TABLE
    ]


class EspeakSynthesizer:
    """:class:`~training.corpus.tts.voices.Synthesizer` for espeak-ng through its C library.

    One synthesis at a time per process (a process-wide lock; see the module docstring): run
    one instance per worker process for parallel corpus generation.
    """

    engine: Engine = "espeak-ng"

    def __init__(self, volume: int = DEFAULT_VOLUME) -> None:
        self.volume = volume
        self.reason = ""  # why available() is False

    def available(self) -> bool:
        """Whether libespeak-ng loads and initialises here (``reason`` says why not)."""
        try:
            with _LOCK, _session():
                pass
        except (OSError, RuntimeError, AttributeError) as exc:
            self.reason = f"espeak-ng unavailable: {exc}"
            return False
        self.reason = ""
        return True

    def voices(self) -> list[Voice]:
        return corpus_voices()

    def synth(self, text: str, voice: Voice) -> SynthResult:
        """Speak ``text``: 16 kHz float32 audio and ARPAbet spans timed by the engine's events."""
        if not text.strip():
            raise ValueError("nothing to say: empty text")
        raw = synth_raw(text, voice, self.volume)
        if raw.samples.size == 0:
            raise RuntimeError(f"{voice.id}: espeak-ng produced no audio for {text[:80]!r}")
        audio = np.clip(resample_array(raw.samples, raw.rate), -1.0, 1.0).astype(np.float32)  # [M]
        spans, words = events_to_spans(raw, dialect(voice), text, duration=audio.shape[0] / SAMPLE_RATE)
        return SynthResult(audio=audio, phones=spans, text=text, voice=voice, words=words)
