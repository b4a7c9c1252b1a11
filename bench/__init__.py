"""Side-by-side benchmarks; results go to docs/benchmarks.md."""
