"""Full-size benchmarks of the course's models (run on a GPU; never part of CI)."""
