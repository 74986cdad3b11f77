"""Where a clip's audio comes from: YouTube through yt-dlp, or local files."""

from musiccaps_kit.sources.base import Fetched, Source, make_source
from musiccaps_kit.sources.failures import TRANSIENT, Category, FetchError, classify

__all__ = ["TRANSIENT", "Category", "FetchError", "Fetched", "Source", "classify", "make_source"]
