"""The mailbox: system mail first, bounded user mail, closing hands back what was queued."""

from __future__ import annotations

import asyncio

import pytest

from smolcpu.errors import RequestTimeout, UnitStopped
from smolcpu.runtime import Mailbox


async def test_system_mail_jumps_the_queue() -> None:
    mailbox = Mailbox(4)
    assert mailbox.try_put("u1") and mailbox.try_put("u2")
    mailbox.put_system("s1")
    assert [await mailbox.get() for _ in range(3)] == ["s1", "u1", "u2"]


async def test_a_full_mailbox_waits_then_times_out_or_admits() -> None:
    mailbox = Mailbox(1)
    await mailbox.put("a", timeout=1)
    assert not mailbox.try_put("b")
    with pytest.raises(RequestTimeout):
        await mailbox.put("b", timeout=0.02)
    waiting = asyncio.ensure_future(mailbox.put("b", timeout=1))
    await asyncio.sleep(0)
    assert await mailbox.get() == "a"
    await waiting
    assert await mailbox.get() == "b"


async def test_closing_returns_the_queue_and_refuses_more() -> None:
    mailbox = Mailbox(1)
    await mailbox.put("a", timeout=1)
    waiting = asyncio.ensure_future(mailbox.put("b", timeout=1))
    await asyncio.sleep(0)
    mailbox.put_system("s")
    assert mailbox.close() == ["s", "a"]
    with pytest.raises(UnitStopped):
        await waiting
    with pytest.raises(UnitStopped):
        mailbox.try_put("c")
