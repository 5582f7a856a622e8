"""Viseme targets per ARPAbet phoneme in the motion space, with Cohen–Massaro dominance parameters.

A viseme is what the jaw and lips aim for while a phoneme sounds, written on the 16 lip channels of
:mod:`xactor.engines.motion_space` (:data:`LIP_CHANNELS`). :mod:`xactor.training.corpus.motion.lips`
blends the targets of neighbouring phonemes by their *dominance*: how strongly a segment imposes its
shape on its neighbours (a bilabial must close the lips whatever vowel follows; an /h/ takes the
shape of the vowel after it). Dominance here is per channel group (Cohen & Massaro 1993 give each
segment a dominance per articulatory parameter): a consonant made with the tongue does not care
whether the lips round or spread, so on those groups its dominance is scaled down by
:data:`FREE_FACTOR` and it takes the rounding of the vowel around it ("k" in "cool" is rounded).

Conventions the numbers rely on (checked on the warp renderer: ``docs/corpus_bilabials.png``):

* Zero is the relaxed neutral face: lips together, teeth hidden (the motion-space contract).
  Every lip coefficient is 0 in silence.
* ``mouthClose`` closes the lips *against an open jaw* (ARKit's meaning): in the face basis
  (:mod:`xactor.engines.face_basis`) it moves each lip half of the jaw's lip drop toward the other, so
  ``mouthClose == jawOpen`` seals the lips and ``mouthClose > jawOpen`` pushes them through each
  other — on a closed-mouth portrait the renderer then paints an open mouth with teeth. A
  closure is therefore "jaw nearly shut, ``mouthClose`` equal to the jaw, ``mouthPress`` high",
  not ``mouthClose`` near 1 (which only looks closed on a portrait photographed with parted lips,
  whose own expression the renderer does not yet remove).
* The motion space has no ``mouthShrug*`` channels: the labiodental lower-lip tuck is
  ``mouthRollLower`` plus a little ``mouthUpperUp`` (the upper lip lifts off the teeth) and a
  little ``mouthClose`` (the lower lip rises to the upper teeth).
* Left and right are always equal here; asymmetry is the business of emotion and life.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from xactor.engines import motion_space as ms
from xactor.training.corpus.phonemes import ARPABET, SILENCE, VOWELS

# The channels visemes write (everything the lips and jaw do while speaking), by group.
CHANNEL_GROUPS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "jaw": ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight"),
        "closure": ("mouthClose", "mouthPressLeft", "mouthPressRight"),
        "round": ("mouthPucker", "mouthFunnel"),
        "spread": ("mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight"),
        "lip": ("mouthRollLower", "mouthRollUpper", "mouthUpperUpLeft", "mouthUpperUpRight"),
    }
)
LIP_CHANNELS: tuple[str, ...] = tuple(n for names in CHANNEL_GROUPS.values() for n in names)
LIP_INDEX: np.ndarray = np.array([ms.INDEX[n] for n in LIP_CHANNELS])  # [16] motion-space columns
_GROUP_OF: dict[str, str] = {n: g for g, names in CHANNEL_GROUPS.items() for n in names}
CH: dict[str, int] = {n: i for i, n in enumerate(LIP_CHANNELS)}  # name -> column of a lip array

# Dominance on a group a phoneme does not constrain, as a fraction of its own dominance.
FREE_FACTOR = 0.15

# Phoneme classes (the tests and the blending refer to them by these names).
BILABIALS: frozenset[str] = frozenset({"P", "B", "M"})
LABIODENTALS: frozenset[str] = frozenset({"F", "V"})
DENTALS: frozenset[str] = frozenset({"TH", "DH"})
ALVEOLARS: frozenset[str] = frozenset({"T", "D", "N", "L", "S", "Z"})
VELARS: frozenset[str] = frozenset({"K", "G", "NG"})
POSTALVEOLARS: frozenset[str] = frozenset({"SH", "ZH", "CH", "JH"})
ROUNDED: frozenset[str] = frozenset({"UW", "UH", "OW", "AO", "OY", "W", "R"})
SPREAD: frozenset[str] = frozenset({"IY", "IH", "EY", "EH"})
OPEN: frozenset[str] = frozenset({"AA", "AE", "AH", "AW", "AY"})
SCHWA = "AH0"  # unstressed AH: the reduced vowel, a key of VISEMES of its own


@dataclass(frozen=True)
class Viseme:
    """Lip targets of one phoneme and how it coarticulates.

    ``dominance`` is the peak of its dominance function (0..1]; ``tau_before`` / ``tau_after`` the
    exponential decay (seconds) before its nucleus (anticipation: how early the lips start moving
    toward it) and after (carry-over). ``plateau`` is the fraction of the phoneme's span, centred,
    held at full dominance (1 for silence: a pause dominates all of itself). ``free`` lists the
    channel groups the phoneme does not constrain. ``loud_jaw``: the jaw target scales with the
    loudness of the phoneme (vowels). ``glide``: diphthongs move to this viseme over their last
    :data:`GLIDE_FRACTION`.
    """

    targets: Mapping[str, float]
    dominance: float
    tau_before: float = 0.07
    tau_after: float = 0.06
    plateau: float = 0.3
    free: frozenset[str] = frozenset()
    loud_jaw: bool = False
    glide: str | None = None
    vector: np.ndarray = field(init=False, repr=False, compare=False)  # [16] targets, LIP_CHANNELS order
    alpha: np.ndarray = field(init=False, repr=False, compare=False)  # [16] per-channel dominance

    def __post_init__(self) -> None:
        unknown = set(self.targets) - set(LIP_CHANNELS)
        if unknown:
            raise ValueError(f"viseme targets on non-lip channels {sorted(unknown)}")
        bad_groups = set(self.free) - set(CHANNEL_GROUPS)
        if bad_groups:
            raise ValueError(f"unknown channel groups {sorted(bad_groups)}")
        if not 0.0 < self.dominance <= 1.0 or min(self.tau_before, self.tau_after) <= 0:
            raise ValueError("dominance must be in (0, 1] and time constants > 0")
        vector = np.array([self.targets.get(n, 0.0) for n in LIP_CHANNELS], dtype=np.float64)
        alpha = np.array(
            [self.dominance * (FREE_FACTOR if _GROUP_OF[n] in self.free else 1.0) for n in LIP_CHANNELS]
        )
        object.__setattr__(self, "vector", vector)
        object.__setattr__(self, "alpha", alpha)


GLIDE_FRACTION = 0.4  # the last 40 % of a diphthong moves to its offglide


def _sym(**values: float) -> dict[str, float]:
    """Targets with ``mouthSmile=0.2`` written once for both sides (``...Left`` and ``...Right``)."""
    out: dict[str, float] = {}
    for name, value in values.items():
        if name in CH:
            out[name] = value
        else:
            out[f"{name}Left"] = value
            out[f"{name}Right"] = value
    return out


def _closure(jaw: float, press: float) -> dict[str, float]:
    """A bilabial: jaw nearly shut, lips sealed against it (mouthClose == jawOpen), pressed."""
    return _sym(jawOpen=jaw, mouthClose=jaw, mouthPress=press)


# Lip targets per phoneme (channels not named are 0).
_TARGETS: dict[str, dict[str, float]] = {
    SILENCE: {},
    # Bilabials: jaw nearly shut, lips sealed and pressed.
    "P": _closure(0.04, 0.7),
    "B": _closure(0.05, 0.6),
    "M": _closure(0.05, 0.55),
    # Labiodentals: lower lip rolled in and up to the upper teeth, upper lip lifted a little.
    "F": _sym(jawOpen=0.09, mouthClose=0.05, mouthRollLower=0.65, mouthUpperUp=0.2),
    "V": _sym(jawOpen=0.09, mouthClose=0.05, mouthRollLower=0.55, mouthUpperUp=0.18),
    # Dentals: tongue between the teeth, the jaw a little open, the lips slightly apart.
    "TH": _sym(jawOpen=0.13, mouthUpperUp=0.08, mouthLowerDown=0.1),
    "DH": _sym(jawOpen=0.12, mouthUpperUp=0.06, mouthLowerDown=0.08),
    # Alveolars: mid-closed jaw; sibilants bring the teeth together and pull the corners a bit.
    "T": _sym(jawOpen=0.12, mouthLowerDown=0.05),
    "D": _sym(jawOpen=0.12, mouthLowerDown=0.05),
    "N": _sym(jawOpen=0.11, mouthLowerDown=0.04),
    "L": _sym(jawOpen=0.16, mouthLowerDown=0.06),
    "S": _sym(jawOpen=0.06, mouthStretch=0.12, mouthLowerDown=0.08),
    "Z": _sym(jawOpen=0.06, mouthStretch=0.1, mouthLowerDown=0.07),
    # Velars: the tongue back does the work.
    "K": _sym(jawOpen=0.16),
    "G": _sym(jawOpen=0.16),
    "NG": _sym(jawOpen=0.13),
    # Postalveolars: lips protruded into a funnel, teeth nearly together.
    "SH": _sym(jawOpen=0.08, mouthFunnel=0.55, mouthPucker=0.3, mouthUpperUp=0.1),
    "ZH": _sym(jawOpen=0.08, mouthFunnel=0.5, mouthPucker=0.28, mouthUpperUp=0.08),
    "CH": _sym(jawOpen=0.07, mouthFunnel=0.5, mouthPucker=0.3, mouthUpperUp=0.1),
    "JH": _sym(jawOpen=0.08, mouthFunnel=0.48, mouthPucker=0.28, mouthUpperUp=0.08),
    # Glides and liquids: W rounds hard, R a little, Y spreads; /h/ is only a mid jaw.
    "W": _sym(jawOpen=0.06, mouthPucker=0.75, mouthFunnel=0.3),
    "R": _sym(jawOpen=0.1, mouthPucker=0.3, mouthFunnel=0.25),
    "Y": _sym(jawOpen=0.08, mouthSmile=0.12, mouthStretch=0.15),
    "HH": _sym(jawOpen=0.15),
    # Open vowels: the jaw (scaled by loudness) with the lower lip following it.
    "AA": _sym(jawOpen=0.55, mouthLowerDown=0.2),
    "AE": _sym(jawOpen=0.48, mouthLowerDown=0.16, mouthStretch=0.18, mouthSmile=0.08, mouthUpperUp=0.08),
    "AH": _sym(jawOpen=0.45, mouthLowerDown=0.14),
    SCHWA: _sym(jawOpen=0.22, mouthLowerDown=0.06),
    "AW": _sym(jawOpen=0.5, mouthLowerDown=0.15),  # glides to UW
    "AY": _sym(jawOpen=0.5, mouthLowerDown=0.15),  # glides to IY
    # Spread vowels: corners out, a little smile, the jaw from nearly shut (IY) to mid (EH).
    "IY": _sym(jawOpen=0.08, mouthSmile=0.2, mouthStretch=0.3),
    "IH": _sym(jawOpen=0.15, mouthSmile=0.12, mouthStretch=0.22),
    "EY": _sym(jawOpen=0.24, mouthSmile=0.12, mouthStretch=0.22),  # glides to IY
    "EH": _sym(jawOpen=0.27, mouthSmile=0.08, mouthStretch=0.2, mouthUpperUp=0.05, mouthLowerDown=0.08),
    # Rounded vowels: pucker (narrow, forward) and funnel (flared O) in proportions per vowel.
    "UW": _sym(jawOpen=0.09, mouthPucker=0.7, mouthFunnel=0.35),
    "UH": _sym(jawOpen=0.15, mouthPucker=0.45, mouthFunnel=0.3),
    "OW": _sym(jawOpen=0.28, mouthFunnel=0.55, mouthPucker=0.35),  # glides to UW
    "AO": _sym(jawOpen=0.36, mouthFunnel=0.5, mouthPucker=0.2, mouthLowerDown=0.08),
    "OY": _sym(jawOpen=0.32, mouthFunnel=0.5, mouthPucker=0.25),  # glides to IY
    # r-coloured schwa: a little rounding, mid jaw.
    "ER": _sym(jawOpen=0.18, mouthPucker=0.25, mouthFunnel=0.2),
}

# Coarticulation per phoneme: (dominance, tau_before s, tau_after s, plateau, free groups).
# Closures and labiodentals dominate; rounding anticipates far (tau_before 0.1 s: lips round
# during the consonants before an /u/); /h/ and schwa barely resist their neighbours.
_TONGUE = "round spread"  # groups a tongue consonant leaves to the vowels around it
_DYNAMICS: dict[str, tuple[float, float, float, float, str]] = {
    SILENCE: (0.35, 0.05, 0.05, 1.0, ""),
    "P": (1.0, 0.07, 0.03, 0.5, _TONGUE),  # free to round or spread with the vowel ("moon", "me")
    "B": (1.0, 0.07, 0.03, 0.5, _TONGUE),
    "M": (1.0, 0.07, 0.03, 0.5, _TONGUE),
    "F": (1.0, 0.05, 0.035, 0.6, _TONGUE),
    "V": (1.0, 0.05, 0.035, 0.6, _TONGUE),
    "TH": (0.5, 0.06, 0.05, 0.3, _TONGUE),
    "DH": (0.45, 0.06, 0.05, 0.3, _TONGUE),
    "T": (0.4, 0.06, 0.05, 0.3, _TONGUE),
    "D": (0.4, 0.06, 0.05, 0.3, _TONGUE),
    "N": (0.35, 0.06, 0.05, 0.3, _TONGUE),
    "L": (0.3, 0.06, 0.05, 0.3, _TONGUE),
    "S": (0.55, 0.06, 0.05, 0.3, "round"),
    "Z": (0.5, 0.06, 0.05, 0.3, "round"),
    "K": (0.3, 0.06, 0.05, 0.3, _TONGUE),
    "G": (0.3, 0.06, 0.05, 0.3, _TONGUE),
    "NG": (0.3, 0.06, 0.05, 0.3, _TONGUE),
    "SH": (0.7, 0.08, 0.05, 0.4, "spread"),
    "ZH": (0.65, 0.08, 0.05, 0.4, "spread"),
    "CH": (0.7, 0.08, 0.05, 0.4, "spread"),
    "JH": (0.65, 0.08, 0.05, 0.4, "spread"),
    "W": (0.85, 0.1, 0.06, 0.4, ""),
    "R": (0.5, 0.08, 0.05, 0.3, ""),
    "Y": (0.5, 0.06, 0.05, 0.3, ""),
    "HH": (0.08, 0.04, 0.04, 0.2, ""),
    "AA": (0.65, 0.08, 0.08, 0.5, ""),
    "AE": (0.65, 0.08, 0.08, 0.5, ""),
    "AH": (0.6, 0.08, 0.08, 0.5, ""),
    SCHWA: (0.15, 0.06, 0.06, 0.4, ""),
    "AW": (0.65, 0.08, 0.08, 0.5, ""),
    "AY": (0.65, 0.08, 0.08, 0.5, ""),
    "IY": (0.55, 0.08, 0.07, 0.5, ""),
    "IH": (0.45, 0.08, 0.07, 0.5, ""),
    "EY": (0.5, 0.08, 0.07, 0.5, ""),
    "EH": (0.5, 0.08, 0.07, 0.5, ""),
    "UW": (0.65, 0.1, 0.07, 0.5, ""),
    "UH": (0.55, 0.1, 0.07, 0.5, ""),
    "OW": (0.6, 0.1, 0.07, 0.5, ""),
    "AO": (0.6, 0.1, 0.07, 0.5, ""),
    "OY": (0.6, 0.1, 0.07, 0.5, ""),
    "ER": (0.35, 0.08, 0.07, 0.4, ""),
}
_GLIDES: dict[str, str] = {"AW": "UW", "AY": "IY", "EY": "IY", "OW": "UW", "OY": "IY"}
_VOWEL_KEYS = frozenset({*VOWELS, SCHWA})


def _build() -> dict[str, Viseme]:
    table: dict[str, Viseme] = {}
    for phone, targets in _TARGETS.items():
        dominance, tau_before, tau_after, plateau, free = _DYNAMICS[phone]
        table[phone] = Viseme(
            targets=MappingProxyType(targets),
            dominance=dominance,
            tau_before=tau_before,
            tau_after=tau_after,
            plateau=plateau,
            free=frozenset(free.split()),
            loud_jaw=phone in _VOWEL_KEYS,
            glide=_GLIDES.get(phone),
        )
    return table


VISEMES: Mapping[str, Viseme] = MappingProxyType(_build())

missing = set(ARPABET) - set(VISEMES)
assert not missing, f"phonemes without a viseme: {sorted(missing)}"
del missing


def viseme_for(phone: str, stress: int = 0) -> Viseme:
    """The viseme of ``phone`` (ARPAbet or ``sil``); unstressed AH is the schwa."""
    if phone == "AH" and stress == 0:
        return VISEMES[SCHWA]
    try:
        return VISEMES[phone]
    except KeyError:
        raise ValueError(f"{phone!r} is not an ARPAbet phoneme or {SILENCE!r}") from None
