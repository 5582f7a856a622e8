"""The dev-set manifest: every clip says where it comes from, under what licence, who speaks and
what is said, in words the aligner knows; none comes from pocketsphinx (reserved for acceptance)."""

from __future__ import annotations

import re

import pytest

from xactor.bench.real_speech.manifest import align_words, load_manifest


def test_every_clip_is_described() -> None:
    manifest = load_manifest()
    assert manifest.clips
    for clip in manifest.clips:
        assert re.fullmatch(r"[0-9a-f]{64}", clip.sha256), clip.id
        assert clip.source.licence and clip.source.version, clip.id
        assert clip.sex in {"female", "male", "unknown"}, clip.id  # unknown: the source does not say
        assert clip.style in {"read", "conversational"}, clip.id
        assert clip.words.strip() and clip.words_from, clip.id
        assert "pocketsphinx" not in clip.source.package.lower(), clip.id
    assert {c.sex for c in manifest.clips} >= {"female", "male"}
    assert {c.style for c in manifest.clips} == {"read", "conversational"}


def test_align_words_keep_apostrophes_and_drop_punctuation() -> None:
    assert align_words("Oh, I didn’t know — you were there?") == "oh i didn't know you were there"


def test_the_aligner_knows_every_word() -> None:
    pytest.importorskip("pocketsphinx", reason="pocketsphinx is the aligner (dev extra)")
    from xactor.bench.real_speech.align import add_words, unknown_words

    for clip in load_manifest().clips:
        add_words(clip.pronounce)
        assert unknown_words(clip.align) == [], clip.id
