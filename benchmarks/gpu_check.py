"""One-command GPU check of the cascade: a few training steps of the small presets of the
codec, the semantic tokenizer, MuLan and the stages (bf16 autocast on CUDA, compiled steps
and fused Adam(W) as ``mck train`` runs them there), then generation speed of one sequence
with the preallocated cache (a CUDA graph on CUDA), the growing KV cache and no cache.

    PYTHONPATH=. python -m benchmarks.gpu_check [--preset small] [--steps 30] [--device cuda]
    PYTHONPATH=. python -m benchmarks.gpu_check --preset paper --steps 20   # + small beside
    PYTHONPATH=. python -m benchmarks.gpu_check --preset paper --plan       # FLOPs only

At ``--preset paper`` each model runs one GPU's share of the preset's global batch over 8
GPUs (``--batch`` to change it) with the stages on 30 s token crops, and the small
preset's figures are printed beside (``--compare``); ``--plan`` counts each model's FLOPs
per step (one step at batch 1, scaled to the batch) without timing anything, which runs on
a CPU.

Per model it prints the step time (after a warm-up step), samples (or tokens) per second,
peak GPU memory, the model FLOPs of one step (PyTorch's FlopCounterMode on forward and
backward) and an MFU estimate against ``--peak-tflops`` (989: an H100/H200's dense bf16).
It brings its own data (synthetic audio: chirps and noise; random tokens for the stages):
speed does not depend on what is learnt. It imports no TensorFlow, Beam, soundfile, soxr
or record reader, so it runs from the source tree on a machine with only torch and numpy.
``--device cpu --steps 2`` runs it anywhere (the tests do).

``--bench`` measures the bench's embedders instead (``mck bench`` on a GPU): PaSST-S,
OpenL3 mel256 (two channels of 20 windows per clip, as stable-audio-metrics runs it), and,
where transformers is installed, CLAP HTSAT-base (fadtk's 10 windows per clip) and EnCodec
24 kHz, each at full size with random weights on synthetic 10 s clips, float32 with TF32
off as ``mck bench`` runs them: the largest batch (of 8 to 256 clips) that fits, the
real-time factor, the FLOPs of one clip (FlopCounterMode) and the fraction of the device's
float32 peak (``--peak-tflops-fp32``, 67: an H100's or H200's, without tensor cores) it
reaches. Under five minutes on one GPU::

    PYTHONPATH=. python -m benchmarks.gpu_check --bench

To train on real music instead, decode a clip folder (``manifest.csv`` + ``clips/``, as
``../shared/realmusic``) where the audio stack is, carry the file, and name it::

    python -m benchmarks.gpu_check --write-clips realmusic.npz --audio ../shared/realmusic
    PYTHONPATH=. python -m benchmarks.gpu_check --clips realmusic.npz --steps 400

The audio models then learn from those clips (captions: the manifest's genre hints, whose
sentence vectors MuLan draws at random) and the check prints each model's main loss over
the first and the last steps.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch

from musiccaps_kit.models.records import Batch, ClipBank, TokenBank
from musiccaps_kit.models.stage import StageConfig, StageTransformer, generate
from musiccaps_kit.models.tokens import (
    ACOUSTIC,
    ACOUSTIC_RATE,
    MULAN,
    REQUIRED_STREAMS,
    SEMANTIC,
    SEMANTIC_RATE,
    Vocabulary,
)
from musiccaps_kit.models.training.loop import draw_batch, load_preset
from musiccaps_kit.models.training.tasks import make_task

TEXT_DIMS = 384  # all-MiniLM-L6-v2's sentence vectors, stood in for by random ones
CLIP_RATE = 24_000  # stored: the codec's; 16 kHz for the semantic model and MuLan is derived
MAIN_LOSS = {
    "codec": "reconstruction",
    "semantic": "masked_prediction",
    "mulan": "contrastive",
    "stages": "semantic_loss",
}


def synthetic_bank(rate: int, clips: int, seconds: float, seed: int = 0) -> ClipBank:
    """A clip bank in memory: chirps over noise, one caption each."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    waves = [
        (
            0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t * (1 + t)) + 0.05 * rng.normal(size=t.size)
        ).astype(np.float32)
        for i in range(clips)
    ]
    captions = [f"caption {i % 8}" for i in range(clips)]
    return ClipBank.of(rate, waves, captions, [f"clip{i:03d}" for i in range(clips)])


def write_clips(folder: Path, out: Path, limit: int = 80, seconds: float = 10.0) -> int:
    """Decode up to ``limit`` clips of ``folder`` (``manifest.csv`` naming
    ``clips/<clip_id>.*``, picked evenly over the manifest) at ``CLIP_RATE`` into one npz
    of 16-bit PCM with their genre hints and ids, which the GPU machine reads with numpy
    alone (80 ten-second clips: 38 MB, inside what one device call carries). Returns the
    number of clips."""
    from musiccaps_kit.audio import decode, fit_length, resample, to_mono

    with open(folder / "manifest.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    picks = np.unique(np.linspace(0, len(rows) - 1, min(limit, len(rows))).round().astype(int))
    rows = [rows[i] for i in picks]
    pcm = []
    for row in rows:
        matches = sorted((folder / "clips").glob(f"{row['clip_id']}.*"))
        if not matches:
            raise FileNotFoundError(f"{folder / 'clips'} has no audio for {row['clip_id']}")
        audio, rate = decode(matches[0])
        wave = fit_length(resample(to_mono(audio), rate, CLIP_RATE), round(seconds * CLIP_RATE))
        pcm.append(np.round(np.clip(wave, -1, 1) * 32767).astype(np.int16))
    np.savez(
        out,
        ids=np.array([r["clip_id"] for r in rows]),
        captions=np.array([r.get("genre_hint") or "music" for r in rows]),
        pcm=np.stack(pcm),
        rate=CLIP_RATE,
    )
    return len(rows)


def clips_bank(path: Path, rate: int) -> ClipBank:
    """A clip bank at ``rate`` from a ``write_clips`` file (polyphase resampling, scipy's:
    soxr is not on the GPU machine)."""
    from math import gcd

    from scipy.signal import resample_poly

    with np.load(path) as data:
        missing = {"rate", "pcm", "captions", "ids"} - set(data.files)
        if missing:
            raise SystemExit(f"{path} lacks {sorted(missing)}: write it with --write-clips")
        stored = int(data["rate"])
        waves = data["pcm"].astype(np.float32) / 32767
        if rate != stored:
            step = gcd(rate, stored)
            waves = resample_poly(waves, rate // step, stored // step, axis=1)
        return ClipBank.of(
            rate,
            [np.ascontiguousarray(w, dtype=np.float32) for w in waves],
            [str(c) for c in data["captions"]],
            [str(i) for i in data["ids"]],
        )


def synthetic_tokens(clips: int, seconds: float, vocab: Vocabulary, seed: int = 0) -> TokenBank:
    """Random token streams at the cascade's frame rates, with a recipe naming ``vocab``."""
    rng = np.random.default_rng(seed)
    semantic, acoustic = int(seconds * SEMANTIC_RATE), int(seconds * ACOUSTIC_RATE)
    items = [
        (
            rng.integers(0, vocab.mulan_codebook, vocab.mulan_levels),
            rng.integers(0, vocab.semantic, semantic),
            rng.integers(0, vocab.acoustic_codebook, (acoustic, vocab.acoustic_levels)),
            f"caption {i}",
            f"clip{i:03d}",
        )
        for i in range(clips)
    ]
    recipe = {
        "vocabulary": {
            MULAN: {"levels": vocab.mulan_levels, "codebook": vocab.mulan_codebook},
            SEMANTIC: {"levels": 1, "codebook": vocab.semantic},
            ACOUSTIC: {
                "levels": vocab.acoustic_levels,
                "codebook": vocab.acoustic_codebook,
                "coarse_levels": vocab.coarse_levels,
            },
        },
        "token_names": list(REQUIRED_STREAMS),
    }
    return TokenBank.of(items, recipe)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step_flops(task, batch, step: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        task.train_step(batch, step)
    return float(counter.get_total_flops())


def _stage_flops_on_meta(task, batch) -> float:
    """FLOPs of the stages' forward and backward (as ``train_step`` runs them) on tensors
    that hold no data: the paper stages need no memory to be counted."""
    from torch.utils.flop_counter import FlopCounterMode

    from musiccaps_kit.models.stage import target_loss

    counter = FlopCounterMode(display=False)
    with counter:
        for stage, (sequence, prefix) in batch.items():
            loss, _ = target_loss(task.modules[stage], sequence.to("meta"), prefix)
            loss.backward()
    return float(counter.get_total_flops())


def _mean_losses(history: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([h[k] for h in history])) for k in history[0]}


GPUS_PER_NODE = 8  # the paper presets' global batch is spread over one node


def gpu_batch(kind: str, preset: str, batch: int | None) -> int:
    """The batch one GPU trains on: ``batch``, else the small presets' own, else the
    preset's global batch over 8 GPUs."""
    if batch:
        return batch
    size = load_preset(kind, preset)["train"]["batch_size"]
    return size if preset in ("tiny", "small") else max(1, size // GPUS_PER_NODE)


def check_model(
    kind: str,
    preset: str,
    steps: int,
    device: torch.device,
    peak: float,
    clips: Path | None = None,
    batch: int | None = None,
    compile: bool | None = None,
    plan: bool = False,
):
    """Step time, throughput, peak memory, FLOPs and MFU of ``kind`` at ``preset``; with
    ``plan``, the FLOPs per step only (one step at batch 1, scaled)."""
    config = load_preset(kind, preset)
    size = gpu_batch(kind, preset, batch)
    train = {
        **config["train"],
        "steps": steps,
        "disc_start": 0,
        "batch_size": 1 if plan else size,
        "compile": False if plan else (device.type == "cuda" if compile is None else compile),
    }
    torch.manual_seed(0)
    if plan and kind == "stages":  # 3 x 300 M parameters at paper size: count on meta
        device = torch.device("meta")
    task = make_task(kind, config["model"], train, device, 1)
    if kind == "stages":
        vocab = Vocabulary(12, 64, 512, 8, 256, 4)
        crop_s = max(config["model"]["semantic_crop_s"], 10.0)
        bank = synthetic_tokens(16, crop_s, vocab)
        unit = "tokens"
    else:
        clip_s = max(train["crop_s"] * 1.5, 2.0)
        bank = clips_bank(clips, task.rate) if clips else synthetic_bank(task.rate, 16, clip_s)
        unit = "samples"
    if kind == "mulan":  # random sentence vectors: the check must not need the text model
        task.bank = bank
        rng = torch.Generator().manual_seed(0)
        task.sentences = {c: torch.randn(TEXT_DIMS, generator=rng) for c in set(bank.captions)}
    else:
        task.prepare(bank)
    if device.type == "meta":
        flops = _stage_flops_on_meta(task, draw_batch(task, bank, train, 0))
        return {"model": kind, "preset": preset, "batch": size, "flops_per_step": flops * size}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    batch = draw_batch(task, bank, train, 0)
    history = [task.train_step(batch, 0)]  # warm-up (k-means starts, allocator, kernels)
    flops = _step_flops(task, draw_batch(task, bank, train, 1), 1)
    if plan:
        return {"model": kind, "preset": preset, "batch": size, "flops_per_step": flops * size}
    _sync(device)
    start = time.perf_counter()
    for step in range(2, steps + 2):
        history.append(task.train_step(draw_batch(task, bank, train, step), step))
    _sync(device)
    seconds = (time.perf_counter() - start) / steps
    window = max(1, min(5, len(history) // 2))
    if isinstance(batch, Batch):
        items = batch.audio.shape[0] * batch.audio.shape[1]
    else:
        items = sum(sequence.numel() for sequence, _ in batch.values())
    peak_memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0
    mfu = flops / seconds / (peak * 1e12) if device.type == "cuda" else None
    return {
        "model": kind,
        "preset": preset,
        "batch": size,
        "compiled": task.compile,
        "step_s": seconds,
        f"{unit}_per_s": items / seconds,
        "peak_memory_gib": peak_memory,
        "flops_per_step": flops,
        "mfu": mfu,
        "loss_first": _mean_losses(history[:window]),
        "loss_last": _mean_losses(history[-window:]),
        "loss_curve": [  # the main loss over each tenth of the run
            float(np.mean([h[MAIN_LOSS[kind]] for h in part]))
            for part in np.array_split(np.array(history, dtype=object), min(10, len(history)))
        ],
    }


GENERATION_MODES = {  # name: generate() options
    "static": {"use_cache": True, "static": True},  # preallocated; a CUDA graph on CUDA
    "cache": {"use_cache": True, "static": False},  # the growing cache
    "no_cache": {"use_cache": False},
}


def check_generation(device: torch.device, tokens: int) -> dict[str, float]:
    """Greedy tokens per second of one sequence (dim 512 x 8) in each decoding mode."""
    torch.manual_seed(0)
    config = StageConfig(vocab=8192, dim=512, layers=8, heads=8, ff=2048, dropout=0.0)
    model = StageTransformer(config).to(device).eval()
    prefix = torch.randint(0, 100, (1, 12), device=device)
    ranges = [(4096, 8192)]
    report: dict[str, float] = {"tokens": tokens}
    for mode, options in GENERATION_MODES.items():
        generate(model, prefix, 4, ranges, **options)  # warm-up
        _sync(device)
        start = time.perf_counter()
        generate(model, prefix, tokens, ranges, 0.0, **options)
        _sync(device)
        report[f"tokens_per_s_{mode}"] = tokens / (time.perf_counter() - start)
    report["cache_speed_up"] = report["tokens_per_s_cache"] / report["tokens_per_s_no_cache"]
    report["static_speed_up"] = report["tokens_per_s_static"] / report["tokens_per_s_no_cache"]
    return report


def lengths(text: str) -> list[int]:
    """``--tokens``: positive integers, comma-separated."""
    try:
        values = [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not integers: {text!r}") from None
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"lengths must be positive: {text!r}")
    return values


def _line(r: dict, kind: str) -> str:
    head = f"{kind:9s} {r['preset']:6s} batch {r['batch']:4d}"
    if "step_s" not in r:
        return f"{head}  {r['flops_per_step'] / 1e12:9.2f} TFLOP/step (counted at batch 1)"
    rate = next(k for k in r if k.endswith("_per_s"))
    mfu = "n/a" if r["mfu"] is None else f"{r['mfu']:.1%}"
    loss = MAIN_LOSS[kind]
    return (
        f"{head} step {r['step_s'] * 1e3:8.1f} ms  {r[rate]:12,.0f} {rate.replace('_', ' ')}"
        f"  peak {r['peak_memory_gib']:6.2f} GiB  {r['flops_per_step'] / 1e9:9.1f} GFLOP/step"
        f"  MFU {mfu}  {loss} {r['loss_first'][loss]:.3f} -> {r['loss_last'][loss]:.3f}"
    )


BENCH_SECONDS = 10.0


def bench_models(names: list[str]) -> dict:
    """Full-size random embedder networks: name -> (module, inputs of n windows, windows per
    10 s clip)."""
    from musiccaps_kit.bench.embedders import openl3_network, passt_network

    models = {}
    if "passt" in names:
        net = passt_network.build(passt_network.PasstConfig())
        models["PaSST-S 10 s"] = (net, lambda n: (torch.randn(n, 320_000) * 0.1,), 1)
    if "openl3" in names:
        net = openl3_network.build()
        models["OpenL3 mel256 (2 channels)"] = (net, lambda n: (torch.randn(n, 48_000) * 0.1,), 40)
    try:
        from transformers import ClapConfig, ClapModel, EncodecConfig, EncodecModel
    except ImportError:
        return models
    if "clap" in names:
        audio = {"patch_embeds_hidden_size": 128, "depths": [2, 2, 12, 2], "hidden_size": 1024}
        clap = ClapModel(ClapConfig(audio_config=audio, text_config={})).eval()
        models["CLAP HTSAT-base (fad_clap)"] = (
            clap.audio_model, lambda n: (torch.randn(n, 1, 1001, 64),), 10
        )  # fmt: skip
    if "encodec" in names:
        from torch.nn.utils import parametrize

        encoder = EncodecModel(EncodecConfig()).eval().encoder
        for module in encoder.modules():  # weight norm folded in: the same forward, countable
            for parameter in list(getattr(module, "parametrizations", {})):
                parametrize.remove_parametrizations(module, parameter, leave_parametrized=True)
        models["EnCodec 24 kHz encoder"] = (
            encoder,
            lambda n: (torch.randn(n, 1, 240_000) * 0.1,),
            1,
        )
    return models


def bench_embedders(device: torch.device, names: list[str], peak_tflops: float) -> list[dict]:
    """Per embedder: batch, real-time factor, FLOPs per clip, fraction of float32 peak. On a
    GPU the largest batch of 8 to 256 clips that fits, timed over 5 s after a warm-up; on a
    CPU one clip, one pass."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    gpu = device.type == "cuda"
    out = []
    for name, (module, make, windows) in bench_models(names).items():
        module = module.to(device).eval()
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            module(*(x.to(device) for x in make(1)))
        flops = counter.get_total_flops() * windows  # one window counted, the clip's scaled
        clips, chosen = 8 if gpu else 1, None
        while clips <= (256 if gpu else 1):
            try:
                inputs = tuple(x.to(device) for x in make(clips * windows))
                if gpu:
                    with torch.inference_mode():
                        module(*inputs)  # warm-up, and the memory check
                chosen = (clips, inputs)
                clips *= 2
            except torch.OutOfMemoryError:
                torch.cuda.empty_cache()
                break
        clips, inputs = chosen
        _sync(device)
        start, rounds = time.perf_counter(), 0
        while rounds < (3 if gpu else 1) or (gpu and time.perf_counter() - start < 5):
            with torch.inference_mode():
                module(*inputs)
            _sync(device)
            rounds += 1
        seconds = (time.perf_counter() - start) / rounds
        r = {
            "model": name,
            "batch": clips,
            "windows_per_clip": windows,
            "real_time": clips * BENCH_SECONDS / seconds,
            "flops_per_clip": flops,
            "peak_fraction": flops * clips / seconds / (peak_tflops * 1e12) if gpu else None,
        }
        out.append(r)
        peak = f"{r['peak_fraction']:.0%} of float32 peak" if gpu else "CPU"
        print(f"{name:30s} batch {clips:3d}: {r['real_time']:9.1f}x real time, "
              f"{flops / 1e9:7.1f} GFLOP per 10 s clip, {peak}")  # fmt: skip
        module.cpu()
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu_check", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch", type=int, help="per-GPU batch [default: see above]")
    parser.add_argument(
        "--compare", help="a preset also run, printed beside [default: small at paper]"
    )
    parser.add_argument(
        "--compile", action=argparse.BooleanOptionalAction, help="[default: on CUDA]"
    )
    parser.add_argument("--plan", action="store_true", help="count FLOPs per step, time nothing")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument(
        "--tokens", type=lengths, default="100,500", help="generation lengths, comma-separated"
    )
    parser.add_argument("--models", default="codec,semantic,mulan,stages")
    parser.add_argument("--clips", type=Path, help="train on this write_clips file")
    parser.add_argument("--write-clips", type=Path, help="decode --audio into this file, exit")
    parser.add_argument("--audio", type=Path, help="a clip folder with manifest.csv")
    parser.add_argument("--limit", type=int, default=80, help="clips --write-clips keeps")
    parser.add_argument("--bench", action="store_true", help="measure the bench's embedders")
    parser.add_argument("--bench-models", default="passt,openl3,clap,encodec")
    parser.add_argument("--peak-tflops-fp32", type=float, default=67.0)
    args = parser.parse_args(argv)
    if args.bench:
        device = torch.device(args.device)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        print(f"device: {name}, torch {torch.__version__}: the bench's embedders, float32")
        report = {
            "device": name,
            "embedders": bench_embedders(
                device, args.bench_models.split(","), args.peak_tflops_fp32
            ),
        }
        print(json.dumps(report))
        return report
    if args.write_clips:
        if not args.audio:
            parser.error("--write-clips needs --audio FOLDER")
        count = write_clips(args.audio, args.write_clips, args.limit)
        print(f"{count} clips at {CLIP_RATE} Hz -> {args.write_clips}")
        return {"clips": count}
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    data = args.clips or "synthetic audio"
    print(
        f"device: {name}, torch {torch.__version__}, preset {args.preset}, {args.steps} steps, "
        f"on {data}"
    )
    report = {"device": name, "models": [], "generation": None}
    compare = args.compare or ("small" if args.preset == "paper" else None)
    presets = [args.preset] + ([compare] if compare and compare != args.preset else [])
    for kind in args.models.split(","):
        for preset in presets:
            r = check_model(
                kind, preset, args.steps, device, args.peak_tflops, args.clips,
                args.batch if preset == args.preset else None, args.compile, args.plan,
            )  # fmt: skip
            report["models"].append(r)
            print(_line(r, kind))
    if args.plan:
        print(json.dumps(report))
        return report
    report["generation"] = []
    static = "CUDA graph" if device.type == "cuda" else "static cache"
    for tokens in args.tokens:
        g = check_generation(device, tokens)
        report["generation"].append(g)
        print(
            f"generation ({tokens} tokens, dim 512 x 8), tokens/s: {static} "
            f"{g['tokens_per_s_static']:,.0f} ({g['static_speed_up']:.1f}x), KV cache "
            f"{g['tokens_per_s_cache']:,.0f} ({g['cache_speed_up']:.1f}x), no cache "
            f"{g['tokens_per_s_no_cache']:,.0f}"
        )
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
