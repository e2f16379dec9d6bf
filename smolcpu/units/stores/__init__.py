"""Stores as units: the vector store and the graph store, local (embedded) or global (served)."""

from smolcpu.units.stores._experience import Experience, ExperienceTool, worked_examples
from smolcpu.units.stores._graph import LINK, PARENT, Graph, LocalGraph, load_lineage, load_links, remote_graph
from smolcpu.units.stores._memory_search import Embedder, MemoryVectors, embedder_of
from smolcpu.units.stores._service import RemoteStore, StoreService, StoreTool, dispatch, serve
from smolcpu.units.stores._vectors import LocalVectors, Vectors, fuse, remote_vectors

__all__ = [
    "LINK",
    "PARENT",
    "Embedder",
    "Experience",
    "ExperienceTool",
    "Graph",
    "LocalGraph",
    "LocalVectors",
    "MemoryVectors",
    "RemoteStore",
    "StoreService",
    "StoreTool",
    "Vectors",
    "dispatch",
    "embedder_of",
    "fuse",
    "load_lineage",
    "load_links",
    "remote_graph",
    "remote_vectors",
    "serve",
    "worked_examples",
]
