"""Experiment (issue 18, not shipped): a training corpus of real speech with the corpus composer's motion.

Debian's ``asterisk-core-sounds-en`` (+ ``-wav``) holds 568 transcribed prompts of one speaker
(Allison Smith, CC-BY-SA-3.0). SHE IS ONE OF THE DEV SET'S SPEAKERS (6 of its 16 clips): the dev
set's own files are left out here, but a model trained on this corpus may be scored only on the dev
set's *other* speakers (``--clip``); and the issue keeps real speech out of the shipped weights'
training, so this stays an experiment. Each prompt is forced-aligned with
pocketsphinx, as the dev set is, and the composer that made the synthetic corpus turns the
alignment into motion, as ``xactor eval real --sources oracle`` does. Prompts are joined into ~60 s
clips with 0.3-0.9 s pauses; every clip is ``train``. The recipe that used it: docs/training.md.

Run: ``apt-get install asterisk-core-sounds-en asterisk-core-sounds-en-wav``, then
``.venv/bin/python scripts/asterisk_corpus.py OUT_DIR`` (about 5 min on 2 cores; 0.38 h of speech).
"""

import gzip
import re
import sys
from pathlib import Path

import numpy as np

from xactor.bench.real_speech.align import AlignError, align, unknown_words
from xactor.bench.real_speech.manifest import load_manifest
from xactor.bench.real_speech.oracle import corpus_spans
from xactor.engines import timebase
from xactor.engines.audio.frontend import analyse
from xactor.engines.audio.resample import load_wav_16k
from xactor.training.corpus.motion.compose import clip_motion
from xactor.training.corpus.store.format import Clip, write_manifest, write_shard

SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
with gzip.open("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz", "rt") as listing:
    lines = listing.read().splitlines()
in_devset = {Path(c.path).name for c in load_manifest().clips if c.source.id == "asterisk"}
prompts = []
for line in lines:
    if ":" not in line or line.startswith(";"):
        continue
    key, text = line.split(":", 1)
    wav = SOUNDS / f"{key.strip()}.wav"
    words = re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split()
    if not wav.is_file() or not words or wav.name in in_devset:
        continue
    prompts.append((key.strip(), " ".join(words), wav))
print(len(prompts), "prompts with audio", flush=True)
rng = np.random.default_rng(0)
aligned = []
skipped = 0
for key, words, wav in prompts:
    if unknown_words(words):
        skipped += 1
        continue
    x = load_wav_16k(wav)
    try:
        spans = align(x, words)
    except AlignError:
        skipped += 1
        continue
    aligned.append((key, words, x, spans))
print(len(aligned), "aligned,", skipped, "skipped", flush=True)


clips, cur, seconds = [], [], 0.0
for item in aligned:
    cur.append(item)
    seconds += item[2].size / 16000 + 0.6
    if seconds > 60:
        clips.append(cur)
        cur, seconds = [], 0.0
if cur:
    clips.append(cur)
built = []
for ci, group in enumerate(clips):
    audio, phones, texts, t = [], [], [], 0.0
    for key, words, x, spans in group:
        gap = np.zeros(int(rng.uniform(0.3, 0.9) * 16000), np.float32)
        audio.append(gap)
        t += gap.size / 16000
        shifted = [[p.phone, p.start + t, p.end + t, p.word] for p in spans]  # [phone, start, end, word]
        phones += corpus_spans(shifted, words, key)
        audio.append(x.astype(np.float32))
        t += x.size / 16000
        texts.append(words)
    audio.append(np.zeros(8000, np.float32))
    audio = np.concatenate(audio)
    feats = analyse(audio)
    T = len(feats.speech)
    audio = audio[: T * timebase.SAMPLES_PER_FRAME]
    motion = clip_motion(phones, feats, 1000 + ci)[:T]
    built.append(
        Clip(
            id=f"asterisk-{ci:03d}",
            split="train",
            voice="asterisk-allison",
            seed=1000 + ci,
            texts=texts,
            phones=phones,
            audio=audio,
            log_mel=feats.log_mel.reshape(-1, feats.log_mel.shape[-1]),
            motion=np.asarray(motion, np.float32),
            speech=np.asarray(feats.speech, np.float32),
            emotion=np.zeros(T, np.uint8),
            intensity=np.zeros(T, np.float32),
            style=0.5,
            extra={"engine": "recording", "source": "asterisk-core-sounds-en 1.6.1 (CC-BY-SA-3.0)"},
        )
    )
for i in range(0, len(built), 4):
    write_shard(
        out, i // 4, built[i : i + 4], {"seconds": round(sum(c.seconds for c in built[i : i + 4]), 3)}
    )
m = write_manifest(out, {"source": "asterisk-core-sounds-en", "prompts": len(aligned)})
print(m["totals"], flush=True)
