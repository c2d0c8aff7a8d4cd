"""Whole studies from one YAML file: plan, run (locally or on SLURM via submitit), compare, report.

``config`` reads and checks the YAML, ``plan`` turns it into command lines, ``executor``
runs them as jobs, ``report`` writes the paper's tables and figures, ``cli`` is
``toxft study``.
"""
