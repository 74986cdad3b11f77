"""Building blocks shared by the model families: k-means, residual VQ, log-mel features."""
