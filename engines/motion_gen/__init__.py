"""The learned motion generator (stage 1): audio in, identity-agnostic motion out, streaming.

* :mod:`.config`   — the frozen model config saved beside the weights;
* :mod:`.features` — per-frame audio features and the motion normalisation the model reads;
* :mod:`.model`    — the causal transformer denoiser (diffusion forcing, one noise level per token);
* :mod:`.sampler`  — samplers as plain functions over one denoiser wrapper, and the streaming
  generator with its rolling KV cache;
* :mod:`.weights`  — safetensors + JSON on disk, validated on load.
"""
