"""Run the original musicnn TF1 graph on given input patches (a golden oracle).

    TF_USE_LEGACY_KERAS=1 python musicnn_original.py MODEL patches.npy out.npz

Importing musicnn disables eager execution for the whole process, so this runs in a
subprocess of its own. It feeds the same log-mel patches as our port to the package's own
``models.define_model`` restored from its checkpoint.
"""

import os
import sys

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def main(model: str, patches_path: str, out_path: str) -> None:
    import tensorflow as tf
    from musicnn import models

    tf.compat.v1.disable_eager_execution()
    patches = np.load(patches_path)
    x = tf.compat.v1.placeholder(tf.float32, [None, patches.shape[1], patches.shape[2]])
    is_training = tf.compat.v1.placeholder(tf.bool)
    outputs = models.define_model(x, is_training, model, 50)
    logits, penultimate = outputs[0], outputs[-1]
    folder = os.path.join(os.path.dirname(models.__file__), model)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver().restore(sess, folder + "/")
        probs, pen = sess.run(
            [tf.nn.sigmoid(logits), penultimate], feed_dict={x: patches, is_training: False}
        )
    np.savez(out_path, taggram=probs, penultimate=pen)


if __name__ == "__main__":
    main(*sys.argv[1:4])
