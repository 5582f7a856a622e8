"""Audio engines for the live path: resampling to 16 kHz mono, voice activity, streaming features."""

from engines.audio.resample import SAMPLE_RATE, AudioResampler16k, load_wav_16k, resample_array

__all__ = ["SAMPLE_RATE", "AudioResampler16k", "load_wav_16k", "resample_array"]
