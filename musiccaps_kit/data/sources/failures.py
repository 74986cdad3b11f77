"""Why a clip could not be had: one category per failure, and the rules that assign it."""

from __future__ import annotations

import re
from enum import StrEnum


class Category(StrEnum):
    """Failure categories written to ``failures.csv`` and counted in ``dataset_info.json``."""

    UNAVAILABLE = "unavailable"
    PRIVATE = "private"
    REMOVED = "removed_or_terminated"
    COPYRIGHT = "copyright"
    SIGN_IN = "sign_in_or_age"
    BOT_CHECK = "bot_check_or_rate_limit"
    NETWORK = "network"
    BAD_MEDIA = "bad_media"
    MISSING_FILE = "missing_file"
    INVALID_ID = "invalid_id"
    INTERNAL = "internal"


# Worth another try later: the same request can succeed after a pause.
TRANSIENT = frozenset({Category.BOT_CHECK, Category.NETWORK})


class FetchError(Exception):
    """A clip that could not be fetched or decoded, with its category."""

    def __init__(self, category: Category, message: str):
        super().__init__(f"[{category}] {message}")
        self.category = Category(category)
        self.message = message


# Ordered: the first matching rule wins. Messages are yt-dlp's and YouTube's own wording.
_RULES: tuple[tuple[Category, re.Pattern[str]], ...] = tuple(
    (cat, re.compile(pattern, re.IGNORECASE))
    for cat, pattern in (
        # YouTube writes "you’re" with a curly apostrophe in its bot check.
        (Category.BOT_CHECK, r"not a bot|confirm you[’']re|too many requests|http error 429"),
        (Category.BOT_CHECK, r"rate.?limit|http error 403"),
        # A server error says nothing about the video ("503: Service Unavailable").
        (Category.NETWORK, r"http error 5\d\d"),
        (Category.SIGN_IN, r"confirm your age|age.?restricted|inappropriate for some users"),
        (Category.COPYRIGHT, r"copyright"),
        (Category.REMOVED, r"terminated|removed by the (uploader|user)|has been removed"),
        (Category.REMOVED, r"account .* (closed|suspended)"),
        (Category.PRIVATE, r"private video|members.only|video is private"),
        (Category.SIGN_IN, r"sign in"),
        (Category.UNAVAILABLE, r"unavailable|not available|http error 40[0-9]|http error 410"),
        (Category.UNAVAILABLE, r"does not exist|no video formats|live event will begin"),
        (Category.BAD_MEDIA, r"ffmpeg|ffprobe|postprocess|invalid data|decode|codec|too short"),
        (
            Category.NETWORK,
            r"timed? ?out|connection|network|urlopen|name resolution|temporary failure|ssl"
            r"|reset by peer|incomplete read",
        ),
    )
)


def classify(message: str) -> Category:
    """The category of a yt-dlp / YouTube error message (``internal`` when none matches)."""
    for category, pattern in _RULES:
        if pattern.search(message):
            return category
    return Category.INTERNAL
