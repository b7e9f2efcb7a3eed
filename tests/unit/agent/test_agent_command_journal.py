"""The agent's durable command journal (issue 17): a cloud command asked again — under a new request id, also after
the agent restarted — is answered from the journal, never run twice; one the agent was killed in the middle of is
answered ``failed`` (interrupted); a ``busy`` answer is not kept (the next request runs it); the file survives a line
cut short by a crash and stays bounded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.agent.command_journal import INTERRUPTED, CommandJournal
from edge.agent.dispatcher import Dispatcher
from shared.errors import ErrorCode
from shared.messages.structs import Response, response_fail, response_ok
from tests.unit.agent.test_agent_dispatcher import Harness


def exec_command(rid: str, command_id: str, line: str) -> dict[str, Any]:
    return {"type": "command", "request_id": rid, "command": "exec", "params": {"cmd": line}, "command_id": command_id}


def with_journal(h: Harness, path: Path) -> CommandJournal:
    journal = CommandJournal(path)
    h.dispatcher = Dispatcher(h.uplink, h.commands.table(), report_state=h._report, journal=journal)  # type: ignore[arg-type]
    return journal


def test_a_command_asked_again_is_answered_from_the_journal_not_run_again(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    h = Harness(tmp_path)
    try:
        with_journal(h, tmp_path / "journal.log")
        h.send(exec_command("r1", "cmd-1", f"echo x >> {runs}"))
        first = h.uplink.wait_response("r1")
        assert first.success
        h.send(exec_command("r2", "cmd-1", f"echo x >> {runs}"))  # the LMS asks again under a new request id
        again = h.uplink.wait_response("r2")
        assert again.success and again.data == first.data
        # a new agent process on the same journal: still not run again
        h2 = Harness(tmp_path)
        try:
            with_journal(h2, tmp_path / "journal.log")
            h2.send(exec_command("r3", "cmd-1", f"echo x >> {runs}"))
            assert h2.uplink.wait_response("r3").data == first.data
        finally:
            h2.pool.close()
    finally:
        h.pool.close()
    assert runs.read_text() == "x\n"


def test_an_answer_sent_again_is_preceded_by_the_commands_running_with_its_start(tmp_path: Path) -> None:
    """The LMS asking again may have lost the first ``running`` (killed after it received it): the agent reports it
    again, with the time the command started (kept in the journal, across the agent's restarts), then the answer."""
    h = Harness(tmp_path)
    try:
        with_journal(h, tmp_path / "journal.log")
        h.send(exec_command("r1", "cmd-1", "true"))
        assert h.uplink.wait_response("r1").success
        first = [e.timestamp for e in h.uplink.events() if e.data.get("request_id") == "r1"]
        h2 = Harness(tmp_path)  # a new agent process on the same journal (rewritten at open)
        try:
            with_journal(h2, tmp_path / "journal.log")
            h2.send(exec_command("r2", "cmd-1", "true"))
            assert h2.uplink.wait_response("r2").success
            assert h2.uplink.sequence("r2") == ["running", "response"]
            again = [e for e in h2.uplink.events() if e.data.get("request_id") == "r2"]
            assert again[0].data == {"request_id": "r2", "status": "running", "command_id": "cmd-1"}
            replayed = [e.timestamp for e in again]
        finally:
            h2.pool.close()
    finally:
        h.pool.close()
    started = CommandJournal(tmp_path / "journal.log").started_at("cmd-1")
    assert started is not None and replayed == [started]  # when it started (as the journal says), not now
    assert started <= first[0]  # the journal records the start just before the command's own first report


def test_a_journal_of_an_older_agent_without_start_times_still_answers(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    path.write_bytes(b'a\tcmd-1\t{"type":"response","request_id":"r1","success":true,"data":1}\ns\tcmd-2\n')
    journal = CommandJournal(path)
    assert journal.begin("cmd-1", "r2") == response_ok("r2", 1) and journal.started_at("cmd-1") is None
    assert journal.interrupted == ["cmd-2"] and journal.started_at("cmd-2") is None


def test_a_command_running_when_the_agent_was_killed_is_answered_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    journal = CommandJournal(path)
    assert journal.begin("cmd-1", "r1") is True
    assert journal.begin("cmd-1", "r2") is False  # still running in this process: ignored
    # (killed here: no answer written; and a last line cut short by the crash)
    with open(path, "ab") as fh:
        fh.write(b"a\tcmd-2\t{\"type\":")
    reopened = CommandJournal(path)
    assert reopened.interrupted == ["cmd-1"]
    answer = reopened.begin("cmd-1", "r3")
    assert isinstance(answer, Response) and answer.request_id == "r3"
    assert not answer.success and answer.error_code is ErrorCode.EXEC_FAILED and answer.error == INTERRUPTED
    assert reopened.begin("cmd-2", "r4") is True  # the cut line is ignored


def test_busy_is_not_kept(tmp_path: Path) -> None:
    journal = CommandJournal(tmp_path / "journal.log")
    assert journal.begin("cmd-1", "r1") is True
    journal.answer("cmd-1", response_fail("r1", ErrorCode.BUSY, "all slots busy", {"slots": 4}))
    assert journal.begin("cmd-1", "r2") is True  # runs this time
    journal.answer("cmd-1", response_ok("r2", 1))
    assert CommandJournal(tmp_path / "journal.log").begin("cmd-1", "r3") == response_ok("r3", 1)


def test_the_journal_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    journal = CommandJournal(path, max_entries=10, max_bytes=2000)
    for i in range(200):
        journal.begin(f"cmd-{i}", f"r{i}")
        journal.answer(f"cmd-{i}", response_ok(f"r{i}", "x" * 20))
    assert path.stat().st_size < 4000
    reopened = CommandJournal(path, max_entries=10)
    assert reopened.begin("cmd-199", "q") == response_ok("q", "x" * 20)
    assert reopened.begin("cmd-0", "q") is True  # long forgotten


def test_busy_answers_tell_the_agents_slots(tmp_path: Path) -> None:
    h = Harness(tmp_path, pool_size=1)
    try:
        h.send(exec_command("r1", "cmd-1", "sleep 1"))
        h.send(exec_command("r2", "cmd-2", "true"))
        busy = h.uplink.wait_response("r2")
        assert busy.error_code is ErrorCode.BUSY and busy.data == {"slots": 1}
    finally:
        h.executor.abort_all(0.2)
        h.pool.close()
