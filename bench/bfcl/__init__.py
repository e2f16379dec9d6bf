"""``./smol bench bfcl``: BFCL's own harness (``bfcl generate`` + ``bfcl evaluate``, its data and
its AST checker) against ``smol serve`` through BFCL's OpenAI-compatible handler.

``_driver`` runs in BFCL's environment, where Smol is not installed: nothing here imports Smol
at package level.
"""
