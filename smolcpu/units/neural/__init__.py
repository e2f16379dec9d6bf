"""Neural units: models that run on ONNX Runtime or llama.cpp, meant for worker processes."""

from smolcpu.units.neural._embed import Embed
from smolcpu.units.neural._llm_engine import (
    Completion,
    LLMEngine,
    choice_grammar,
    gbnf_literal,
    server_params,
    set_wait_policy,
)
from smolcpu.units.neural._llm_toolcalls import (
    ToolCall,
    extract_tool_calls,
    repair_json,
    tool_call_schema,
    tool_calls_schema,
)
from smolcpu.units.neural._llm_unit import LLM, tool_decoding
from smolcpu.units.neural._vision import Classify, Detect

__all__ = [
    "LLM",
    "Classify",
    "Completion",
    "Detect",
    "Embed",
    "LLMEngine",
    "ToolCall",
    "choice_grammar",
    "extract_tool_calls",
    "gbnf_literal",
    "repair_json",
    "server_params",
    "set_wait_policy",
    "tool_call_schema",
    "tool_calls_schema",
    "tool_decoding",
]
