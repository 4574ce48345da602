"""``python -m bulk_delete.sandbox``: the sandbox server alone, as benchmarks start it."""

from bulk_delete.sandbox.cli import sandbox

sandbox(prog_name="python -m bulk_delete.sandbox")
