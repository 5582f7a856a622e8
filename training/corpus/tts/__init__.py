"""Speech for the corpus: corpus voices, the TTS engines that speak them with phoneme timings
(espeak-ng, flite, festival, piper), and the WORLD warp that moves a voice toward another speaker."""
