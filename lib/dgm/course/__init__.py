"""Instructor tooling: never imported by a lecture's model code.

- ``notebooks``: student notebooks from ``solutions/`` (nbgrader's preprocessors), the
  set-up cells, the README's lecture table, the jupytext text twins.
- ``execute``: executing notebooks with a per-cell time limit and a kernel that is always
  shut down; run times recorded.
- ``records``: the results-record format the benchmarks write, and the README's results
  table generated from it.
- ``grade``: the autograder.

``python -m dgm.course notebooks|check|sync|execute|grade`` runs them.
"""
