"""The compact MusicLM-style cascade (installed as ``musiccaps_kit.models``).

* model families: ``codec`` (SoundStream-style), ``semantic`` (HuBERT-style tokenizer),
  ``mulan`` (joint audio-text embedding), ``melody``, ``stage`` (the decoder-only stage
  transformer), with shared building blocks in ``modules`` (k-means, residual VQ, log-mel);
* inference: ``loaders`` (read ``model.pt`` files), ``generate`` (text to music),
  ``cascade_tokenizer`` (the prepare pipeline's tokenize step), ``joint`` (MuLan as a bench
  joint model), ``evaluation`` and ``memorization``;
* ``training``: the loop (presets, DDP, checkpoints) and one task per model kind.

Inference never imports ``training``; the core library never imports this package (the
tokenizer and joint model plug in through entry points).
"""
