"""The corpus text generator: deterministic, varied, phonetically complete, safe to speak, split-able.

The coverage test uses the size of the corpus it stands for: 5 hours of speech at 2.5 words/s is
45,000 words (about 4,400 utterances of ~10 words), and every one of the 39 ARPAbet phonemes must
occur at least 1,000 times in it (they all do ~1,600+ times; ZH and OY are boosted on purpose).
"""

from __future__ import annotations

import hashlib
import itertools
import re
import time
from collections import Counter

import pytest

from xactor.training.corpus.phonemes import ARPABET
from xactor.training.corpus.text import (
    DEFAULT_SPLIT,
    MAX_WORDS,
    MIN_WORDS,
    PAUSE_MAX,
    PAUSE_MIN,
    POOLS,
    SAFE_CHARS,
    Kind,
    Split,
    Utterance,
    coverage,
    generate_pools,
    generate_texts,
    iter_texts,
    lexicon,
    normalise,
    phonemes_of,
    pool_of,
    pronounce,
    spell_number,
    spell_ordinal,
    spell_year,
    text_id_of,
    texts_for_duration,
    vocabulary_words,
)
from xactor.training.corpus.text.grammar import _Grammar

SEED = 1234


@pytest.fixture(scope="module")
def texts() -> list[Utterance]:
    return generate_texts(SEED, 5000)


@pytest.fixture(scope="module")
def five_hours() -> list[Utterance]:
    return texts_for_duration(SEED, 5.0)


@pytest.fixture(scope="module")
def pools() -> dict[str, list[Utterance]]:
    return generate_pools(SEED, {"train": 6000, "val": 800, "test": 800})


def _sentences(utt: Utterance) -> list[str]:
    """The sentences an utterance says, normalised: quoted speech counts as its quoted sentence (the
    "Maria said" frame is not a sentence of its own), everything else splits at . ? !"""
    out: list[str] = []
    for seg in utt.segments:
        if not isinstance(seg, str):
            continue
        quoted = re.findall(r'"([^"]+)"', seg)
        if quoted:
            out.extend(normalise(q) for q in quoted)
            continue
        out.extend(normalise(s) for s in re.split(r"(?<=[.?!])\s+", seg) if s.strip())
    return out


def test_same_seed_same_texts_other_seed_other_texts() -> None:
    a = generate_texts(7, 400)
    b = generate_texts(7, 400)
    assert a == b
    assert [u.segments for u in a] == [u.segments for u in b]
    c = generate_texts(8, 400)
    assert len({u.text_id for u in a} & {u.text_id for u in c}) < 20  # a few short fragments may meet


def test_every_kind_is_generated(texts: list[Utterance]) -> None:
    kinds = Counter(u.kind for u in texts)
    assert set(kinds) == set(Kind)
    for kind in Kind:
        assert kinds[kind] >= 0.02 * len(texts), kinds
    templates = {u.template_id.split("(")[0] for u in texts}
    assert {"quote.before", "quote.after", "dialogue", "passage"} <= templates
    for wanted in ("question.wh_did", "question.yes_no", "numbers.date", "numbers.price", "list.objects"):
        assert wanted in templates


def test_kind_weights_select_kinds() -> None:
    only = generate_texts(3, 200, kind_weights={Kind.LIPS: 1.0, Kind.NUMBERS: 1.0})
    assert {u.kind for u in only} == {Kind.LIPS, Kind.NUMBERS}


def test_lengths_are_spread(texts: list[Utterance]) -> None:
    n = [u.n_words for u in texts]
    assert min(n) == MIN_WORDS and max(n) <= MAX_WORDS and max(n) >= 35
    buckets = Counter(0 if w <= 5 else 1 if w <= 10 else 2 if w <= 20 else 3 for w in n)
    for b in range(4):  # 2-5, 6-10, 11-20, 21-40 words: each a real share
        assert buckets[b] >= 0.05 * len(n), buckets


def test_pauses_are_in_range_and_between_texts(texts: list[Utterance]) -> None:
    pauses = [p for u in texts for p in u.pauses]
    assert pauses, "no explicit pauses at all"
    assert all(PAUSE_MIN <= p <= PAUSE_MAX for p in pauses)
    assert min(pauses) < 0.4 and max(pauses) > 1.5  # short and long ones
    with_pauses = sum(1 for u in texts if u.pauses)
    assert with_pauses >= 0.08 * len(texts)
    for u in texts:
        assert len(u.segments) % 2 == 1
        assert all(isinstance(s, str) for s in u.segments[::2])
        assert all(isinstance(s, float) for s in u.segments[1::2])
    # punctuation pauses inside the text, too
    assert sum("," in u.text for u in texts) > 0.3 * len(texts)


def test_text_is_safe_for_every_engine(texts: list[Utterance], pools: dict[str, list[Utterance]]) -> None:
    for u in [*texts, *pools["val"], *pools["test"]]:
        for seg in u.segments[::2]:
            assert isinstance(seg, str)
            assert seg.strip() and seg == seg.strip() and "  " not in seg
            assert set(seg) <= SAFE_CHARS, seg
        assert u.text[0].isupper() or u.text[0] == '"', u.text
        assert u.text[-1] in '.?!"', u.text
        assert u.text_id == text_id_of(u.text)
        assert not re.search(r"\d", u.text), u.text  # numbers are spelled out by the generator


def test_no_duplicates_within_a_stream(texts: list[Utterance]) -> None:
    assert len({u.text_id for u in texts}) == len(texts)


def test_all_39_phonemes_thousands_of_times_in_five_hours(five_hours: list[Utterance]) -> None:
    words = sum(u.n_words for u in five_hours)
    assert 45_000 <= words < 45_000 + MAX_WORDS
    unknown: Counter[str] = Counter()
    counts = coverage(five_hours, unknown)
    assert set(counts) == set(ARPABET) and len(ARPABET) == 39
    low = {p: c for p, c in counts.items() if c < 1000}
    assert not low, f"phonemes under 1000 in 5 h of text: {low}"
    assert not unknown, f"words without a pronunciation: {unknown.most_common(10)}"


def test_every_vocabulary_word_has_a_pronunciation() -> None:
    lex = lexicon()
    missing = sorted(w for w in vocabulary_words() if w not in lex)
    assert not missing


def test_lip_drills_are_dense_in_their_articulation(texts: list[Utterance]) -> None:
    groups = {
        "lips.bilabial": {"P", "B", "M"},
        "lips.labiodental": {"F", "V"},
        "lips.rounded": {"UW", "UH", "OW", "AO", "OY", "AW", "W"},
    }
    for template, phones in groups.items():
        drills = [u for u in texts if u.template_id == template]
        assert len(drills) >= 50, template
        ratios = []
        for u in drills:
            ph = phonemes_of(u.text)
            ratios.append(sum(p in phones for p in ph) / len(ph))
        mean = sum(ratios) / len(ratios)
        # in the whole corpus P+B+M are ~8 % of phonemes, F+V ~4 %, those rounded ones ~12 %
        assert mean >= {"lips.bilabial": 0.2, "lips.labiodental": 0.12, "lips.rounded": 0.22}[template], (
            template,
            mean,
        )
    bilabial_heavy = [
        u for u in texts if (ph := phonemes_of(u.text)) and sum(p in "PBM" for p in ph) / len(ph) >= 0.2
    ]
    assert len(bilabial_heavy) >= 0.05 * len(texts)


def test_pools_are_disjoint_sentence_by_sentence(pools: dict[str, list[Utterance]]) -> None:
    assert {p: len(v) for p, v in pools.items()} == {"train": 6000, "val": 800, "test": 800}
    sentences: dict[str, set[str]] = {pool: set() for pool in POOLS}
    for pool, utts in pools.items():
        assert all(u.pool == pool for u in utts)
        for u in utts:
            for s in _sentences(u):
                # the rule itself: every sentence hashes into the utterance's pool
                assert pool_of(s) == pool, (pool, s, u.text)
                sentences[pool].add(s)
    assert not sentences["train"] & sentences["val"]
    assert not sentences["train"] & sentences["test"]
    assert not sentences["val"] & sentences["test"]
    texts = {pool: {normalise(u.text) for u in utts} for pool, utts in pools.items()}
    assert not texts["train"] & (texts["val"] | texts["test"]) and not texts["val"] & texts["test"]
    # every kind still reaches the held-out pools
    assert {u.kind for u in pools["test"]} == set(Kind)


def test_a_pool_does_not_depend_on_the_size_of_the_others() -> None:
    small = generate_pools(5, {"test": 50})["test"]
    big = generate_pools(5, {"train": 300, "val": 100, "test": 80})["test"]
    assert big[:50] == small


def test_pool_of_is_stable_and_proportional() -> None:
    assert pool_of("Bob bought a map of Maine.") == pool_of("  bob BOUGHT a map of maine?! ")
    assert normalise('"Let\'s go," Maria said.') == "let's go maria said"
    counts = Counter(pool_of(f"sentence number {i}") for i in range(20_000))
    assert abs(counts["train"] / 20_000 - DEFAULT_SPLIT.train) < 0.01
    assert abs(counts["test"] / 20_000 - DEFAULT_SPLIT.test) < 0.01
    with pytest.raises(ValueError):
        Split(0.9, 0.2, 0.1)


def test_phonemes_of_words_numbers_and_unknowns() -> None:
    assert phonemes_of("Bob bought a map of Maine.") == [
        "B", "AA", "B", "B", "AA", "T", "AH", "M", "AE", "P", "AH", "V", "M", "EY", "N",
    ]  # fmt: skip
    assert phonemes_of("42") == phonemes_of("forty-two") == phonemes_of("forty two")
    assert phonemes_of("the 3rd of May") == phonemes_of("the third of May")
    assert phonemes_of("1,205") == phonemes_of("one thousand two hundred five")
    assert phonemes_of("3.14") == phonemes_of("three point one four")
    assert phonemes_of("measure") == ["M", "EH", "ZH", "ER"]
    assert phonemes_of("Troy's") == ["T", "R", "OY", "Z"]
    phones, unknown = pronounce("Bob zzqxv bought it")
    assert unknown == ["zzqxv"] and phones == phonemes_of("Bob bought it")
    missing: Counter[str] = Counter()
    counts = coverage(["Bob zzqxv", "zzqxv boy"], missing)
    assert missing == Counter({"zzqxv": 2}) and counts["OY"] == 1 and counts["ZH"] == 0


def test_number_spelling() -> None:
    assert spell_number(0) == "zero"
    assert spell_number(47) == "forty-seven"
    assert spell_number(1205) == "one thousand two hundred five"
    assert spell_number(3_000_000) == "three million"
    assert spell_ordinal(21) == "twenty-first"
    assert spell_ordinal(12) == "twelfth"
    assert spell_ordinal(40) == "fortieth"
    assert spell_ordinal(103) == "one hundred third"
    assert spell_year(1987) == "nineteen eighty-seven"
    assert spell_year(2005) == "two thousand five"
    assert spell_year(1905) == "nineteen oh five"
    assert spell_year(1900) == "nineteen hundred"
    assert spell_year(2024) == "twenty twenty-four"


def test_articles_follow_the_sound() -> None:
    assert _Grammar.art("hour") == "an hour"
    assert _Grammar.art("university") == "a university"
    assert _Grammar.art("old map") == "an old map"
    assert _Grammar.art("big egg") == "a big egg"


@pytest.mark.parametrize(
    "segments",
    [
        (),
        ("",),
        ("   ",),
        (" padded",),
        ("Hi.", 0.5),
        (0.5, "Hi."),
        ("Hi.", 0.1, "There."),
        ("Hi.", 2.5, "There."),
        ("Hi.", 0.5, 0.5, "There."),
        ("Hi.", "There."),
        ("Caf\u00e9 au lait.",),
        ("Price: $5.",),
    ],
)
def test_utterance_rejects_bad_segments(segments: tuple[str | float, ...]) -> None:
    with pytest.raises(ValueError):
        Utterance.make(segments, Kind.STATEMENT, "statement.test", "train")


def test_utterance_accepts_good_segments() -> None:
    u = Utterance.make(("Hello there.", 0.6, "How are you?"), Kind.DIALOGUE, "dialogue(x)", "val")
    assert u.text == "Hello there. How are you?" and u.pauses == (0.6,) and u.n_words == 5
    with pytest.raises(ValueError):
        Utterance(("Hi.",), Kind.STATEMENT, "t", "train", "not-an-id")
    with pytest.raises(ValueError):
        Utterance.make(("Hi.",), Kind.STATEMENT, "t", "holdout")


def test_fast_enough() -> None:
    start = time.perf_counter()
    out = generate_texts(99, 10_000)
    elapsed = time.perf_counter() - start
    assert len(out) == 10_000
    assert elapsed < 15.0, f"10k utterances took {elapsed:.1f} s (about 1 s on an idle core)"


# sha256 over (segments, kind, template_id, pool, text_id) of the first 200 utterances of each pool,
# taken before text.py became a package: the shipped corpus's text must not move with the code.
TEXT_FINGERPRINTS = {
    0: "e0468df700db57f723976ce5f7bb2a8a9d951513f65f0eef994da22854e66779",
    1234: "7be62254e7870f5114971de32349a93a21141ef79cb821825c328aaa11353c4d",
}


@pytest.mark.parametrize("seed", sorted(TEXT_FINGERPRINTS))
def test_text_for_a_seed_is_byte_identical(seed: int) -> None:
    h = hashlib.sha256()
    for pool in POOLS:
        for u in itertools.islice(iter_texts(seed, pool), 200):
            h.update(repr((u.segments, u.kind.value, u.template_id, u.pool, u.text_id)).encode())
    assert h.hexdigest() == TEXT_FINGERPRINTS[seed]
