"""Test suite of Coding Director (a package so that ``python -m tests.emulator`` works)."""
