"""Baseline systems for the leaderboard, generated reproducibly from captions: Riffusion
(Stable Diffusion on spectrogram images, through diffusers) and Mubert (its HTTP API).
Each writes a system folder ``mck bench`` and ``mck listen`` take: one audio file per id,
``system.json`` (adapter, model or API version, every setting, the prompts) and
``failures.csv``."""
