"""Reliability checks of the whole stack, each a script that measures and records its figures:

    python -m reliability.load     many concurrent clients: every answer journaled once, no 5xx, latency
    python -m reliability.crash    kill -9 under write-heavy load: acknowledged updates survive, file intact
    python -m reliability.faults   Triton killed, journal read-only or full, corrupt or missing model files

Each runs against real processes (`investiq serve`, a local tritonserver, SQLite files) and writes
JSON and markdown into reliability/results/. tests/harness/test_reliability.py runs the same code, small.
"""
