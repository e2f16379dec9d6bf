"""units/neural layer (see ARCHITECTURE.md)."""
