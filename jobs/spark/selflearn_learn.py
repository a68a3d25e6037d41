"""selflearn's `learn` on Apache Spark: Spark moves the data, selflearn learns.

The job reads a log export (Parquet, as `selflearn export --out log.parquet` writes it, or
JSON Lines), repartitions it by user, sorts each partition by (user, time), and feeds each
partition to the selflearn binary as the map step (`selflearn learn --events - --partial`),
which writes the partition's learner state. The states are merged in a tree reduce on the
executors (`selflearn learn --merge a b --partial`), and the last one is finished on the
driver into the artifact set (`selflearn learn --merge`). No learning logic is in this file:
the artifact set is the one `selflearn learn` writes from the same log in one process.

    python jobs/spark/selflearn_learn.py --events log.parquet --selflearn target/release/selflearn \
        --artifacts artifacts --master 'local-cluster[2,1,1024]'

The binary, the encoder and the configuration file are shipped to the executors with
`SparkContext.addFile`, so the same command runs on a cluster whose workers have none of them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from typing import Iterable, Iterator

# The columns a partition is sorted by, as the event schema names them.
USER = "user_id"
TIME = "timestamp_ms"


def run_selflearn(binary: str, args: list[str], stdin: bytes | None = None) -> None:
    """Runs the selflearn binary; its own error message is what a failure says."""
    done = subprocess.run([binary, *args], input=stdin, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"selflearn {' '.join(args)} exited {done.returncode}: "
            f"{done.stderr.decode(errors='replace').strip()}"
        )


def shipped(name: str | None) -> str | None:
    """The executor's copy of a file shipped with addFile."""
    if name is None:
        return None
    from pyspark import SparkFiles

    return SparkFiles.get(os.path.basename(name))


def common_args(encoder: str | None, config: str | None) -> list[str]:
    args = []
    if config:
        args = ["--config", config]
    if encoder:
        args += ["learn", "--encoder", encoder]
    else:
        args += ["learn"]
    return args


def learn_partition(
    lines: Iterable[str], binary: str, encoder: str | None, config: str | None
) -> Iterator[bytes]:
    """The map step: one partition's events (JSON lines, grouped by user) into the bytes of
    its partial learner file; nothing for an empty partition."""
    body = "".join(line + "\n" for line in lines).encode()
    if not body:
        return
    with tempfile.TemporaryDirectory(prefix="selflearn-part-") as work:
        out = os.path.join(work, "part.cbor")
        run_selflearn(
            binary,
            common_args(encoder, config) + ["--events", "-", "--partial", out],
            stdin=body,
        )
        with open(out, "rb") as f:
            yield f.read()


def merge_two(
    a: bytes, b: bytes, binary: str, encoder: str | None, config: str | None
) -> bytes:
    """The reduce step: two partial learner files into one."""
    with tempfile.TemporaryDirectory(prefix="selflearn-merge-") as work:
        paths = []
        for name, data in (("a.cbor", a), ("b.cbor", b)):
            path = os.path.join(work, name)
            with open(path, "wb") as f:
                f.write(data)
            paths.append(path)
        out = os.path.join(work, "merged.cbor")
        run_selflearn(
            binary,
            common_args(encoder, config) + ["--merge", *paths, "--partial", out],
        )
        with open(out, "rb") as f:
            return f.read()


def event_lines(spark, events: str, partitions: int):
    """The export's events as JSON lines, partitioned by user and sorted by (user, time)
    within each partition."""
    from pyspark.sql import functions as F

    if events.endswith(".parquet") or os.path.isdir(events):
        frame = spark.read.parquet(events)
        frame = frame.repartition(partitions, USER).sortWithinPartitions(USER, TIME)
        # Each row back to the event's JSON in the JVM: `to_json` leaves null fields out, as
        # selflearn writes absent optional fields (its defaults apply).
        lines = frame.select(F.to_json(F.struct(*frame.columns)).alias("value"))
        return lines.rdd.map(lambda row: row.value)
    frame = spark.read.text(events)
    frame = (
        frame.withColumn(USER, F.get_json_object("value", f"$.{USER}"))
        .withColumn(TIME, F.get_json_object("value", f"$.{TIME}").cast("long"))
        .repartition(partitions, USER)
        .sortWithinPartitions(USER, TIME)
    )
    return frame.rdd.map(lambda row: row.value)


def learn(
    spark,
    events: str,
    binary: str,
    artifacts: str,
    partitions: int,
    encoder: str | None = None,
    config: str | None = None,
    set_version: str | None = None,
    depth: int = 2,
) -> None:
    """Runs the job on `spark`; the artifact set is written to `artifacts` on the driver."""
    sc = spark.sparkContext
    # The map and reduce functions are this module's: the executors import it too.
    sc.addPyFile(os.path.abspath(__file__))
    binary = os.path.abspath(binary)
    for path in (binary, encoder, config):
        if path is not None:
            sc.addFile(os.path.abspath(path))
    name = os.path.basename(binary)
    enc = os.path.basename(encoder) if encoder else None
    cfg = os.path.basename(config) if config else None

    def part(lines):
        return learn_partition(lines, shipped(name), shipped(enc), shipped(cfg))

    def merge(a, b):
        return merge_two(a, b, shipped(name), shipped(enc), shipped(cfg))

    partials = event_lines(spark, events, partitions).mapPartitions(part)
    merged = partials.treeReduce(merge, depth=depth)
    with tempfile.TemporaryDirectory(prefix="selflearn-finish-") as work:
        path = os.path.join(work, "merged.cbor")
        with open(path, "wb") as f:
            f.write(merged)
        args = common_args(
            os.path.abspath(encoder) if encoder else None,
            os.path.abspath(config) if config else None,
        ) + ["--merge", path, "--artifacts", artifacts]
        if set_version:
            args += ["--set-version", set_version]
        run_selflearn(binary, args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", required=True, help="Parquet or JSON Lines export of the log")
    parser.add_argument("--selflearn", required=True, help="the selflearn binary")
    parser.add_argument("--artifacts", required=True, help="the artifact set's directory")
    parser.add_argument("--encoder", help="encoder file, as `selflearn learn --encoder`")
    parser.add_argument("--config", help="selflearn configuration file")
    parser.add_argument("--partitions", type=int, default=8, help="partitions by user")
    parser.add_argument("--depth", type=int, default=2, help="depth of the tree reduce")
    parser.add_argument("--set-version", help="the artifact set's version")
    parser.add_argument("--master", help="Spark master (default: spark-submit's)")
    args = parser.parse_args(argv)

    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("selflearn-learn")
    if args.master:
        builder = builder.master(args.master)
    spark = builder.getOrCreate()
    try:
        learn(
            spark,
            args.events,
            args.selflearn,
            args.artifacts,
            args.partitions,
            encoder=args.encoder,
            config=args.config,
            set_version=args.set_version,
            depth=args.depth,
        )
    finally:
        spark.stop()
    print(f"artifact set {args.artifacts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
