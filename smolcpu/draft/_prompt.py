"""What the model is told: the language in brief, the unit kinds it may bind, worked examples.

The system prompt and the examples are the same for every request, so llama.cpp evaluates
them once and reuses the cached prefix; only the description (and, when repairing, the
checker's diagnostics) is new each time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from smolcpu.units import unit_kinds

LANGUAGE = """\
You write programs in smol, a small flow language. A program is `use` lines, a blank line, then one flow.

use NAME = KIND "instruction"     declares a worker: KIND is one of the unit kinds listed below;
                                  for `llm` the instruction is the model's task, said plainly.
out <= STAGE <= STAGE <= in       data moves right to left: `in` is the request, `out` the answer.

A stage is a worker name or a block:
  switch <= ( STEPS )             the steps run in order
  select <= ( STEPS )             a chooser picks the next step, again and again, until one sends
  match <= ( CASES )              the first case whose pattern holds routes the data
  join <= ( out <= A  out <= B )  chains run side by side on the same input; outputs are gathered
A step is `worker => OUTCOME | OUTCOME`: the first outcome is taken; the next one when the worker fails
(a sandbox run that raises fails). Outcomes:
  next      the output goes to the next step       back      the output goes back to the step before
  continue  the input goes on unchanged            send      leave the block with this output
  cancel    stop the whole run                     [name.jump]  restart the block labelled `switch[name]`
A case is `PATTERN => send | cancel | [name.jump]` (a match only routes: never next or back).
Patterns: error, success, empty, default (anything), or a plain word such as spam or urgent that
the language model judges. Use a select when a chooser should pick among tools, a join for work
done side by side, and a stage of its own for every unit kind the task names.
`worker<3>` runs at most 3 times; `switch[name]<3>` is entered at most 3 times.
Worker names are lowercase words; `in out switch select match join next back continue send cancel`
are reserved. Write only the program: no markdown, no comments, no explanation."""


@dataclass(frozen=True, slots=True)
class Example:
    description: str
    program: str


EXAMPLES = (
    Example(
        "Extract the dates from an e-mail, then write them as a calendar summary.",
        """use extract = llm "List every date in the e-mail with what happens on it."
use summarize = llm "Write the dates as a short calendar summary."

out <= summarize <= extract <= in
""",
    ),
    Example(
        "Get two opinions on a business idea at the same time, one optimistic and one critical, then merge them.",
        """use optimist = llm "List the strengths of the idea."
use critic = llm "List the weaknesses of the idea."
use verdict = llm "Weigh the strengths and weaknesses and give a one-paragraph verdict."

out <= verdict <= join <= (
    out <= optimist
    out <= critic
) <= in
""",
    ),
    Example(
        "Help with a shopping question: let a chooser pick, as often as needed, between looking up notes in memory,"
        " computing totals with the math tool, and writing the reply.",
        """use notes = memory "Find the notes about the products asked for."
use total = math "Compute the total."
use reply = llm "Write the reply to the customer."

out <= select <= (
    notes<2> => next
    total<3> => next
    reply    => send
) <= in
""",
    ),
    Example(
        "Answer customer messages, but drop spam and leave urgent ones for a person.",
        """use answer = llm "Answer the customer's message briefly and politely."

out <= answer <= match <= (
    spam    => cancel
    urgent  => cancel
    default => send
) <= in
""",
    ),
    Example(
        "Write a short product description, have it checked, and redo it until the check passes, at most 3 times.",
        """use draft = llm "Write a short product description for the request."
use check = llm "Check the description: say continue if it is accurate and clear, else say what is wrong."

out <= switch[loop]<3> <= (
    draft => next
    check => continue | [loop.jump]
) <= in
""",
    ),
    Example(
        "Solve the task with a Python program: write it, run it in the sandbox, and if the run fails"
        " send the error back so the program is fixed, at most 3 tries.",
        """use write = llm "Write one Python program that solves the task and prints the answer. Reply with the code only."
use run = sandbox

out <= switch <= (
    write<3> => next
    run      => send | back
) <= in
""",
    ),
)


def unit_catalog() -> str:
    """The registered unit kinds, one line each: what a program may bind a worker to."""
    lines = []
    for kind in unit_kinds():
        takes = ", ".join(kind.inputs) if kind.inputs else "text"
        lines.append(f"- {kind.name}: {kind.description.rstrip('.')} (takes {takes})")
    return "\n".join(lines)


def system_prompt() -> str:
    return f"{LANGUAGE}\n\nUnit kinds:\n{unit_catalog()}"


def draft_messages(description: str, *, examples: Sequence[Example] = EXAMPLES) -> list[dict[str, str]]:
    """The chat that asks for a program doing ``description``: the language, examples, the request."""
    messages = [{"role": "system", "content": system_prompt()}]
    for example in examples:
        messages += [
            {"role": "user", "content": example.description},
            {"role": "assistant", "content": example.program},
        ]
    messages.append({"role": "user", "content": description})
    return messages


def repair_message(diagnostics: str) -> dict[str, str]:
    """What the model is told after a program that does not check: the checker's own words."""
    return {
        "role": "user",
        "content": "The checker rejects that program:\n"
        f"{diagnostics}\n"
        "Write the whole program again with these errors fixed.",
    }


def complete_messages(source: str, missing: Sequence[str], *, purpose: str = "") -> list[dict[str, str]]:
    """The chat that asks for the declarations a partial program lacks (the grammar fixes their form);
    ``purpose``: what the program is for, when known (the description it was drafted from)."""
    names = ", ".join(f"`{name}`" for name in missing)
    goal = f"The program must do this: {purpose}\n" if purpose else ""
    return [
        {"role": "system", "content": system_prompt()},
        {
            "role": "user",
            "content": f"{goal}This program uses workers with no declaration or no instruction: {names}.\n\n"
            f"{source}\n"
            "For each of them, write its `use` line: the unit kind that does its job and an instruction"
            " that says what it must do in this program.",
        },
    ]


__all__ = ["EXAMPLES", "LANGUAGE", "Example", "complete_messages", "draft_messages", "repair_message", "unit_catalog"]
