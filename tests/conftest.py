"""Hypothesis profiles: the suite draws the same examples on every run (`ci`, the default),
so CI is reproducible; `pytest --hypothesis-profile=explore` draws new ones to hunt bugs."""

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile("ci")
