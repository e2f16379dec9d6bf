"""Natural language to flow programs: ``smol draft``.

A layer above ``vm`` (it runs the language model through the Lifecycle) and ``lang`` (whose
grammar constrains what the model writes and whose checker judges it). :class:`Drafter`
writes a program for a description, repairs it from the checker's diagnostics, and
proposes the declarations a partial program lacks; ``local_llm`` gives it the local model.
"""

from smolcpu.draft._drafter import (
    Attempt,
    Draft,
    DraftEvent,
    Drafter,
    Missing,
    apply_proposals,
    local_llm,
    missing_pieces,
    proposal_grammar,
)
from smolcpu.draft._prompt import EXAMPLES, LANGUAGE, Example, unit_catalog

__all__ = [
    "EXAMPLES",
    "LANGUAGE",
    "Attempt",
    "Draft",
    "DraftEvent",
    "Drafter",
    "Example",
    "Missing",
    "apply_proposals",
    "local_llm",
    "missing_pieces",
    "proposal_grammar",
    "unit_catalog",
]
