"""Audio engines for the live path: resampling to 16 kHz mono, voice activity, streaming features.

The per-video-frame front end that ties VAD and features together is
:mod:`xactor.engines.audio.frontend` (not imported here: it loads onnxruntime).
"""

from xactor.engines.audio.resample import AudioResampler16k, load_wav_16k, resample_array
from xactor.engines.timebase import SAMPLE_RATE

__all__ = ["SAMPLE_RATE", "AudioResampler16k", "load_wav_16k", "resample_array"]
