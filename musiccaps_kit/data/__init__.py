"""The prepare job's library: catalogs (MusicCaps CSV, Hugging Face, custom CSV), audio
sources (yt-dlp, local folders) with their failure categories, the record schema and
TFRecord I/O, the record set format and its readers, the per-clip cache, the tokenize
step, and the plain-function steps the Beam pipeline (``musiccaps_kit.pipelines``) wires."""
