"""The decoder-only Transformer used three times by the cascade (semantic, coarse, fine).

* T5-style relative position bias: log-spaced buckets of (key - query) distance, one
  learnt bias per bucket and head, shared by all layers; causal.
* Prefix conditioning: a sequence is ``conditioning tokens + target tokens`` in one
  vocabulary (each stream and quantiser level has its own range of ids); the loss is taken
  on the target tokens only, and sampling draws from the target stream's range only.
* A KV cache: generation feeds one token at a time and reuses the keys and values of the
  tokens before it; with or without the cache, the same seed gives the same tokens.
* On CUDA the cache is preallocated for the whole sequence, so every decoding step has the
  same shapes and is captured once as a CUDA graph and replayed per token: one launch in
  place of about a hundred small kernels, which otherwise bound one sequence's speed
  (``StaticDecoder``).
* Two attention paths, same parameters and same numbers (tested to 1e-5): ``dense`` adds
  the bias as a ``[heads, T, T]`` mask to ``scaled_dot_product_attention`` (which rules
  out the fused kernels), ``flex`` computes it inside ``flex_attention``: a ``score_mod``
  looks up ``table[bucket(k - q), head]`` and a causal block mask skips the blocks above
  the diagonal, so nothing of size T x T is ever held. Whole sequences (training, a
  prefill) run the compiled, fused kernel, compiled once per sequence length (training
  has one length per stage, generation one prefix length per stage; dynamic shapes do not
  compile on CPU in torch 2.13); a cached step (one query) runs flex eagerly.
  ``flex`` is the default on CUDA, ``dense`` on CPU (compiling costs ~20 s there). Flex
  has no attention-probability dropout: in training, dropout stays on the residual and
  feed-forward outputs only. The CUDA-graph decoder keeps its one bias row (``[heads,
  1, L]``: O(L), not O(L^2)).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

ATTENTION = ("dense", "flex")
_compiled_flex = None


def compiled_flex_attention():
    """``flex_attention`` compiled once (a fused kernel; the eager one is unfused)."""
    global _compiled_flex
    if _compiled_flex is None:
        from torch.nn.attention.flex_attention import flex_attention

        _compiled_flex = torch.compile(flex_attention, dynamic=False)
    return _compiled_flex


@dataclass(frozen=True)
class StageConfig:
    vocab: int
    dim: int = 1024
    layers: int = 24
    heads: int = 16
    ff: int = 4096
    dropout: float = 0.1
    buckets: int = 32
    max_distance: int = 128


def relative_buckets(relative: torch.Tensor, buckets: int, max_distance: int) -> torch.Tensor:
    """T5's causal bucketing of ``key - query`` (<= 0): exact for small distances,
    logarithmic up to ``max_distance``, the last bucket beyond."""
    n = (-relative).clamp(min=0)
    exact = buckets // 2
    large = (
        exact
        + (
            torch.log(n.float().clamp(min=1) / exact)
            / math.log(max_distance / exact)
            * (buckets - exact)
        ).long()
    )
    return torch.where(n < exact, n, large.clamp(max=buckets - 1))


class Layer(nn.Module):
    def __init__(self, c: StageConfig):
        super().__init__()
        self.heads = c.heads
        self.norm1, self.norm2 = nn.LayerNorm(c.dim), nn.LayerNorm(c.dim)
        self.qkv = nn.Linear(c.dim, 3 * c.dim, bias=False)
        self.out = nn.Linear(c.dim, c.dim, bias=False)
        self.ff = nn.Sequential(nn.Linear(c.dim, c.ff), nn.GELU(), nn.Linear(c.ff, c.dim))
        self.drop = nn.Dropout(c.dropout)

    def forward(self, x, bias, cache: tuple | None):
        """``bias``: a dense ``[1, heads, q, k]`` mask, or a ``FlexBias``."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).unbind(2)
        q, k, v = (y.transpose(1, 2) for y in (q, k, v))  # [b, heads, t, head_dim]
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        if isinstance(bias, FlexBias):
            attention = bias(q, k, v)
        else:
            attention = F.scaled_dot_product_attention(
                q, k, v, attn_mask=bias, dropout_p=self.drop.p if self.training else 0.0
            )
        x = x + self.drop(self.out(attention.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.ff(self.norm2(x))), (k, v)

    def step(self, x, bias, keys: torch.Tensor, values: torch.Tensor, position: torch.Tensor):
        """One token ``x`` ``[b, 1, d]`` at ``position`` (a device tensor): its key and
        value are written into the preallocated ``keys``/``values`` ``[b, heads, L, hd]``
        and it attends to all ``L`` (``bias`` masks those after it). Same shapes every step."""
        b, _, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, 1, 3, self.heads, d // self.heads).unbind(2)
        q, k, v = (y.transpose(1, 2) for y in (q, k, v))
        keys.index_copy_(2, position.view(1), k.to(keys.dtype))
        values.index_copy_(2, position.view(1), v.to(values.dtype))
        attention = F.scaled_dot_product_attention(q, keys, values, attn_mask=bias)
        x = x + self.out(attention.transpose(1, 2).reshape(b, 1, d))
        return x + self.ff(self.norm2(x))


class FlexBias:
    """The relative bias and the causal mask computed inside ``flex_attention``: queries at
    positions ``start ..`` against keys ``0 ..``. Whole sequences from position 0 use the
    compiled kernel with a causal block mask; anything else (a cached step) runs eagerly,
    its scores only ``[queries, keys]`` per head."""

    def __init__(self, table: torch.Tensor, config: StageConfig, start: int, q: int, k: int):
        self.table, self.start, self.queries, self.keys = table, start, q, k
        buckets, distance = config.buckets, config.max_distance

        def score_mod(score, b, h, q_idx, k_idx):
            relative = k_idx - (q_idx + start)
            biased = score + table[relative_buckets(relative, buckets, distance), h].to(score.dtype)
            return torch.where(relative <= 0, biased, float("-inf"))

        self.score_mod = score_mod

    def __call__(self, q, k, v):
        from torch.nn.attention.flex_attention import flex_attention

        if self.start == 0 and self.queries == self.keys:
            mask = causal_block_mask(self.queries, str(q.device))
            return compiled_flex_attention()(q, k, v, score_mod=self.score_mod, block_mask=mask)
        with warnings.catch_warnings():  # one query row per head: nothing of size T x T
            warnings.filterwarnings("ignore", "flex_attention called without torch.compile")
            return flex_attention(q, k, v, score_mod=self.score_mod)


def _causal(b, h, q_idx, k_idx):
    return q_idx >= k_idx


FLEX_BLOCK = 128  # flex_attention's default block size


@lru_cache(maxsize=16)
def causal_block_mask(length: int, device: str):
    """The causal ``BlockMask`` for ``length`` tokens, built from its block indices: the
    blocks left of the diagonal are full, the diagonal ones masked by ``_causal``. (Its
    ``create_block_mask`` evaluates the mask on all length x length pairs, 160 MB at 4,096
    tokens.)"""
    from torch.nn.attention.flex_attention import BlockMask

    blocks = -(-length // FLEX_BLOCK)
    rows = torch.arange(blocks, device=device)
    columns = rows.expand(blocks, blocks)
    diagonal = torch.where(columns == 0, rows[:, None], 0).to(torch.int32)  # one block a row
    full = torch.where(columns < rows[:, None], columns, 0).to(torch.int32)
    return BlockMask.from_kv_blocks(
        torch.ones(1, 1, blocks, dtype=torch.int32, device=device),
        diagonal.view(1, 1, blocks, blocks),
        rows.view(1, 1, blocks).to(torch.int32),
        full.view(1, 1, blocks, blocks),
        BLOCK_SIZE=FLEX_BLOCK,
        mask_mod=_causal,
        seq_lengths=(length, length),
    )


class StageTransformer(nn.Module):
    def __init__(self, config: StageConfig, attention: str | None = None):
        super().__init__()
        if attention not in (None, *ATTENTION):
            raise ValueError(f"attention must be one of {ATTENTION}, not {attention!r}")
        # None: flex on CUDA, dense elsewhere (chosen at each call from the tokens' device)
        self.attention = attention
        self.config = config
        self.embed = nn.Embedding(config.vocab, config.dim)
        self.bias = nn.Embedding(config.buckets, config.heads)
        self.layers = nn.ModuleList(Layer(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.dim)
        self.head = nn.Linear(config.dim, config.vocab, bias=False)

    def attention_mode(self, device: torch.device) -> str:
        return self.attention or ("flex" if device.type == "cuda" else "dense")

    def _bias(self, start: int, queries: int, keys: int, device) -> torch.Tensor:
        """Additive attention bias ``[1, heads, queries, keys]``: relative bias plus the
        causal mask, for queries at positions ``start ..`` against keys ``0 ..``."""
        q = torch.arange(start, start + queries, device=device)[:, None]
        k = torch.arange(keys, device=device)[None]
        c = self.config
        bias = self.bias(relative_buckets(k - q, c.buckets, c.max_distance))  # [q, k, heads]
        bias = bias.permute(2, 0, 1)[None]
        return bias.masked_fill(k > q, float("-inf"))

    def forward(
        self, tokens: torch.Tensor, cache: list | None = None, start: int = 0
    ) -> tuple[torch.Tensor, list]:
        """Logits ``[batch, t, vocab]`` for ``tokens`` at positions ``start..`` and the
        updated cache (pass ``cache=[]`` to start one)."""
        x = self.embed(tokens)
        past = 0 if not cache else cache[0][0].shape[2]
        queries, keys = tokens.shape[1], past + tokens.shape[1]
        if self.attention_mode(tokens.device) == "flex":
            bias = FlexBias(self.bias.weight, self.config, start, queries, keys)
        else:
            bias = self._bias(start, queries, keys, tokens.device).to(x.dtype)
        new_cache = []
        for i, layer in enumerate(self.layers):
            x, kv = layer(x, bias, cache[i] if cache else None)
            new_cache.append(kv)
        return self.head(self.norm(x)), new_cache


class StaticDecoder:
    """Decoding with keys and values preallocated for ``length`` positions.

    ``start(prefix)`` runs the prefix and fills the first positions; ``step(token)`` returns
    the next logits ``[batch, vocab]``. Every step has the same shapes, so on CUDA the step
    is captured as a CUDA graph on its first call and replayed after (inputs are copied
    into fixed buffers; the logits buffer is overwritten by the next step)."""

    def __init__(self, model: StageTransformer, batch: int, length: int, graph: bool):
        c = model.config
        self.model, self.length = model, length
        param = next(model.parameters())
        shape = (batch, c.heads, length, c.dim // c.heads)
        self.keys = [param.new_zeros(shape) for _ in model.layers]
        self.values = [param.new_zeros(shape) for _ in model.layers]
        self.token = torch.zeros(batch, 1, dtype=torch.long, device=param.device)
        self.position = torch.zeros((), dtype=torch.long, device=param.device)
        self.slots = torch.arange(length, device=param.device)
        self.next_position = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.use_graph = graph and param.device.type == "cuda"
        self.logits: torch.Tensor | None = None

    def start(self, prefix: torch.Tensor) -> torch.Tensor:
        """Run ``prefix`` ``[batch, p]``; returns the logits after its last token."""
        logits, cache = self.model(prefix, [])
        p = prefix.shape[1]
        for (k, v), keys, values in zip(cache, self.keys, self.values, strict=True):
            keys[:, :, :p] = k
            values[:, :, :p] = v
        self.next_position = p
        return logits[:, -1]

    def _step(self) -> torch.Tensor:
        model, c = self.model, self.model.config
        buckets = relative_buckets(self.slots - self.position, c.buckets, c.max_distance)
        bias = model.bias(buckets).t()[None, :, None, :]  # [1, heads, 1, length]
        bias = bias.masked_fill(self.slots > self.position, float("-inf"))
        x = model.embed(self.token)
        for layer, keys, values in zip(model.layers, self.keys, self.values, strict=True):
            x = layer.step(x, bias.to(x.dtype), keys, values, self.position)
        return model.head(model.norm(x))[:, -1]

    def step(self, token: torch.Tensor) -> torch.Tensor:
        """Feed ``token`` ``[batch, 1]`` at the next position; the logits after it."""
        if self.next_position >= self.length:
            raise ValueError(f"the decoder holds {self.length} positions")
        self.token.copy_(token)
        self.position.fill_(self.next_position)
        self.next_position += 1
        if not self.use_graph:
            return self._step()
        if self.graph is None:
            warm = torch.cuda.Stream()
            warm.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(warm):
                self._step()  # kernels chosen and loaded outside the capture
            torch.cuda.current_stream().wait_stream(warm)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.logits = self._step()
        self.graph.replay()
        return self.logits


def target_loss(
    model: StageTransformer, sequence: torch.Tensor, prefix: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token cross-entropy on the target part (after ``prefix`` tokens), and accuracy."""
    logits, _ = model(sequence[:, :-1])
    logits, wanted = logits[:, prefix - 1 :], sequence[:, prefix:]
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), wanted.reshape(-1))
    return loss, (logits.argmax(-1) == wanted).float().mean()


@torch.no_grad()
def generate(
    model: StageTransformer,
    prefix: torch.Tensor,
    steps: int,
    allowed: list[tuple[int, int]],
    temperature: float = 1.0,
    top_k: int = 0,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    static: bool | None = None,
) -> torch.Tensor:
    """Sample ``steps`` tokens after ``prefix`` ``[batch, p]``; token ``i`` is drawn from
    the id range ``allowed[i % len(allowed)]`` (the stream/level it must belong to).
    Temperature 0 is greedy decoding. With the cache, ``static`` decodes with the
    preallocated cache of ``StaticDecoder`` (default: on CUDA, where it runs as a CUDA
    graph; elsewhere the growing cache is faster)."""
    model.eval()
    if static is None:
        static = prefix.device.type == "cuda"
    decoder = None
    if use_cache and static:
        decoder = StaticDecoder(model, prefix.shape[0], prefix.shape[1] + steps, graph=True)
        last = decoder.start(prefix)
    else:
        logits, cache = model(prefix, [] if use_cache else None)
        last = logits[:, -1]
    sequence = prefix
    for i in range(steps):
        low, high = allowed[i % len(allowed)]
        scores = last[:, low:high].float()
        if temperature <= 0:
            choice = scores.argmax(-1, keepdim=True)
        else:
            scores = scores / temperature
            if 0 < top_k < scores.shape[-1]:
                floor = scores.topk(top_k, dim=-1).values[:, -1:]
                scores = scores.masked_fill(scores < floor, float("-inf"))
            choice = torch.multinomial(scores.softmax(-1), 1, generator=generator)
        token = choice + low
        sequence = torch.cat([sequence, token], dim=1)
        if i + 1 == steps:
            break
        if decoder is not None:
            last = decoder.step(token)
        elif use_cache:
            logits, cache = model(token, cache, start=sequence.shape[1] - 1)
            last = logits[:, -1]
        else:
            last = model(sequence)[0][:, -1]
    return sequence[:, prefix.shape[1] :]
