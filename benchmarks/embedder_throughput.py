"""Embedding throughput, in times real time on CPU, of each offline embedder: clip by clip
and in batches of 16 clips, beside the floor of decoding and resampling alone. For musicnn
also the original package's ``extractor`` on the same files (as its users call it: it
decodes with librosa and builds its TF1 graph per file) and the compute floor: the
network's FLOPs per clip at this machine's float32 matrix-multiply rate, measured in the
same run. The transformers models run at full size with random weights, saved and loaded
through the bench's own path: CLAP with the music checkpoint's HTSAT-base audio tower
(fadtk's 10 windows per 10 s clip for fad_clap, one for clap_score), EnCodec 24 kHz,
PaSST-S (our plain-torch network, a released file's shapes) and OpenL3 mel256 (our
plain-torch network at the released widths, stable-audio-metrics' stereo 44.1 kHz input:
two channels of 20 windows per 10 s clip).

    python -m benchmarks.embedder_throughput [--clips N] [--hf-clips N] [--no-original]

Clips: ../shared/realmusic when present, else the demo set. VGGish and TRILL need their TF
Hub weights (network), so they are not measured here.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from musiccaps_kit.audio import decode, resample, to_mono
from musiccaps_kit.bench.embedders import make_embedder, musicnn
from musiccaps_kit.resources import DEMO_AUDIO_DIR

REALMUSIC = Path(__file__).resolve().parents[2] / "shared" / "realmusic" / "clips"
BATCH = 16


ORIGINAL_CLIPS = 6  # the original extractor runs at about 8x real time: a few clips do


def clip_paths(count: int) -> list[Path]:
    folder = REALMUSIC if REALMUSIC.is_dir() else DEMO_AUDIO_DIR
    return sorted(folder.glob("*.flac"))[:count]


def load(count: int) -> tuple[list, float]:
    paths = clip_paths(count)
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


def matmul_rate() -> float:
    """float32 GFLOP/s of a 2048 x 2048 matrix product on this machine's torch threads."""
    a = torch.randn(2048, 2048)
    a @ a
    start = time.perf_counter()
    for _ in range(5):
        a @ a
    return 5 * 2 * 2048**3 / (time.perf_counter() - start) / 1e9


def musicnn_compute_floor(clips) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    embedder = make_embedder("musicnn")
    wave = resample(clips[0][0], clips[0][1], musicnn.RATE)[: 10 * musicnn.RATE]
    x = torch.from_numpy(musicnn.patches(musicnn.log_mel(wave)))
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        embedder.net(x)
    gflop = counter.get_total_flops() / 1e9
    rate = matmul_rate()
    print(
        f"musicnn compute floor: {gflop:.1f} GFLOP per 10 s clip; at this machine's float32 "
        f"matrix-multiply rate ({rate:.0f} GFLOP/s, 2048^3, measured now) at most "
        f"{10 / (gflop / rate):.0f}x real time, before the log-mel and the max-pooling"
    )


def original_musicnn(count: int) -> None:
    import os

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import contextlib
    import io
    import warnings

    paths = clip_paths(count)
    # it prints per file and warns about deprecated TF1 layers: keep this report readable
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from musicnn.extractor import extractor

        extractor(str(paths[0]), model="MTT_musicnn", extract_features=True)  # warm-up
        start = time.perf_counter()
        for path in paths:
            extractor(str(path), model="MTT_musicnn", extract_features=True)
        elapsed = time.perf_counter() - start
    print(
        f"{'original musicnn extractor':26s} file by file {10 * len(paths) / elapsed:7.1f}x real "
        f"time ({len(paths)} clips; the package's own decoding and TF1 graph)"
    )


def hf_models(folder: Path) -> dict:
    """Full-size random CLAP (HTSAT-base, as music_audioset_epoch_15_esc_90.14.pt; RoBERTa-
    base text tower) and EnCodec 24 kHz, saved as a user's download would be."""
    from transformers import ClapConfig, ClapModel, EncodecConfig, EncodecModel

    from musiccaps_kit.bench.embedders import openl3_network, passt_network
    from musiccaps_kit.bench.embedders.clap import ClapClips
    from musiccaps_kit.bench.embedders.passt import PasstPieces

    audio = {"patch_embeds_hidden_size": 128, "depths": [2, 2, 12, 2], "hidden_size": 1024}
    ClapModel(ClapConfig(audio_config=audio, text_config={})).eval().save_pretrained(
        folder / "clap"
    )
    EncodecModel(EncodecConfig()).eval().save_pretrained(folder / "encodec")
    passt = folder / "passt-s-random.pt"
    torch.save(passt_network.build(passt_network.PasstConfig()).state_dict(), passt)
    openl3 = openl3_network.save_npz(
        openl3_network.build(), folder / "openl3_audio_mel256_music.npz"
    )
    return {
        "CLAP HTSAT-base fad_clap": make_embedder("clap", model=str(folder / "clap")),
        "CLAP HTSAT-base clap_score": ClapClips(model=str(folder / "clap")),
        "EnCodec 24 kHz encoder": make_embedder("encodec", model=str(folder / "encodec")),
        "PaSST-S 10 s (kld_passt)": PasstPieces(checkpoint=str(passt)),
        "OpenL3 mel256 stereo (fd_openl3)": make_embedder("openl3", weights=str(openl3)),
    }


def report(name: str, embedder, clips, seconds: float, floor: float) -> None:
    embedder.batch([clips[0][0]], clips[0][1])  # warm-up
    one = measure(embedder, clips, 1)
    many = measure(embedder, clips, BATCH)
    print(
        f"{name:28s} clip by clip {seconds / one:7.1f}x real time, batches of "
        f"{BATCH} {seconds / many:7.1f}x (speed-up {one / many:.2f}); "
        f"{many / floor:.0f}x the floor's time"
    )


def main(count: int, hf_count: int, original: bool) -> None:
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
            report(name, embedder, clips, seconds, floor)
        if hf_count:
            few = clips[:hf_count]
            few_seconds = sum(len(w) / r for w, r in few)
            few_floor = floor * len(few) / len(clips)
            print(f"transformers models on {len(few)} clips (random weights, full size):")
            report("musicnn MTT (same clips)", embedders["musicnn MTT penultimate"], few,
                   few_seconds, few_floor)  # fmt: skip
            for name, embedder in hf_models(Path(tmp)).items():
                report(name, embedder, few, few_seconds, few_floor)
    musicnn_compute_floor(clips)
    if original:
        original_musicnn(min(ORIGINAL_CLIPS, count))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.embedder_throughput", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--clips", type=int, default=48, help="clips for the offline embedders")
    parser.add_argument(
        "--hf-clips", type=int, default=8, help="clips for CLAP and EnCodec (0: skip them)"
    )
    parser.add_argument(
        "--no-original", action="store_true", help="skip the original musicnn package"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse()
    main(args.clips, args.hf_clips, not args.no_original)
