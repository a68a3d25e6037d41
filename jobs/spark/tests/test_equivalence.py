"""The same learn in one process and on a Spark cluster of two worker processes on 127.0.0.1
gives the same artifact set, byte for byte (the manifest's creation time aside)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import selflearn_learn  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
BIN = os.environ.get("SELFLEARN_BIN")

pytestmark = pytest.mark.skipif(not BIN, reason="SELFLEARN_BIN names no selflearn binary")


def selflearn(*args: str, cwd: Path) -> str:
    done = subprocess.run([BIN, *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def files_of(artifacts: Path) -> dict[str, bytes]:
    """Every file of a set; the manifest without its creation time."""
    files = {}
    for path in sorted(artifacts.iterdir()):
        data = path.read_bytes()
        if path.name == "manifest.json":
            manifest = json.loads(data)
            manifest.pop("created_at_ms")
            data = json.dumps(manifest, sort_keys=True).encode()
        files[path.name] = data
    return files


@pytest.fixture(scope="module")
def world_log(tmp_path_factory) -> Path:
    """A week of 60 households, ingested, and learned in one process."""
    work = tmp_path_factory.mktemp("world")
    (work / "world.toml").write_text("seed = 5\ndays = 7\nhouseholds = 60\n")
    selflearn(
        "world", "generate", "--data", str(REPO / "data"), "--world", "world.toml",
        "--out", "generated", cwd=work,
    )
    selflearn("--log-dir", "log", "ingest", "generated/events.jsonl", cwd=work)
    selflearn(
        "--log-dir", "log", "learn", "--encoder", "encoder.safetensors",
        "--artifacts", "whole", "--set-version", "v1", cwd=work,
    )
    # Exported in arrival order: sorting by user is the job's.
    selflearn("--log-dir", "log", "export", "--out", "log.parquet", cwd=work)
    return work


def spark_session():
    from pyspark.sql import SparkSession

    # Two worker processes of one core and 1 GiB each: a cluster, not threads of the driver.
    return (
        SparkSession.builder.master("local-cluster[2,1,1024]")
        .appName("selflearn-equivalence")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )


def workers(spark, wait_s: float = 120.0) -> int:
    """Executors registered with the driver, waiting for both to start."""
    import time

    deadline = time.monotonic() + wait_s
    while True:
        # The driver counts itself among the block managers.
        count = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
        if count >= 2 or time.monotonic() > deadline:
            return count
        time.sleep(0.5)


def test_the_spark_job_writes_the_set_one_process_writes(world_log: Path):
    spark = spark_session()
    try:
        assert workers(spark) == 2, "a cluster of two worker processes"
        selflearn_learn.learn(
            spark,
            str(world_log / "log.parquet"),
            BIN,
            str(world_log / "spark"),
            partitions=5,
            encoder=str(world_log / "encoder.safetensors"),
            set_version="v1",
        )
    finally:
        spark.stop()
    whole = files_of(world_log / "whole")
    split = files_of(world_log / "spark")
    assert whole.keys() == split.keys()
    for name in whole:
        assert whole[name] == split[name], f"{name} differs"
    table = json.loads((world_log / "spark" / "rewrite-table.v1.json").read_text())
    assert table["entries"], "the week's log mines rewrites"


def test_a_part_not_grouped_by_user_is_refused_with_selflearns_message(world_log: Path):
    lines = (world_log / "generated" / "events.jsonl").read_text().splitlines()
    users = [json.loads(line)["user_id"] for line in lines]
    assert len(set(users)) > 1
    with pytest.raises(RuntimeError, match="comes back after other users"):
        list(
            selflearn_learn.learn_partition(
                lines, BIN, str(world_log / "encoder.safetensors"), None
            )
        )
