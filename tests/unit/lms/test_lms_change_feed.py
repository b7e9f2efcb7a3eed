"""The change feed: producers on other threads, subscribers on the event loop; filters, resume, loss, shutdown."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from edge.lms.live import ChangeFeed, ChangeKind


async def close(stream: AsyncIterator[bytes]) -> None:
    """Close a page's stream as the server does when the page goes (an async generator: ``aclose``)."""
    assert isinstance(stream, AsyncGenerator)
    await stream.aclose()


async def visit(feed: ChangeFeed) -> None:
    """A page opens and closes: changes are kept for the resume window after it (none are kept before any)."""
    page = feed.subscribe(after=None, kinds=list(ChangeKind))
    await anext(page)
    await close(page)


async def read_until(stream: AsyncIterator[bytes], needle: bytes, timeout: float = 5.0) -> bytes:
    seen = b""
    async with asyncio.timeout(timeout):
        while needle not in seen:
            seen += await anext(stream)
    return seen


def test_a_subscriber_gets_what_producers_on_other_threads_publish_filtered_by_kind_and_agent() -> None:
    async def main() -> bytes:
        feed = ChangeFeed(flush_s=0.01)
        stream = feed.subscribe(after=None, kinds=[ChangeKind.PRESENCE, ChangeKind.COMMAND], agent_id="pc-1")
        assert (await anext(stream)).startswith(b"retry: ")

        def produce() -> None:
            feed.publish(ChangeKind.METRICS, {"sample": {}}, "pc-1")  # another kind
            feed.publish(ChangeKind.PRESENCE, {"agent": {"uuid": "pc-2"}}, "pc-2")  # another agent
            feed.publish(ChangeKind.PRESENCE, {"agent": {"uuid": "pc-1"}}, "pc-1")
            feed.publish(ChangeKind.COMMAND, {"request_id": "r1", "status": "done"}, "pc-1")

        threading.Thread(target=produce).start()
        got = await read_until(stream, b'"request_id":"r1"')
        await close(stream)
        assert feed.subscribers == 0
        return got

    got = asyncio.run(main())
    assert b"event: presence" in got and b'"uuid":"pc-1"' in got and b"event: command" in got
    assert b"pc-2" not in got and b"event: metrics" not in got
    assert got.index(b"event: presence") < got.index(b"event: command")  # in order


def test_a_page_that_reconnects_gets_what_it_missed_or_resync_when_the_ring_lost_it() -> None:
    async def main() -> tuple[bytes, bytes]:
        feed = ChangeFeed(ring_size=5, flush_s=0.01, first_seq=0)
        await visit(feed)
        for i in range(3):
            feed.publish(ChangeKind.EVENT, {"n": i}, "pc-1")
        resumed = feed.subscribe(after=1, kinds=list(ChangeKind))
        await anext(resumed)
        missed = await read_until(resumed, b'"n":2')
        await close(resumed)
        for i in range(3, 10):
            feed.publish(ChangeKind.EVENT, {"n": i}, "pc-1")
        late = feed.subscribe(after=2, kinds=list(ChangeKind))
        await anext(late)
        lost = await read_until(late, b"event: resync")
        await close(late)
        return missed, lost

    missed, lost = asyncio.run(main())
    assert b'"n":1' in missed and b'"n":2' in missed and b'"n":0' not in missed
    assert lost.startswith(b"id: 10\nevent: resync")  # the newest id: the page reloads, then goes on from there


def test_a_new_stream_says_its_position_first_so_a_page_that_saw_no_change_can_resume_from_it() -> None:
    """The console reopens a lost stream with ``after=`` the last id it saw; the ``connected`` message gives one
    even when nothing changed before the stream was lost."""

    async def main() -> tuple[bytes, bytes]:
        feed = ChangeFeed(flush_s=0.01, first_seq=0)
        for i in range(4):
            feed.publish(ChangeKind.EVENT, {"n": i}, "pc-1")
        page = feed.subscribe(after=None, kinds=list(ChangeKind))
        hello = await anext(page)
        await close(page)  # lost before any change
        feed.publish(ChangeKind.CAMERA, {"n": 4}, "pc-1")  # while the page was away
        position = int(hello.split(b"\nid: ")[1].split(b"\n")[0])
        again = feed.subscribe(after=position, kinds=list(ChangeKind))
        await anext(again)
        missed = await read_until(again, b'"n":4')
        await close(again)
        return hello, missed

    hello, missed = asyncio.run(main())
    assert hello.startswith(b"retry: ") and b"\nid: 4\nevent: connected\ndata: {}\n\n" in hello
    assert b"event: camera" in missed and b'"n":3' not in missed


def test_closing_the_feed_ends_every_open_stream() -> None:
    async def main() -> list[bytes]:
        feed = ChangeFeed(flush_s=0.01)
        streams = [feed.subscribe(after=None, kinds=list(ChangeKind)) for _ in range(3)]
        for s in streams:
            await anext(s)

        async def drain(stream: AsyncIterator[bytes]) -> bytes:
            return b"".join([chunk async for chunk in stream])

        tasks = [asyncio.create_task(drain(s)) for s in streams]
        await asyncio.sleep(0.05)
        threading.Thread(target=feed.close).start()  # the LMS's shutdown runs on another thread
        async with asyncio.timeout(5):
            results = await asyncio.gather(*tasks)
        assert feed.subscribers == 0
        return results

    assert asyncio.run(main()) == [b"", b"", b""]


def test_nobody_listening_beyond_the_resume_window_nothing_is_kept_or_made_and_a_late_resume_gets_resync() -> None:
    made: list[int] = []

    def data(n: int) -> Callable[[], dict[str, int]]:
        def make() -> dict[str, int]:
            made.append(n)
            return {"n": n}

        return make

    async def main() -> tuple[bytes, bytes]:
        feed = ChangeFeed(flush_s=0.01, resume_window_s=0.2, first_seq=0)
        assert feed.recording is False  # no page was ever open (a page from the LMS's last run resyncs anyway)
        feed.publish(ChangeKind.METRICS, data(0), "pc-1")  # nobody listens: counted, never made
        await visit(feed)
        feed.publish(ChangeKind.METRICS, data(1), "pc-1")  # within the window after a page closed: kept
        await asyncio.sleep(0.3)
        assert feed.recording is False
        feed.publish(ChangeKind.METRICS, data(2), "pc-1")  # beyond it: counted, never made
        assert feed.published == 3 and feed.last_seq == 3 and made == [1]
        late = feed.subscribe(after=0, kinds=list(ChangeKind))  # a page back from before: what it missed is gone
        await anext(late)
        resync = await read_until(late, b"event: resync")
        feed.publish(ChangeKind.METRICS, data(3), "pc-1")  # a page listens: kept and pushed again
        pushed = await read_until(late, b'"n":3')
        await close(late)
        feed.publish(ChangeKind.METRICS, data(4), "pc-1")  # the page just closed: kept for its reconnection
        back = feed.subscribe(after=4, kinds=list(ChangeKind))
        await anext(back)
        resumed = await read_until(back, b'"n":4')
        await close(back)
        return resync + pushed, resumed

    first, resumed = asyncio.run(main())
    assert first.startswith(b"id: 3\nevent: resync") and b'"n":1' not in first and b'"n":2' not in first
    assert b"id: 4\nevent: metrics" in first
    assert b"id: 5\nevent: metrics" in resumed
    assert made == [1, 3, 4]


def test_a_page_resuming_from_an_earlier_run_of_the_lms_gets_resync_not_silence() -> None:
    """The LMS restarted under an open page: the page reconnects with the last id of the old run. The new run's
    ids are all above it (time-based), so the page is told to reload; it used to wait, silent, until the new run's
    ids passed its own."""

    async def main() -> bytes:
        before = ChangeFeed(flush_s=0.01)
        page = before.subscribe(after=None, kinds=list(ChangeKind))
        await anext(page)
        for i in range(50):
            before.publish(ChangeKind.EVENT, {"n": i}, "pc-1")
        last = before.last_seq
        await close(page)
        restarted = ChangeFeed(flush_s=0.01)
        assert restarted.last_seq > last
        back = restarted.subscribe(after=last, kinds=list(ChangeKind))
        await anext(back)
        got = await read_until(back, b"event: resync")  # the page reloads what it shows
        restarted.publish(ChangeKind.EVENT, {"n": 99}, "pc-1")
        got += await read_until(back, b'"n":99')  # and goes on from there
        await close(back)
        return got

    got = asyncio.run(main())
    assert got.index(b"event: resync") < got.index(b'"n":99')


def test_an_id_the_feed_never_gave_is_lost_not_waited_for() -> None:
    feed = ChangeFeed(first_seq=0)
    assert feed.since(0) == ([], False)
    assert feed.since(5) == ([], True)  # a made-up id, or one of a run whose clock was ahead


def test_the_ring_stays_within_its_bytes_whatever_the_changes() -> None:
    """Metrics frames of a kilobyte from ever new agents: the ring keeps at most its bytes (the count alone let it
    grow to 20 MB), and a page behind what it dropped gets resync."""
    feed = ChangeFeed(ring_bytes=64 * 1024, first_seq=0)
    asyncio.run(visit(feed))
    sample = {"sample": {"cpu_percent": 1.5, "disks": [{"mount": f"/d{i}", "free": 10**9} for i in range(20)]}}
    for n in range(2000):
        feed.publish(ChangeKind.METRICS, sample, f"pc-{n}")
    count, size = feed.held
    assert 0 < size <= 64 * 1024 and count < 2000
    assert feed.since(1) == (feed.since(1)[0], True) and len(feed.since(1)[0]) == count


def test_changes_older_than_the_ring_age_leave_it() -> None:
    feed = ChangeFeed(ring_age_s=0.0, first_seq=0)  # every change older than the newest is too old
    asyncio.run(visit(feed))
    for n in range(100):
        feed.publish(ChangeKind.EVENT, {"n": n}, f"pc-{n}")
    assert feed.held[0] == 1  # the newest stays, so a page is never told it missed what is not there
    changes, lost = feed.since(99)
    assert [c.seq for c in changes] == [100] and lost is False
    assert feed.since(98)[1] is True  # 99 is gone: resync
