"""Pure cores and backends, one package per module deployment plus ``common``: numpy,
OpenCV, pymatting, colour-science and (lazily) torch; never Ray or FastAPI."""
