"""The eval's ``oracle`` row: the corpus composer on a clip's aligned phones. It must read the
alignment as the corpus reads its TTS timings (schwa unstressed, silences as gaps), shut the lips
on every /p b m/ it was given and open the jaw on open vowels, frame for frame with the clip."""

from __future__ import annotations

import numpy as np
import pytest

from xactor.bench.real_speech import motion_space, oracle
from xactor.bench.real_speech.clips import ClipData
from xactor.bench.real_speech.phones import bilabial_spans, openness_target, phones_per_frame, scored_mask
from xactor.engines import motion_space as ms

# "Bob ma..." with pauses: [phone, start s, end s, word]
PHONES = [
    ["sil", 0.0, 0.30, ""],
    ["B", 0.30, 0.38, "bob"],
    ["AA", 0.38, 0.56, "bob"],
    ["B", 0.56, 0.64, "bob"],
    ["AH0", 0.64, 0.72, "a"],
    ["M", 0.72, 0.82, "map"],
    ["AE", 0.82, 1.02, "map"],
    ["P", 1.02, 1.12, "map"],
    ["sil", 1.12, 1.60, ""],
]


def _clip(seconds: float = 1.6) -> ClipData:
    rng = np.random.default_rng(0)
    samples = (0.05 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)
    frames = -(-samples.size // 640)
    per_frame = phones_per_frame(PHONES, frames)
    record = {"phones": PHONES, "words": "Bob a map", "scored": [[0.3, 1.12]]}
    return ClipData(
        id="built",
        samples=samples,
        per_frame=per_frame,
        scored=scored_mask(record["scored"], frames),
        target=openness_target(per_frame),
        bilabials=bilabial_spans(PHONES, record["scored"]),
        record=record,
    )


@pytest.fixture
def clip(monkeypatch: pytest.MonkeyPatch) -> ClipData:
    # The alignment above already names its schwa; stress lookup (espeak-ng) is not under test.
    monkeypatch.setattr(oracle, "mark_schwas", lambda phones, text: [list(p) for p in phones])
    return _clip()


def test_aligned_phones_read_as_the_corpus_reads_tts(clip: ClipData) -> None:
    spans = oracle.aligned_phones(clip)
    assert [s.phone for s in spans] == ["B", "AA", "B", "AH", "M", "AE", "P"]  # silences are gaps
    assert [s.stress for s in spans] == [1, 1, 1, 0, 1, 1, 1]  # the schwa is an unstressed AH
    assert spans[0].start == pytest.approx(0.30) and spans[-1].end == pytest.approx(1.12)


def test_unknown_phone_is_a_clear_error(clip: ClipData) -> None:
    clip.record["phones"] = [["XX", 0.3, 0.4, "x"]]
    with pytest.raises(ValueError, match="'XX' is not in the corpus's inventory"):
        oracle.aligned_phones(clip)


def test_oracle_shuts_every_bilabial_and_opens_the_vowels(clip: ClipData) -> None:
    motion = oracle.oracle_motion(clip)
    assert motion.shape == (clip.frames, ms.MOTION_DIM) and motion.dtype == np.float32
    opening = motion_space.opening(motion)
    closed = [k for k in range(clip.frames) if opening[k] <= motion_space.closed_threshold()]
    for start, end in clip.bilabials:  # each /p b m/ has a closed frame within one frame of it
        centre = int((start + end) / 2 * 25)
        assert any(abs(k - centre) <= 1 for k in closed), (start, end)
    jaw = motion[:, ms.INDEX["jawOpen"]]
    vowels = np.isin(clip.per_frame, ["AA", "AE"])
    bilabial = np.isin(clip.per_frame, ["P", "B", "M"])
    assert jaw[vowels].mean() > 2 * jaw[bilabial].mean() + 0.1
    assert np.array_equal(motion, oracle.oracle_motion(clip))  # same clip and seed, same motion
