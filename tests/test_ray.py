"""Ray Data: ``realign.reformat(ray_dataset)`` and ``realign reformat --engine ray`` on a local Ray.

These start a local Ray (``ray.init(num_cpus=2)``) and run against the stand-in server. They skip
when ray is not installed, except in CI (``CI`` set), which installs the extra and must run them.
"""

from __future__ import annotations

import collections
import json
import os
import pickle
import tracemalloc
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import realign
from conftest import is_verify, narrow_parquet, read_jsonl, realign_row, write_jsonl
from realign import OpenAIChat, SQLiteCache
from realign._cli.main import main
from stub_server import Reply, StubServer, chat_reply, rewrite_handler

if os.environ.get("CI"):
    import ray  # CI installs realign[ray]: a missing ray is a failure there, not a skip
else:
    ray = pytest.importorskip("ray")

pytestmark = [
    pytest.mark.xdist_group("ray"),  # one local Ray per test worker, shared by these tests
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # Ray's own, about its own settings
]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=100 * 1024 * 1024)
    yield
    ray.shutdown()


def rows(count: int) -> list[dict[str, Any]]:
    return [
        realign_row(f"How do I do thing {i}?", f"Do step one, then step two ({i}).", "open_qa", id=i)
        for i in range(count)
    ]


def test_a_ray_dataset_comes_back_a_ray_dataset_with_the_results(local_ray: None, server: StubServer) -> None:
    dataset = ray.data.from_items(rows(12))
    out = realign.reformat(dataset, model="m", base_url=server.base_url, actors=2, concurrency=4)
    assert isinstance(out, ray.data.Dataset)
    written = sorted(out.take_all(), key=lambda row: row["id"])
    assert [json.loads(row["realign"])["tag"] for row in written] == ["rewrite"] * 12
    assert written[3]["items"][1]["value"].startswith("**Answer**")


def test_cli_engine_ray_writes_every_row_in_order(local_ray: None, server: StubServer, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(20))
    out = tmp_path / "out.jsonl"
    code = main(ray_command(source, out, server, "--concurrency", "4"))
    written = read_jsonl(out)
    assert code == 0
    assert [row["id"] for row in written] == list(range(20))
    assert sum(row["realign"]["tag"] == "rewrite" for row in written) == 20


def test_cli_engine_ray_refuses_a_bad_row_before_any_call_as_a_local_run_does(
    local_ray: None, server: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = rows(20)
    data[7] = {"id": 7, "neither": "a known shape"}
    stops_before_any_call(data, "line 8: row of unknown shape", server, tmp_path, capsys)


def stops_before_any_call(
    data: list[dict[str, Any]], error: str, server: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Ray file job over ``data`` exits 2 naming the bad row (``error``, after the file's name), writes no
    output and sends no request."""
    source = write_jsonl(tmp_path / "in.jsonl", data)
    out = tmp_path / "out.jsonl"
    code = main(ray_command(source, out, server))
    assert code == 2
    assert f"{source} {error}" in capsys.readouterr().err
    assert not out.exists()
    assert server.chat_requests() == []


def test_cli_engine_ray_checks_the_input_before_starting_ray(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[str | None] = []
    monkeypatch.setattr("realign._jobs.distributed.start_ray", started.append)
    source = write_jsonl(tmp_path / "in.jsonl", [*rows(2), {"id": 2, "neither": "a known shape"}])
    argv = ["reformat", str(source), "-o", str(tmp_path / "out.jsonl"), "--engine", "ray", "--no-cache", "-q"]
    code = main([*argv, "--base-url", "http://127.0.0.1:9/v1", "--model", "m"])
    assert code == 2
    assert started == []


def test_cli_engine_ray_exits_3_when_rows_end_with_llm_error(local_ray: None, tmp_path: Path) -> None:
    def flaky(path: str, body: dict[str, Any]) -> Reply:
        if "thing 3?" in json.dumps(body):
            return 400, {}, {"error": {"message": "this one request is refused", "type": "invalid_request_error"}}
        return rewrite_handler(path, body)

    source = write_jsonl(tmp_path / "in.jsonl", rows(6))
    out = tmp_path / "out.jsonl"
    with StubServer(flaky) as server:
        code = main(ray_command(source, out, server, "--max-retries", "0"))
    written = read_jsonl(out)
    assert code == 3
    assert written[3]["realign"]["reason"].startswith("llm_error")


def test_cli_engine_ray_summary_counts_every_call_the_server_received(
    local_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def reask_once(path: str, body: dict[str, Any]) -> Reply:
        if "thing 1?" in json.dumps(body) and len(body["messages"]) == 2:  # the first ask, not the re-ask
            return 200, {}, chat_reply("Sure, here is a better answer.")
        return rewrite_handler(path, body)

    source = write_jsonl(tmp_path / "in.jsonl", rows(3))
    with StubServer(reask_once) as server:
        code = main([arg for arg in ray_command(source, tmp_path / "out.jsonl", server) if arg != "-q"])
        received = len(server.chat_requests())
    assert code == 0
    assert received == 4
    assert "LLM calls: 4" in capsys.readouterr().err


def test_cli_engine_ray_actors_take_the_timeout_and_retries(local_ray: None, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(2))
    out = tmp_path / "out.jsonl"
    with StubServer(latency=3.0) as server:
        code = main(ray_command(source, out, server, "--timeout", "0.5", "--max-retries", "0"))
    written = read_jsonl(out)
    assert code == 3
    assert {row["realign"]["reason"] for row in written} == {"llm_error:timeout"}


def test_cli_engine_ray_verify_asks_the_judge_and_a_no_keeps_the_original(local_ray: None, tmp_path: Path) -> None:
    def judge(path: str, body: dict[str, Any]) -> Reply:
        if is_verify(body):
            verdict = "no" if "thing 2?" in json.dumps(body) else "yes"
            return 200, {}, chat_reply(f"VERDICT: {verdict}\nREASON: compared.")
        return rewrite_handler(path, body)

    source = write_jsonl(tmp_path / "in.jsonl", rows(4))
    out = tmp_path / "out.jsonl"
    with StubServer(judge) as server:
        code = main([*ray_command(source, out, server), "--verify"])
        judged = [b for b in server.chat_requests() if is_verify(b)]
    written = read_jsonl(out)
    assert code == 0
    assert len(judged) == 4
    assert [row["realign"]["reason"] or "rewritten" for row in written] == [
        "rewritten",
        "rewritten",
        "filter:verify",
        "rewritten",
    ]


def test_a_ray_dataset_can_be_verified_by_another_model(local_ray: None, tmp_path: Path) -> None:
    def judge(path: str, body: dict[str, Any]) -> Reply:
        if body["model"] == "judge":
            return 200, {}, chat_reply("VERDICT: no\nREASON: a name changed.")
        return rewrite_handler(path, body)

    with StubServer(judge) as server:
        # No cache: Ray's workers keep the REALIGN_CACHE of the test that started them, where an earlier test's
        # server on a reused port may have left these rows' rewrites.
        out = realign.reformat(
            ray.data.from_items(rows(3)), model="m", base_url=server.base_url, verify="judge", cache=False
        )
        written = out.take_all()
        models = sorted({body["model"] for body in server.chat_requests()})
    assert models == ["judge", "m"]
    assert {json.loads(row["realign"])["reason"] for row in written} == {"filter:verify"}


def referring(path: str, body: dict[str, Any]) -> Reply:
    """A server whose rewrite spells out 212 (refused by numbers) and whose judge overrules that."""
    if is_verify(body):
        return 200, {}, chat_reply("VERDICT: yes\nREASON: the same temperature in words.")
    return 200, {}, chat_reply("Reasoning: r.\nRevised response:\nWater boils at two hundred and twelve °F.")


def test_cli_engine_ray_refer_records_the_overruled_check(local_ray: None, tmp_path: Path) -> None:
    row = realign_row("At what temperature does water boil?", "Water boils at 212 °F.", "open_qa", id=0)
    source = write_jsonl(tmp_path / "in.jsonl", [row])
    out = tmp_path / "out.jsonl"
    with StubServer(referring) as server:
        code = main([*ray_command(source, out, server), "--verify", "--refer"])
    assert code == 0
    assert [o["check"] for o in read_jsonl(out)[0]["realign"]["overruled"]] == ["numbers"]


def test_cli_engine_ray_summary_counts_referrals(
    local_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row = realign_row("At what temperature does water boil?", "Water boils at 212 °F.", "open_qa", id=0)
    source = write_jsonl(tmp_path / "in.jsonl", [row])
    with StubServer(referring) as server:
        argv = ray_command(source, tmp_path / "out.jsonl", server, "--verify", "--refer")
        main([arg for arg in argv if arg != "-q"])
    assert "verify: 1 candidates judged, 0 refused (filter:verify), 1 referred, 1 overruled;" in capsys.readouterr().err


def test_a_ray_dataset_can_refer_to_its_judge(local_ray: None) -> None:
    def referring(path: str, body: dict[str, Any]) -> Reply:
        if is_verify(body):
            return 200, {}, chat_reply("VERDICT: no\nREASON: the temperature changed.")
        return 200, {}, chat_reply("Reasoning: r.\nRevised response:\nWater boils at two hundred and twelve °F.")

    row = realign_row("At what temperature does water boil?", "Water boils at 212 °F.", "open_qa", id=0)
    with StubServer(referring) as server:
        out = realign.reformat(
            ray.data.from_items([row]),
            model="m",
            base_url=server.base_url,
            verify=True,
            refer=True,
            actors=1,
            cache=False,
        )
        written = json.loads(out.take_all()[0]["realign"])
    assert (written["reason"], written["rejected"][0]["detail"]) == (
        "filter:numbers",
        "missing: 212; judge: the temperature changed.",
    )


def ray_command(source: Path, out: Path, server: StubServer, *extra: str) -> list[str]:
    argv = ["reformat", str(source), "-o", str(out), "--engine", "ray", "--ray-actors", "1", "--no-cache", "-q"]
    return [*argv, "--base-url", server.base_url, "--model", "m", *extra]


def test_cli_engine_ray_parquet_shards_then_a_rerun_pays_nothing(
    local_ray: None, server: StubServer, tmp_path: Path
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(16))
    cache = str(tmp_path / "cache.sqlite")
    common = ["reformat", str(source), "--engine", "ray", "--ray-actors", "1", "--cache", cache, "-q"]
    common += ["--base-url", server.base_url]
    assert main([*common, "-o", str(tmp_path / "shards"), "--model", "m"]) == 0
    paid = len(server.chat_requests())
    assert main([*common, "-o", str(tmp_path / "again.jsonl"), "--model", "m"]) == 0
    shards = ray.data.read_parquet(str(tmp_path / "shards")).take_all()
    assert paid == 16
    assert len(server.chat_requests()) == paid
    assert sorted(row["id"] for row in shards) == list(range(16))


def test_the_chat_client_travels_without_its_key() -> None:
    llm = OpenAIChat("m", base_url=["http://a/v1", "http://b/v1"], api_key="sk-secret")
    blob = pickle.dumps(llm)
    assert b"sk-secret" not in blob
    assert pickle.loads(blob).base_urls == ["http://a/v1", "http://b/v1"]


def test_the_cache_travels_as_its_path(tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "c.sqlite")
    assert pickle.loads(pickle.dumps(cache)).path == tmp_path / "c.sqlite"


def test_cli_engine_ray_a_failing_endpoint_stops_the_job_with_one_line_as_a_local_run_does(
    local_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(path: str, body: dict[str, Any]) -> Reply:
        return 500, {}, {"error": {"message": "boom"}}

    source = write_jsonl(tmp_path / "in.jsonl", rows(40))
    out = tmp_path / "out.jsonl"
    with StubServer(broken) as server:
        code = main(ray_command(source, out, server, "--max-retries", "0", "--concurrency", "4"))
    err = capsys.readouterr().err
    assert code == 1
    assert "error: " + server.base_url + " is failing on nearly every request" in err
    assert "Traceback" not in err
    assert not out.exists()


def test_cli_engine_ray_a_burst_of_429_without_retries_leaves_those_rows_undecided_exit_3(
    local_ray: None, tmp_path: Path
) -> None:
    seen: list[int] = []

    def burst(path: str, body: dict[str, Any]) -> Reply:
        seen.append(1)
        if len(seen) <= 4:
            return 429, {"retry-after-ms": "50"}, {"error": {"message": "slow down", "type": "rate_limit_error"}}
        return rewrite_handler(path, body)

    source = write_jsonl(tmp_path / "in.jsonl", rows(12))
    out = tmp_path / "out.jsonl"
    with StubServer(burst) as server:
        code = main(ray_command(source, out, server, "--max-retries", "0", "--concurrency", "4"))
    written = read_jsonl(out)
    assert code == 3
    assert sum(row["realign"]["reason"] == "llm_error:rate_limit" for row in written) == 4


def test_cli_engine_ray_summary_has_the_verify_line_of_a_local_run(
    local_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def judge(path: str, body: dict[str, Any]) -> Reply:
        if is_verify(body):
            verdict = "no" if "thing 2?" in json.dumps(body) or "thing 5?" in json.dumps(body) else "yes"
            return 200, {}, chat_reply(f"VERDICT: {verdict}\nREASON: compared.")
        return rewrite_handler(path, body)

    source = write_jsonl(tmp_path / "in.jsonl", rows(24))
    with StubServer(judge) as server:
        argv = ray_command(
            source, tmp_path / "out.jsonl", server, "--verify", "--ray-actors", "2", "--concurrency", "4"
        )
        code = main([arg for arg in argv if arg != "-q"])
    err = capsys.readouterr().err
    assert code == 0
    assert "verify: 24 candidates judged, 2 refused (filter:verify); 24 calls, 2400 tokens in, 960 out" in err


def test_cli_engine_ray_quiet_silences_ray_data_lines_too(
    local_ray: None, server: StubServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", rows(4))
    code = main(ray_command(source, tmp_path / "out.jsonl", server))  # ray_command asks for -q
    err = capfd.readouterr().err
    assert code == 0
    assert "Dataset" not in err  # Ray Data's plan and progress lines ("Running Dataset: ...")


def test_the_actor_pool_is_asked_for_without_rays_deprecated_remote_args(local_ray: None, server: StubServer) -> None:
    dataset = ray.data.from_items(rows(2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        realign.reformat(dataset, model="m", base_url=server.base_url, actors=1, concurrency=4)  # lazy: no call yet
    assert [str(w.message) for w in caught if "ray_remote_args" in str(w.message)] == []


def test_a_ray_dataset_with_a_custom_llm_and_a_judge_model_gets_advice_that_works_on_ray(local_ray: None) -> None:
    dataset = ray.data.from_items(rows(1))
    with pytest.raises(realign.UsageError) as refused:
        realign.reformat(dataset, llm=realign.FakeLLM([realign.FakeLLM.DEFAULT_REPLY]), verify="judge-model")
    assert "verifier=" not in str(refused.value)  # a Ray Dataset refuses verifier=
    assert "verify=True" in str(refused.value)


@pytest.mark.parametrize("out_name", ["out.parquet", "shards"])
def test_cli_engine_ray_parquet_output_keeps_the_input_schema_as_a_local_run_does(
    local_ray: None, server: StubServer, tmp_path: Path, out_name: str
) -> None:
    # Rows used to pass through JSON on their way to the actors: a timestamp column stopped the job with a
    # traceback, and int32/float32 came back int64/double, the schema's metadata lost.
    import pyarrow.parquet as pq

    table = narrow_parquet(tmp_path / "in.parquet", rows=6)
    out = tmp_path / out_name
    assert main(ray_command(tmp_path / "in.parquet", out, server, "--concurrency", "4")) == 0
    written = pq.read_table(out)
    assert written.schema.names == [*table.schema.names, "realign"]
    for column in table.schema.names:
        assert written.schema.field(column).type == table.schema.field(column).type
    assert (written.schema.metadata or {}).get(b"origin") == b"my-pipeline"
    assert sorted(written.column("when").to_pylist()) == table.column("when").to_pylist()


def test_cli_engine_ray_refuses_a_value_no_parquet_column_holds_before_any_call(
    local_ray: None, server: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = rows(3)
    records[2]["id"] = "two"
    source = write_jsonl(tmp_path / "in.jsonl", records)
    code = main(ray_command(source, tmp_path / "out.parquet", server))
    assert code == 2
    assert f"{source} line 3: field 'id' is a string here and an integer in other rows" in capsys.readouterr().err
    assert server.chat_requests() == []


def test_cli_engine_ray_writes_every_row_when_the_blocks_divide_the_file_evenly(
    local_ray: None, server: StubServer, tmp_path: Path
) -> None:
    # --concurrency 4: blocks of 8 rows, so 16 rows fill two blocks and leave no partial one.
    source = write_jsonl(tmp_path / "in.jsonl", rows(16))
    out = tmp_path / "out.jsonl"
    code = main(ray_command(source, out, server, "--concurrency", "4"))
    assert code == 0
    assert [row["id"] for row in read_jsonl(out)] == list(range(16))


def test_cli_engine_ray_driver_holds_a_block_of_the_file_not_the_file(local_ray: None, tmp_path: Path) -> None:
    # 400 rows of 16 KB (6.5 MB) in blocks of 8 rows: the driver's own allocations stay far below the file,
    # which it used to hold whole (read, then pickled) before handing it to Ray.
    data = [realign_row(f"Question {i}?", f"Answer {i}. " + "word " * 3200, "open_qa", id=i) for i in range(400)]
    source = write_jsonl(tmp_path / "in.jsonl", data)
    out = tmp_path / "out.jsonl"
    with StubServer() as server:
        # This server runs in the test's process: it must not keep the requests it is sent, which tracemalloc
        # would count against the driver.
        server.requests = collections.deque(maxlen=0)  # type: ignore[assignment]
        # A first small job pays for what any job builds once (imports, the classifier's table).
        assert main(ray_command(write_jsonl(tmp_path / "small.jsonl", rows(2)), out, server)) == 0
        tracemalloc.start()
        try:
            code = main(ray_command(source, out, server, "--concurrency", "4"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert code == 0
    assert peak < source.stat().st_size / 2


def test_a_misspelled_option_is_a_usage_error_before_any_actor_starts(local_ray: None) -> None:
    # It used to kill every actor at start: an ActorDiedError under pages of Ray's tracebacks.
    dataset = ray.data.from_items(rows(1))
    with pytest.raises(realign.UsageError, match="unexpected keyword argument 'temprature'"):
        realign.reformat(dataset, model="m", base_url="http://127.0.0.1:9/v1", temprature=0.1, actors=1)


def per_row_template_error(tmp_path: Path) -> tuple[Path, Path]:
    """Six rows and criteria whose template fails for the fourth row only (its sample renders pass)."""
    criteria = tmp_path / "criteria"
    criteria.mkdir()
    (criteria / "open_qa.j2").write_text('{% if "thing 3?" in question %}{{ no_such_name }}{% endif %}- Be clear.\n')
    return write_jsonl(tmp_path / "in.jsonl", rows(6)), criteria


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_a_template_that_fails_for_one_row_stops_the_run_with_exit_2_on_both_engines(
    local_ray: None, server: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    # The criteria are the user's to fix: one line naming the template, exit 2 and no output, as a local run
    # stops. On Ray that row used to be written with error:TemplateError and the run exited 3.
    source, criteria = per_row_template_error(tmp_path)
    out = tmp_path / "out.jsonl"
    command = ray_command(source, out, server, "--criteria", str(criteria))
    if engine == "local":
        command = [*command[:4], *command[8:]]  # without --engine ray --ray-actors 1
    code = main(command)
    err = capsys.readouterr().err
    assert code == 2
    assert f"error: {criteria / 'open_qa.j2'}: 'no_such_name' is undefined" in err.splitlines()
    assert not out.exists()
    assert list(tmp_path.glob("out.jsonl*")) == []  # no temporary file either


def test_cli_engine_ray_summary_counts_the_attempts_as_a_local_run_does(
    local_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failed: list[str] = []

    def fail_once(path: str, body: dict[str, Any]) -> Reply:
        if "thing 1?" in json.dumps(body) and not failed:  # one retry: two requests for one answered call
            failed.append(path)
            return 500, {"retry-after-ms": "10"}, {"error": {"message": "try again", "type": "server_error"}}
        return rewrite_handler(path, body)

    source = write_jsonl(tmp_path / "in.jsonl", rows(3))
    with StubServer(fail_once) as server:
        argv = ray_command(source, tmp_path / "out.jsonl", server)
        code = main([arg for arg in argv if arg != "-q"])
        received = len(server.chat_requests())
    assert code == 0
    assert received == 4
    assert "LLM calls: 3 (4 attempts)" in capsys.readouterr().err


def test_cli_engine_ray_refuses_a_malformed_realign_object_before_any_call_as_a_local_run_does(
    local_ray: None, server: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It used to reach an actor, be written as invalid_row, and the job exit 0.
    data = rows(4)
    data[2]["realign"] = {"tag": 5}
    stops_before_any_call(data, "line 3: invalid 'realign' metadata", server, tmp_path, capsys)
