"""Wukong against dask on the seed workloads: ``python -m benchmarks`` (see benchmarks/README.md)."""
