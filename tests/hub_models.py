"""Small TF SavedModels with VGGish's and TRILL's calling conventions, built in the tests.

The real models live on TF Hub; these stand in for them offline and load through the
same ``tensorflow_hub.load`` path from a local folder. Their features are log-magnitude
spectra through fixed random projections: crude, but they see noise, filtering and
clipping as the real ones do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _projection(seed: int, rows: int, cols: int):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    return tf.Variable((rng.standard_normal((rows, cols)) / np.sqrt(rows)).astype(np.float32))


def _log_spectrum(tf, frames):
    stft = tf.signal.stft(frames, frame_length=400, frame_step=160, fft_length=512)
    return tf.reduce_mean(tf.math.log(tf.abs(stft) + 1e-3), axis=-2)


def build_vggish_like(folder: Path) -> Path:
    """``model(waveform[None] float32 at 16 kHz) -> [frames of 0.96 s, 128]``."""
    import tensorflow as tf

    class VGGishLike(tf.Module):
        def __init__(self):
            super().__init__()
            self.proj = _projection(0, 257, 128)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, waveform):
            frames = tf.signal.frame(waveform, 15360, 15360)
            return tf.nn.relu(_log_spectrum(tf, frames) @ self.proj)

    tf.saved_model.save(VGGishLike(), str(folder))
    return folder


def build_trill_like(folder: Path, layer19_dims: int = 96) -> Path:
    """``model(samples=, sample_rate=) -> {'embedding': [frames, 512], 'layer19': ...}``."""
    import tensorflow as tf

    class TrillLike(tf.Module):
        def __init__(self):
            super().__init__()
            self.proj = _projection(1, 257, 512)
            self.proj19 = _projection(2, 257, layer19_dims)

        @tf.function(
            input_signature=[tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.int32)]
        )
        def __call__(self, samples, sample_rate):
            frames = tf.signal.frame(samples, 15360, 7680)
            spectrum = _log_spectrum(tf, frames)
            return {
                "embedding": tf.expand_dims(spectrum @ self.proj, 0),
                "layer19": tf.expand_dims(spectrum @ self.proj19, 0),
            }

    tf.saved_model.save(TrillLike(), str(folder))
    return folder
