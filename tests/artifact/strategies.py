"""Hypothesis strategies for artifacts: any field any value the schema allows."""

from __future__ import annotations

from hypothesis import strategies as st

from smolcpu.artifact import Artifact

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
"""Any Unicode text that UTF-8 can carry (lone surrogates cannot be encoded by anyone)."""

artifacts = st.builds(
    Artifact,
    id=texts,
    checksum=st.binary(max_size=40),
    version=texts,
    type=texts,
    timestamp=st.integers(min_value=0, max_value=2**64 - 1),
    origin=texts,
    role=texts,
    scope=texts,
    attributes=st.lists(st.tuples(texts, texts), max_size=5).map(tuple),
    payload=st.binary(max_size=2000),
    parents=st.lists(texts, max_size=4).map(tuple),
    pubkey=st.binary(max_size=40),
    signature=st.binary(max_size=80),
)
