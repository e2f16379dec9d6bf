"""Runs inside BFCL's environment: BFCL's own ``generate`` then ``evaluate`` on the ids in
``$BFCL_PROJECT_ROOT/test_case_ids_to_generate.json``, against an OpenAI-compatible server.

BFCL knows models by its registry (``MODEL_CONFIG_MAPPING``); a model it does not list is
added to it here as what it is: an OpenAI-compatible endpoint in function-calling mode
(BFCL's own ``OpenAICompletionsHandler``, the one its OpenAI models use, which reads
``OPENAI_BASE_URL``). Nothing of BFCL's is changed but that one registry entry.

    python _driver.py REGISTRY_NAME SERVED_MODEL
"""

from __future__ import annotations

import sys


def register(name: str, served: str) -> None:
    """Add ``name`` to BFCL's model registry: ``served`` behind ``OPENAI_BASE_URL``, FC mode."""
    from bfcl_eval.constants.model_config import MODEL_CONFIG_MAPPING, ModelConfig
    from bfcl_eval.model_handler.api_inference.openai_completion import OpenAICompletionsHandler

    MODEL_CONFIG_MAPPING[name] = ModelConfig(
        model_name=served,
        display_name=f"{served} via smol serve (FC)",
        url="http://127.0.0.1/v1",
        org="Smol",
        license="Apache-2.0",
        model_handler=OpenAICompletionsHandler,
        input_price=None,
        output_price=None,
        is_fc_model=True,
        underscore_to_dot=True,
    )


def main() -> None:
    name, served = sys.argv[1:3]
    register(name, served)
    from bfcl_eval.__main__ import cli

    for command in (
        ["generate", "--model", name, "--run-ids", "--temperature", "0", "--num-threads", "1"],
        ["evaluate", "--model", name, "--test-category", "simple_python", "--partial-eval"],
    ):
        try:
            cli(command, standalone_mode=False)
        except SystemExit as exc:
            if exc.code:
                raise


if __name__ == "__main__":
    main()
