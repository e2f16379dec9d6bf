"""``./smol bench solve``: Smol against the bare LLM and smolagents' CodeAgent on the same items.

Nothing here imports Smol at package level: the agent's runner imports this package from an
environment of its own, where Smol is not installed.
"""
