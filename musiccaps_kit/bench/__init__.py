"""The bench job's library: clip sets paired by id, embedders and joint models behind
registries, the embedding cache, FAD / KLD / MCC, degradations, and the leaderboard and
report (``run.run_bench`` ties them together)."""
