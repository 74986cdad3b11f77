"""Embedding throughput, in times real time on CPU, of each offline embedder: clip by clip
and in batches of 16 clips, beside the floor of decoding and resampling alone.

    python -m benchmarks.embedder_throughput [CLIPS]

Clips: ../shared/realmusic when present (the first CLIPS, default 48), else the demo set.
VGGish and TRILL need their TF Hub weights (network), so they are not measured here.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

from musiccaps_kit.audio import decode, resample, to_mono
from musiccaps_kit.bench.embedders import make_embedder, musicnn
from musiccaps_kit.resources import DEMO_AUDIO_DIR

REALMUSIC = Path(__file__).resolve().parents[2] / "shared" / "realmusic" / "clips"
BATCH = 16


def load(count: int) -> tuple[list, float]:
    folder = REALMUSIC if REALMUSIC.is_dir() else DEMO_AUDIO_DIR
    paths = sorted(folder.glob("*.flac"))[:count]
    start = time.perf_counter()
    clips = []
    for path in paths:
        wave, rate = decode(path)
        clips.append((to_mono(wave), rate))
        resample(clips[-1][0], rate, 16000)
    floor = time.perf_counter() - start
    return clips, floor


def measure(embedder, clips, batch: int) -> float:
    musicnn._RECENT.clear()
    start = time.perf_counter()
    for i in range(0, len(clips), batch):
        chunk = clips[i : i + batch]
        embedder.batch([w for w, _ in chunk], chunk[0][1])
    return time.perf_counter() - start


def main(count: int) -> None:
    torch.manual_seed(0)
    clips, floor = load(count)
    seconds = sum(len(w) / r for w, r in clips)
    print(f"{len(clips)} clips, {seconds:.0f} s of audio, {torch.get_num_threads()} torch threads")
    print(f"floor (decode + resample to 16 kHz): {seconds / floor:8.1f}x real time")
    with tempfile.TemporaryDirectory() as tmp:
        from musiccaps_kit.bench.embedders.leaf_network import LeafClassifier, save_checkpoint

        leaf = save_checkpoint(
            LeafClassifier().eval(), Path(tmp) / "leaf.pt", [f"c{i}" for i in range(527)]
        )
        embedders = {
            "musicnn MTT penultimate": make_embedder("musicnn"),
            "musicnn MSD penultimate": make_embedder("musicnn", model="MSD_musicnn"),
            "leaf (untrained weights)": make_embedder("leaf", checkpoint=str(leaf)),
        }
        for name, embedder in embedders.items():
            embedder.batch([clips[0][0]], clips[0][1])  # warm-up
            one = measure(embedder, clips, 1)
            many = measure(embedder, clips, BATCH)
            print(
                f"{name:26s} clip by clip {seconds / one:7.1f}x real time, batches of "
                f"{BATCH} {seconds / many:7.1f}x (speed-up {one / many:.2f}); "
                f"{many / floor:.0f}x the floor's time"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 48)
