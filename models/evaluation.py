"""Held-out evaluation of the representation models (``mck eval codec|semantic|mulan``).

* codec: multi-scale mel distance (mean |log mel| difference over STFT sizes 64..2048)
  and SI-SDR at every bitrate the RVQ offers (1..levels quantisers), beside Opus
  (ffmpeg's libopus) at the same bitrates, or its floor of 6 kbps when they are lower;
* semantic: cluster usage (perplexity of the token distribution, and the share of
  clusters used) and stability: the share of tokens unchanged under a 3 dB gain change
  and under white noise at 40 dB SNR;
* mulan: text-to-audio retrieval recall@1/5/10 among the held-out clips (their own
  captions as queries), and the MCC of matched against shuffled caption-clip pairs.

All on the records' ``eval`` split (held out from training, which reads ``train``).
"""

from __future__ import annotations

import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from musiccaps_kit.ffmpeg import ffmpeg_dir
from musiccaps_kit.models.codec import CodecConfig, MelSpectrum, si_sdr
from musiccaps_kit.models.loaders import load_codec, load_mulan, load_semantic
from musiccaps_kit.models.records import ClipBank

OPUS_FLOOR_BPS = 6000
SCALES = (64, 128, 256, 512, 1024, 2048)


def mel_distance(reference: np.ndarray, estimate: np.ndarray, rate: int) -> float:
    """Mean absolute log-mel difference over STFT sizes 64..2048 (the codec's training
    scales, 64 bands or fewer)."""
    spectrum = _spectrum(rate)
    pair = torch.from_numpy(np.stack([reference, estimate]).astype(np.float32))
    distances = [
        float((torch.log(m[0] + 1e-5) - torch.log(m[1] + 1e-5)).abs().mean())
        for m in spectrum(pair)
    ]
    return float(np.mean(distances))


@lru_cache(maxsize=4)
def _spectrum(rate: int) -> MelSpectrum:
    return MelSpectrum(CodecConfig(sample_rate=rate, spectral_ffts=SCALES, n_mels=64))


def opus_round_trip(wave: np.ndarray, rate: int, bitrate: int) -> np.ndarray:
    """Encode with libopus at ``bitrate`` bits/s and decode back to ``rate``."""
    with tempfile.TemporaryDirectory() as tmp:
        src, coded, back = Path(tmp) / "in.wav", Path(tmp) / "c.opus", Path(tmp) / "out.wav"
        sf.write(src, wave, rate)
        run = [str(Path(ffmpeg_dir()) / "ffmpeg"), "-hide_banner", "-loglevel", "error", "-y"]
        subprocess.run(
            [*run, "-i", src, "-c:a", "libopus", "-b:a", str(bitrate), coded], check=True
        )
        subprocess.run([*run, "-i", coded, "-ar", str(rate), "-ac", "1", back], check=True)
        decoded, _ = sf.read(back, dtype="float32")
    out = np.zeros_like(wave)
    out[: min(len(wave), len(decoded))] = decoded[: len(wave)]
    return out


def evaluate_codec(path: str | Path, records: str | Path, clips: int = 16) -> dict[str, Any]:
    codec = load_codec(path)
    config: CodecConfig = codec.config
    waves = ClipBank(records, config.sample_rate, ("eval",)).waves[:clips]
    rate = config.sample_rate
    opus_scores: dict[int, list[tuple[float, float]]] = {}
    rows = []
    for levels in range(1, config.levels + 1):
        bitrate = config.bitrate(levels)
        ours = []
        for wave in waves:
            x = torch.from_numpy(np.array(wave))[None]
            with torch.no_grad():
                recon = codec.decode(codec.encode(x, n_q=levels))[0, : len(wave)].numpy()
            ours.append((mel_distance(wave, recon, rate), si_sdr(wave, recon)))
        opus_rate = max(int(bitrate), OPUS_FLOOR_BPS)
        if opus_rate not in opus_scores:
            decoded = [opus_round_trip(w, rate, opus_rate) for w in waves]
            opus_scores[opus_rate] = [
                (mel_distance(w, d, rate), si_sdr(w, d))
                for w, d in zip(waves, decoded, strict=True)
            ]
        opus = opus_scores[opus_rate]
        rows.append(
            {
                "levels": levels,
                "bitrate_bps": bitrate,
                "mel_distance": float(np.mean([m for m, _ in ours])),
                "si_sdr_db": float(np.mean([s for _, s in ours])),
                "opus_bitrate_bps": opus_rate,
                "opus_mel_distance": float(np.mean([m for m, _ in opus])),
                "opus_si_sdr_db": float(np.mean([s for _, s in opus])),
            }
        )
    return {"model": str(path), "clips": len(waves), "bitrates": rows}


def evaluate_semantic(path: str | Path, records: str | Path, clips: int = 16) -> dict[str, Any]:
    tokenizer = load_semantic(path)
    waves = ClipBank(records, tokenizer.rate, ("eval",)).waves[:clips]
    rng = np.random.default_rng(0)
    tokens, same_gain, same_noise = [], [], []
    for wave in waves:
        base = tokenizer.tokens(wave).numpy()
        tokens.append(base)
        louder = tokenizer.tokens(wave * 10 ** (-3 / 20)).numpy()
        power = np.mean(wave**2)
        noise = rng.normal(0, np.sqrt(power / 1e4), len(wave)).astype(np.float32)
        noisy = tokenizer.tokens(wave + noise).numpy()
        same_gain.append(np.mean(base == louder))
        same_noise.append(np.mean(base == noisy))
    counts = np.bincount(np.concatenate(tokens), minlength=len(tokenizer.centroids))
    p = counts[counts > 0] / counts.sum()
    return {
        "model": str(path),
        "clips": len(waves),
        "clusters": int(len(tokenizer.centroids)),
        "perplexity": float(np.exp(-(p * np.log(p)).sum())),
        "clusters_used": float(np.mean(counts > 0)),
        "unchanged_under_gain_-3dB": float(np.mean(same_gain)),
        "unchanged_under_noise_40dB_snr": float(np.mean(same_noise)),
    }


def evaluate_mulan(path: str | Path, records: str | Path, clips: int = 1000) -> dict[str, Any]:
    from musiccaps_kit.bench.joint import text_encoder

    mulan = load_mulan(path)
    bank = ClipBank(records, mulan.rate, ("eval",))
    waves, captions = bank.waves[:clips], bank.captions[:clips]
    audio = torch.stack([mulan.clip_embedding(w) for w in waves])
    with torch.no_grad():
        text = mulan.text_embedding(torch.from_numpy(text_encoder.encode(captions)))
    similarity = (text @ audio.T).numpy()
    # a clip's rank among all clips for its own caption (clips sharing that caption count
    # as hits)
    same = np.array([[a == b for b in captions] for a in captions])
    ranks = [(similarity[i] > similarity[i, same[i]].max()).sum() for i in range(len(waves))]
    matched = float(np.mean(np.diag(similarity)))
    shuffled = float(np.mean(similarity[~same])) if (~same).any() else float("nan")
    return {
        "model": str(path),
        "clips": len(waves),
        "recall_at": {k: float(np.mean(np.array(ranks) < k)) for k in (1, 5, 10)},
        "chance_at": {k: min(k / len(waves), 1.0) for k in (1, 5, 10)},
        "mcc_matched": matched,
        "mcc_shuffled": shuffled,
    }


EVALUATIONS = {"codec": evaluate_codec, "semantic": evaluate_semantic, "mulan": evaluate_mulan}
