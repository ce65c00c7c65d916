"""Random run names in MLflow's style (``<adjective>-<noun>-<number>``), for runs created without one."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "able", "bold", "brave", "bright", "calm", "clever", "crisp", "daring", "eager", "fair", "fancy", "gentle",
    "glad", "grand", "happy", "honest", "jolly", "keen", "kind", "lively", "lucky", "merry", "nimble", "polite",
    "proud", "quick", "quiet", "rare", "shy", "smart", "sunny", "swift", "tidy", "vast", "warm", "wise", "witty",
)
_NOUNS = (
    "ant", "ape", "bass", "bat", "bear", "bee", "bird", "boar", "carp", "cat", "colt", "cow", "crab", "crow",
    "deer", "dog", "dove", "duck", "eel", "elk", "fawn", "finch", "fish", "fly", "fox", "frog", "goat", "gull",
    "hare", "hawk", "hen", "jay", "koi", "lamb", "lark", "lynx", "mole", "moth", "mule", "newt", "owl", "ox",
    "panda", "pig", "pug", "ram", "rat", "seal", "shrew", "sloth", "snail", "squid", "stag", "swan", "toad",
    "trout", "wasp", "whale", "wolf", "worm", "yak", "zebra",
)


def random_run_name(max_length: int = 20) -> str:
    name = f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(0, 999)}"
    return name[:max_length]
