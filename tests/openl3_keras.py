"""openl3's mel256 audio network as openl3 0.4.2 defines it (``models.py``:
``_construct_mel256_audio_network(include_frontend=False)``, then the 512-d pooling and
flatten of ``load_audio_embedding_model_from_path``), written out with tf-keras (Keras 2,
whose ``save_weights`` writes the ``.h5`` layout of openl3's released files), with random
weights and batch-norm statistics. Widths are a parameter so tests can stay small."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

FULL = (64, 64, 128, 128, 256, 256, 512, 512)


def build_keras_openl3(widths=FULL, seed: int = 0):
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras as keras
    from tf_keras import layers, regularizers

    keras.utils.set_random_seed(seed)
    weight_decay = 1e-5
    x_a = layers.Input(shape=(256, 199, 1), dtype="float32")
    y_a = layers.BatchNormalization()(x_a)
    for block in range(4):
        for k in range(2):
            width = widths[2 * block + k]
            last = block == 3 and k == 1
            y_a = layers.Conv2D(
                width, (3, 3), padding="same", kernel_initializer="he_normal",
                kernel_regularizer=regularizers.l2(weight_decay),
                **({"name": "audio_embedding_layer"} if last else {}),
            )(y_a)  # fmt: skip
            if last:
                break
            y_a = layers.BatchNormalization()(y_a)
            y_a = layers.Activation("relu")(y_a)
        if block < 3:
            y_a = layers.MaxPooling2D(pool_size=(2, 2), strides=2)(y_a)
    y_a = layers.MaxPooling2D(pool_size=(32, 24), padding="same")(y_a)
    y_a = layers.Flatten()(y_a)
    model = keras.Model(inputs=x_a, outputs=y_a)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            shape = gamma.shape
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, shape).astype(np.float32),
                    rng.normal(0, 0.1, shape).astype(np.float32),
                    rng.normal(0, 0.5, shape).astype(np.float32),
                    rng.uniform(0.5, 2.0, shape).astype(np.float32),
                ]
            )
    return model


def save_keras_openl3(path: Path, widths=FULL, seed: int = 0):
    """The network's weights saved as openl3's files are (Keras 2 HDF5), and the model."""
    model = build_keras_openl3(widths, seed)
    model.save_weights(str(path))
    return model
