"""A tiny corpus (about 40 s of speech, built by the project's own builder), built once and shared by
the corpus and motion tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from xactor.training.corpus.synth.clip import build_shard
from xactor.training.corpus.synth.run import SynthConfig, available_voices, plan_clips, run_build

ENGINES = ("espeak-ng", "flite")
TINY = SynthConfig(hours=0.012, seed=5, clip_seconds=(8.0, 12.0), shard_clips=2, engines=ENGINES)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    voices = available_voices(ENGINES)
    if len({v.engine for v in voices}) < 2:
        pytest.skip("espeak-ng and flite are needed (scripts/bootstrap.sh installs them)")
    root = tmp_path_factory.mktemp("motion_corpus")
    run_build(root, TINY, plan_clips(TINY, voices), build_shard, workers=1)
    return root
