"""A stand-in for ``laion_clap`` with its calling convention, for the CLAP adapter's tests.

The real package needs ``roberta-base`` from the Hugging Face hub and a checkpoint from
Zenodo, neither reachable here. This keeps its interface (``CLAP_Module(enable_fusion,
device, amodel, tmodel)``, ``load_ckpt(ckpt, model_id, verbose)``,
``get_audio_embedding_from_data(x, use_tensor)``, ``get_text_embedding(x, tokenizer,
use_tensor)``) and the behaviour the adapter must handle: int16 quantisation, repeat
padding below 480,000 samples and a random crop above. Embeddings are log band energies
and hashed character trigrams times matrices read from the checkpoint (an ``.npz``).
"""

import zlib

import numpy as np

WINDOW = 480000
SEEN_LENGTHS: list[int] = []


class CLAP_Module:  # noqa: N801 - laion_clap's name
    def __init__(self, enable_fusion=False, device=None, amodel="HTSAT-tiny", tmodel="roberta"):
        self.enable_fusion, self.amodel, self.tmodel = enable_fusion, amodel, tmodel

    def load_ckpt(self, ckpt=None, model_id=-1, verbose=True):
        with np.load(ckpt) as blob:
            self.audio_matrix, self.text_matrix = blob["audio"], blob["text"]

    def get_audio_embedding_from_data(self, x, use_tensor=False):
        out = []
        for wave in x:
            SEEN_LENGTHS.append(len(wave))
            wave = (np.clip(wave, -1, 1) * 32767).astype(np.int16).astype(np.float32) / 32767
            if len(wave) > WINDOW:
                start = np.random.randint(0, len(wave) - WINDOW)
                wave = wave[start : start + WINDOW]
            elif len(wave) < WINDOW:
                wave = np.tile(wave, WINDOW // len(wave) + 1)[:WINDOW]
            power = np.abs(np.fft.rfft(wave)) ** 2
            bands = np.log(np.array([b.sum() for b in np.array_split(power, 64)]) + 1e-9)
            out.append(bands @ self.audio_matrix)
        return np.stack(out)

    def get_text_embedding(self, x, tokenizer=None, use_tensor=False):
        rows = []
        for text in x:
            counts = np.zeros(256)
            for i in range(len(text) - 2):
                counts[zlib.crc32(text[i : i + 3].lower().encode()) % 256] += 1
            rows.append(counts @ self.text_matrix)
        return np.stack(rows)
