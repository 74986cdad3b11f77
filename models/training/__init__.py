"""Training the cascade: ``loop.train`` (presets, clip banks, DDP, checkpoints, loss curves)
drives one ``task.Task`` per model kind (``tasks.TASKS``)."""
