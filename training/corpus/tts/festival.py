"""Festival speech with phoneme timings read from festival's own utterance.

One long-lived ``festival --pipe`` process per synthesiser reads Scheme on stdin. At start it is
given two helper functions (:data:`_PRELUDE`); each utterance is then one call
``(xactor_synth ID "text" 'voice_fn PITCH RATE HTS "out.wav" "out.segs")`` that

1. selects the voice by calling its voice function (every time: voice functions reset all the
   globals they use, so the result does not depend on what ran before),
2. selects festival's punctuation-driven phrasing (``simple_phrase_cart_tree``: a break at
   ``. ? : , ;``) instead of the voices' POS n-gram model, which inside one utterance puts no
   break even at a sentence end (``"Wait, what? Yes."`` came out without a pause); breaks are
   where festival inserts ``pau`` segments, and a talking-head corpus needs pauses where the
   text has them,
3. applies the prosody offsets (below),
4. runs ``utt.synth`` and saves the wave (``utt.save.wave``, riff) and, for every item of the
   ``Segment`` relation, its ``name``, ``end`` and syllable stress plus the index of its word
   (words numbered through ``Word`` → ``SylStructure`` daughters) to files in the process's
   private temporary directory,
5. prints ``XACTOR_OK ID`` (or ``XACTOR_ERR ID`` from ``unwind-protect`` when anything failed)
   and flushes stdout with ``(fflush nil)``: festival's stdout is block-buffered on a pipe, and
   this flush is the only way to see the answer before the process exits.

The times are the engine's: the diphone voices place segments by their duration model and
concatenate exactly those durations; for the HTS voice festival reloads the segment ends from the
label file hts_engine wrote for the audio it generated (``HTS_Synthesize_Utt``).

Prosody controls (``Voice.pitch`` = percent change of mean F0, ``Voice.rate`` = speaking rate):

* diphone voices (kal, ked): rate through ``Duration_Stretch`` (the voice's 1.1 / rate); pitch
  by scaling ``target_f0_mean`` / ``target_f0_std`` of ``int_lr_params`` (the LR intonation
  model maps its predictions onto these targets).
* HTS voice (slt): F0 and durations come from the HTS models, so ``Duration_Stretch`` and
  ``int_lr_params`` do nothing; festival's hts_engine wrapper reads only ``-m`` (the model) and
  ``-r`` (speech speed) from ``hts_engine_params``. Rate therefore goes through ``-r``; there is
  no pitch control, so slt has rate variants only and :meth:`FestivalSynthesizer.synth` refuses a
  pitch offset for it rather than ignoring it.

Robustness: the text is folded to ASCII and escaped as a Scheme string literal (backslash and
double quote), so quotes, backslashes and parentheses are spoken or skipped by festival's
tokeniser, never evaluated; each utterance has a timeout after which the process is killed; a
process found dead (crash, timeout, killed) is restarted before the next utterance, and an
utterance during which the process died is tried once more in a fresh process (a second death
raises). Text without words (``"..."``) is refused in Scheme before the diphone synthesiser,
which segfaults on an empty utterance. The process
runs in its own temporary directory because the HTS wrapper writes ``utt.feats`` / ``tmp.raw`` /
``tmp.lab`` into the current directory, which would collide between processes.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np

from xactor.training.corpus.tts.flite import EngineSegment, ascii_text, engine_result, voice_id
from xactor.training.corpus.tts.voices import SynthResult, Voice

VOICE_DIRS = (Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices"))


@dataclass(frozen=True)
class _FestivalVoiceSpec:
    name: str  # festival voice name (directory under voices/<lang>/), voice function voice_<name>
    short: str  # used in corpus ids
    sex: Literal["female", "male"]
    hts: bool  # HTS voice: rate through hts_engine "-r", no pitch control


FESTIVAL_VOICE_SPECS: dict[str, _FestivalVoiceSpec] = {
    s.name: s
    for s in (
        _FestivalVoiceSpec("kal_diphone", "kal", "male", hts=False),
        _FestivalVoiceSpec("ked_diphone", "ked", "male", hts=False),
        _FestivalVoiceSpec("cmu_us_slt_arctic_hts", "slt", "female", hts=True),
    )
}

# (voice, pitch percent, rate) for the corpus.
FESTIVAL_CORPUS: tuple[tuple[str, float, float], ...] = (
    ("kal_diphone", 0, 1.0), ("kal_diphone", 20, 0.9), ("kal_diphone", -10, 1.1),
    ("ked_diphone", 0, 1.0), ("ked_diphone", 15, 1.1), ("ked_diphone", -10, 0.9),
    ("cmu_us_slt_arctic_hts", 0, 1.0), ("cmu_us_slt_arctic_hts", 0, 0.9),
    ("cmu_us_slt_arctic_hts", 0, 1.2),
)  # fmt: skip

_PRELUDE = r"""
(define (xactor_scale_lr params factor)
  (mapcar
   (lambda (p)
     (if (or (eq (car p) 'target_f0_mean) (eq (car p) 'target_f0_std))
         (list (car p) (* factor (car (cdr p))))
         p))
   params))

(define (xactor_save_segs utt file)
  (let ((fd (fopen file "w")) (wi 0))
    (mapcar
     (lambda (w)
       (set! wi (+ wi 1))
       (format fd "W\t%s\n" (item.name w))
       (let ((ws (item.relation w 'SylStructure)))
         (if ws
             (mapcar
              (lambda (syl)
                (mapcar (lambda (seg) (item.set_feat seg "xactor_word" wi))
                        (item.daughters syl)))
              (item.daughters ws)))))
     (utt.relation.items utt 'Word))
    (mapcar
     (lambda (s)
       (format fd "S\t%s\t%f\t%s\t%s\n" (item.name s) (item.feat s "end")
               (item.feat s "R:SylStructure.parent.stress") (item.feat s "xactor_word")))
     (utt.relation.items utt 'Segment))
    (fclose fd)))

;; utt.synth for a Text utterance, module by module as festival defines it (UttTypes), but
;; refusing to reach Wave_Synth without words: the diphone synthesiser segfaults on an empty
;; utterance (text such as "...").
(define (xactor_utt_synth utt)
  (mapcar
   (lambda (form)
     (if (and (eq (car form) 'Wave_Synth) (null (utt.relation.items utt 'Word)))
         (error "xactor: no words to speak in this text"))
     ((eval (list 'lambda '(utt) form)) utt))
   (cdr (assoc 'Text UttTypes)))
  utt)

(define (xactor_synth id text voice pitch rate hts wavfile segfile)
  (unwind-protect
   (begin
     (eval (list voice))
     (Parameter.set 'Phrase_Method 'cart_tree)
     (set! phrase_cart_tree simple_phrase_cart_tree)
     (if hts
         (set! hts_engine_params (cons (list "-r" rate) hts_engine_params))
         (begin
           (set! int_lr_params (xactor_scale_lr int_lr_params pitch))
           (Parameter.set 'Duration_Stretch (/ (Parameter.get 'Duration_Stretch) rate))))
     ;; Utterance does not evaluate its arguments: build the call with the string itself
     (set! xactor_utt (xactor_utt_synth (eval (list 'Utterance 'Text text))))
     (utt.save.wave xactor_utt wavfile 'riff)
     (xactor_save_segs xactor_utt segfile)
     (format t "XACTOR_OK %d\n" id))
   (format t "XACTOR_ERR %d\n" id))
  (fflush nil))

(format t "XACTOR_READY\n")
(fflush nil)
"""


class _FestivalDied(RuntimeError):
    """The festival process ended (crash, kill) while we talked to it."""


def scheme_string(text: str) -> str:
    """``text`` as a Scheme string literal festival's reader takes verbatim.

    Only backslash and double quote are special inside SIOD strings; control characters are
    already gone (:func:`xactor.training.corpus.tts.flite.ascii_text`) so a line never breaks.
    """
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _installed_voice(name: str) -> bool:
    return any(d.is_dir() and any((d / lang / name).is_dir() for lang in os.listdir(d)) for d in VOICE_DIRS)


class FestivalSynthesizer:
    """festival through one long-lived ``festival --pipe`` process (started lazily).

    Safe to share between threads (calls are serialised by a lock, one festival does one utterance
    at a time); for parallel synthesis use one synthesiser per worker. Close it (or use ``with``)
    to end the child and remove its temporary directory.
    """

    engine: Literal["festival"] = "festival"

    def __init__(
        self,
        festival: str = "festival",
        timeout: float = 30.0,
        per_char: float = 0.05,
        start_timeout: float = 60.0,
    ) -> None:
        """``timeout`` + ``per_char`` × characters: seconds one utterance may take before the
        process is killed (a hung festival must not stall a corpus worker forever);
        ``start_timeout``: seconds festival may take to start and read the helper functions."""
        self.festival = festival
        self.timeout = timeout
        self.per_char = per_char
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._stderr: Path | None = None
        self._buf = b""
        self._next_id = 0
        self._lock = threading.Lock()
        self.starts = 0  # festival processes started so far (more than 1: restarts after failures)

    # --- protocol ---------------------------------------------------------------------------

    def available(self) -> bool:
        """True when the festival binary is on PATH and a corpus voice is installed."""
        return self.unavailable_reason() is None

    def unavailable_reason(self) -> str | None:
        """Why festival cannot run here (for test skips), or None."""
        if shutil.which(self.festival) is None:
            return f"{self.festival!r} not on PATH; apt-get install festival"
        if not any(_installed_voice(n) for n in FESTIVAL_VOICE_SPECS):
            return "no festival voice of the corpus installed (festvox-kallpc16k, festvox-kdlpc16k, ...)"
        return None

    def voices(self) -> list[Voice]:
        """The corpus voices (:data:`FESTIVAL_CORPUS`) whose festvox package is installed."""
        if shutil.which(self.festival) is None:
            return []
        out = []
        for name, pitch, rate in FESTIVAL_CORPUS:
            if not _installed_voice(name):
                continue
            spec = FESTIVAL_VOICE_SPECS[name]
            out.append(
                Voice(
                    id=voice_id("festival", spec.short, pitch, rate),
                    engine="festival",
                    name=name,
                    pitch=pitch,
                    rate=rate,
                    sex=spec.sex,
                    extra={"pitch_unit": "percent of mean F0"},
                )
            )
        return out

    def synth(self, text: str, voice: Voice) -> SynthResult:
        """Speak ``text``; RuntimeError with festival's message on failure or timeout."""
        if voice.engine != "festival" or voice.name not in FESTIVAL_VOICE_SPECS:
            raise ValueError(f"not a festival voice: {voice}")
        spec = FESTIVAL_VOICE_SPECS[voice.name]
        if spec.hts and voice.pitch != 0:
            raise ValueError(f"festival voice {voice.name!r} (HTS) has no pitch control")
        if voice.rate <= 0:
            raise ValueError(f"rate must be positive, got {voice.rate}")
        clean = ascii_text(text)
        if not clean:
            raise RuntimeError("festival: nothing to say (empty text after ASCII folding)")
        with self._lock:
            for attempt in (1, 2):
                self._ensure_running()
                assert self._dir is not None
                wav_path, seg_path = self._dir / "xactor.wav", self._dir / "xactor.segs"
                for p in (wav_path, seg_path):
                    p.unlink(missing_ok=True)
                self._next_id += 1
                uid = self._next_id
                command = (
                    f"(xactor_synth {uid} {scheme_string(clean)} 'voice_{voice.name} "
                    f"{1.0 + voice.pitch / 100.0:.6f} {voice.rate:.6f} {'t' if spec.hts else 'nil'} "
                    f"{scheme_string(str(wav_path))} {scheme_string(str(seg_path))})\n"
                )
                try:
                    self._request(command, uid, self.timeout + self.per_char * len(clean))
                    break
                except _FestivalDied:
                    if attempt == 2:
                        raise
            rate, samples = self._read_wave(wav_path)
            words, segments = self._read_segs(seg_path)
        return engine_result("festival", samples, rate, segments, text, voice, words)

    # --- the child process ------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """Process id of the running festival child, None before the first utterance / after close."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def _ensure_running(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._kill()
        self.starts += 1
        self._dir = Path(tempfile.mkdtemp(prefix="xactor-festival-"))
        self._stderr = self._dir / "stderr.log"
        with open(self._stderr, "ab") as err:  # append mode: truncating it later stays safe
            self._proc = subprocess.Popen(
                [self.festival, "--pipe"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=self._dir,
            )
        self._buf = b""
        try:
            self._send(_PRELUDE)
            self._wait_for(b"XACTOR_READY", self.start_timeout)
        except RuntimeError:
            self._kill()
            raise

    def _send(self, text: str) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(text.encode("ascii"))
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            tail = self._stderr_tail()
            self._kill()
            raise _FestivalDied(f"festival died: {tail or 'no message'}") from exc

    def _request(self, command: str, uid: int, timeout: float) -> None:
        assert self._stderr is not None
        with open(self._stderr, "r+b") as f:
            f.truncate(0)
        self._send(command)
        line = self._wait_for(f"XACTOR_OK {uid}".encode(), timeout, fail=f"XACTOR_ERR {uid}".encode())
        if line.startswith(b"XACTOR_ERR"):
            raise RuntimeError(f"festival failed: {self._stderr_tail() or 'unknown error'}")

    def _wait_for(self, ok: bytes, timeout: float, fail: bytes | None = None) -> bytes:
        """Read stdout lines until one equals ``ok`` or ``fail``; kill the child on timeout / EOF."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                line = line.strip()
                if line == ok or (fail is not None and line == fail):
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill()
                raise RuntimeError(f"festival timed out after {timeout:.0f} s (process restarted next time)")
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    tail = self._stderr_tail()
                    self._kill()
                    raise _FestivalDied(f"festival exited: {tail or 'no message'}")
                self._buf += chunk

    def _stderr_tail(self, limit: int = 2000) -> str:
        if self._stderr is None or not self._stderr.exists():
            return ""
        return self._stderr.read_bytes()[-limit:].decode("utf-8", "replace").strip()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
            self._stderr = None

    def close(self) -> None:
        """End the festival process and remove its temporary directory."""
        with self._lock:
            self._kill()

    def __enter__(self) -> FestivalSynthesizer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._kill()

    # --- parsing ------------------------------------------------------------------------------

    @staticmethod
    def _read_wave(path: Path) -> tuple[int, np.ndarray]:
        if not path.exists():
            raise RuntimeError("festival wrote no wave file")
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2:
                raise RuntimeError(f"festival wave has {8 * w.getsampwidth()}-bit samples, expected 16")
            rate, channels = w.getframerate(), w.getnchannels()
            data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        if channels > 1:
            data = data.reshape(-1, channels)[:, 0]
        if data.size == 0:
            raise RuntimeError("festival produced no audio")
        return rate, data.copy()

    @staticmethod
    def _read_segs(path: Path) -> tuple[list[str], list[EngineSegment]]:
        """Parse the ``W``/``S`` lines :data:`_PRELUDE` writes (word index 0 = none → -1)."""
        if not path.exists():
            raise RuntimeError("festival wrote no segment file")
        words: list[str] = []
        segments: list[EngineSegment] = []
        for line in path.read_text("ascii", "replace").splitlines():
            parts = line.split("\t")
            if parts[0] == "W" and len(parts) == 2:
                words.append(parts[1])
            elif parts[0] == "S" and len(parts) == 5:
                segments.append(
                    EngineSegment(parts[1], float(parts[2]), int(float(parts[3])), int(float(parts[4])) - 1)
                )
            elif line.strip():
                raise RuntimeError(f"unexpected line in festival segment file: {line!r}")
        return words, segments
