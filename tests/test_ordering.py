"""Updates of one chat run in order; other chats do not wait behind a slow one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.ordering import ChatLanes


async def test_one_lane_keeps_order_and_other_lanes_pass_a_slow_update() -> None:
    lanes = ChatLanes(limit=8)
    log: list[str] = []
    slow_release = asyncio.Event()

    def work(name: str, wait: asyncio.Event | None = None) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            log.append(f"start {name}")
            if wait is not None:
                await wait.wait()
            await asyncio.sleep(0)
            log.append(f"end {name}")

        return run

    tasks = [
        asyncio.create_task(lanes.run(1, work("summary", slow_release))),  # a slow /summary
        asyncio.create_task(lanes.run(1, work("user1-next"))),
        asyncio.create_task(lanes.run(2, work("user2-a"))),
        asyncio.create_task(lanes.run(2, work("user2-b"))),
    ]
    await asyncio.sleep(0.05)
    # User 2's answers were handled while the summary was still running, in their order.
    assert log == ["start summary", "start user2-a", "end user2-a", "start user2-b", "end user2-b"]
    slow_release.set()
    await asyncio.gather(*tasks)
    assert log[-3:] == ["end summary", "start user1-next", "end user1-next"]
    assert lanes.busy_lanes == 0


async def test_the_limit_bounds_updates_handled_at_once() -> None:
    lanes = ChatLanes(limit=3)
    running = peak = 0

    async def work() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    await asyncio.gather(*(lanes.run(lane, work) for lane in range(10)))
    assert peak == 3


async def test_an_error_in_one_update_does_not_block_its_lane() -> None:
    lanes = ChatLanes(limit=2)
    done: list[str] = []

    async def broken() -> None:
        raise RuntimeError("handler bug")

    async def fine() -> None:
        done.append("next")

    first = asyncio.create_task(lanes.run(7, broken))
    second = asyncio.create_task(lanes.run(7, fine))
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert isinstance(results[0], RuntimeError) and done == ["next"]
