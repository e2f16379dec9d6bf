"""One-for-one supervision: the decider's word, restarts capped within a sliding window."""

from __future__ import annotations

import time

from smolcpu.runtime import Directive, Failure, OneForOne


def test_restarts_past_the_cap_escalate_until_the_window_slides() -> None:
    strategy = OneForOne(max_restarts=2, window_s=0.05)
    failure = Failure("llm", RuntimeError("out of tokens"))
    assert [strategy.decide(failure) for _ in range(3)] == [Directive.RESTART, Directive.RESTART, Directive.ESCALATE]
    assert strategy.decide(Failure("other", RuntimeError("x"))) is Directive.RESTART  # counted per unit
    time.sleep(0.06)
    assert strategy.decide(failure) is Directive.RESTART


def test_the_decider_chooses_and_only_restarts_are_capped() -> None:
    def decider(failure: Failure) -> Directive:
        return Directive.STOP if isinstance(failure.error, MemoryError) else Directive.RESUME

    strategy = OneForOne(decider=decider, max_restarts=0)
    assert strategy.decide(Failure("a", ValueError("bad input"))) is Directive.RESUME
    assert strategy.decide(Failure("a", MemoryError())) is Directive.STOP
