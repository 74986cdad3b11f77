"""Generation speed of a stage Transformer with and without the KV cache (tokens per
second, real-time factor, ratio), and training throughput (tokens per second).

    python -m benchmarks.generation_speed [--dim 256 --layers 4 --tokens 500]

Random weights at the given size: speed does not depend on what the weights learnt. The
real-time factor counts semantic tokens (25 per second of audio): seconds of audio per
second of compute. Runs on the GPU when one is present.
"""

from __future__ import annotations

import argparse
import time

import torch

from musiccaps_kit.models.stage import StageConfig, StageTransformer, generate, target_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--prefix", type=int, default=12)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    config = StageConfig(
        vocab=2048,
        dim=args.dim,
        layers=args.layers,
        heads=args.heads,
        ff=4 * args.dim,
        dropout=0.0,
    )
    model = StageTransformer(config).to(device).eval()
    prefix = torch.randint(0, 100, (1, args.prefix), device=device)
    ranges = [(1024, 2048)]
    print(f"{device}, dim {args.dim}, {args.layers} layers, {args.tokens} tokens")
    timings = {}
    for use_cache in (True, False):
        generate(model, prefix, 8, ranges, use_cache=use_cache)  # warm-up
        generator = torch.Generator(device="cpu").manual_seed(0)
        start = time.perf_counter()
        out = (
            generate(model, prefix.cpu(), args.tokens, ranges, 1.0, 0, generator, use_cache)
            if device == "cpu"
            else generate(model, prefix, args.tokens, ranges, 0.0, use_cache=use_cache)
        )
        if device == "cuda":
            torch.cuda.synchronize()
        timings[use_cache] = time.perf_counter() - start
        rate = args.tokens / timings[use_cache]
        print(
            f"KV cache {'on ' if use_cache else 'off'}: {rate:8.1f} tokens/s, real-time factor "
            f"{rate / 25:6.2f} (semantic tokens), {out.shape[1]} tokens"
        )
    print(f"speed-up from the cache: {timings[False] / timings[True]:.1f}x")

    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = torch.randint(0, 2048, (8, args.tokens), device=device)
    for step in range(4):
        if step == 1:
            start = time.perf_counter()
        loss, _ = target_loss(model, batch, args.prefix)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    if device == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    print(f"training: {3 * batch.numel() / elapsed:,.0f} tokens/s (batch 8 x {args.tokens})")


if __name__ == "__main__":
    main()
