"""Tests of the use cases in coding_director.features."""
