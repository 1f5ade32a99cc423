"""Benchmarks: plain functions returning dicts of timings (median and spread after warm-up)."""
