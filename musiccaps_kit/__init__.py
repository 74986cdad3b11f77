"""musiccaps-kit: MusicCaps data preparation, a compact MusicLM-style cascade, and evaluation."""

__version__ = "0.1.0"
