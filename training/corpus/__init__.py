"""The synthetic audio–motion corpus: TTS speech with phoneme timings, motion from the phonemes,
life and emotion, call-quality audio, written as shards with a manifest (docs/ARCHITECTURE.md §5)."""
