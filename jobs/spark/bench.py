"""The Spark job's cost per turn against `selflearn learn` in one process, on one world log.

    jobs/spark/.venv/bin/python jobs/spark/bench.py --selflearn target/release/selflearn \
        --households 600 --days 14 --json spark-bench.json

Generates a world log, ingests it, learns it in one process (`learn --threads`, every core),
exports it to Parquet, runs the job on `local-cluster[W,1,MEM]` (W worker processes of one core
each, started before the clock), and reports both wall times, their ratio and whether the two
artifact sets are equal.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "tests"))

import selflearn_learn  # noqa: E402
from test_equivalence import files_of  # noqa: E402

REPO = HERE.parents[1]


def run(binary: str, *args: str, cwd: Path) -> float:
    started = time.monotonic()
    done = subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"selflearn {' '.join(args)} failed: {done.stderr}")
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--selflearn", required=True)
    parser.add_argument("--households", type=int, default=600)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-memory-mib", type=int, default=2048)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--input", choices=["parquet", "jsonl"], default="parquet",
                        help="the export the job reads")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    binary = str(Path(args.selflearn).resolve())

    with tempfile.TemporaryDirectory(prefix="selflearn-spark-bench-") as tmp:
        work = Path(tmp)
        (work / "world.toml").write_text(
            f"seed = 5\ndays = {args.days}\nhouseholds = {args.households}\n"
        )
        run(binary, "world", "generate", "--data", str(REPO / "data"), "--world", "world.toml",
            "--out", "generated", cwd=work)
        run(binary, "--log-dir", "log", "ingest", "generated/events.jsonl", cwd=work)
        turns = sum(1 for _ in open(work / "generated" / "events.jsonl"))
        # The encoder file is written by the first learn; the timed one reads it, as the job does.
        run(binary, "--log-dir", "log", "learn", "--encoder", "encoder.safetensors",
            "--artifacts", "warm", cwd=work)
        local = run(binary, "--log-dir", "log", "learn", "--encoder", "encoder.safetensors",
                    "--artifacts", "whole", "--set-version", "v1", cwd=work)
        export = f"log.{args.input}"
        run(binary, "--log-dir", "log", "export", "--out", export, cwd=work)

        from pyspark.sql import SparkSession

        spark = (
            SparkSession.builder.master(
                f"local-cluster[{args.workers},1,{args.worker_memory_mib}]"
            )
            .appName("selflearn-spark-bench")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .getOrCreate()
        )
        try:
            # Started and warm (the workers registered) before the clock starts.
            spark.sparkContext.parallelize(range(args.workers * 4), args.workers * 4).count()
            started = time.monotonic()
            selflearn_learn.learn(
                spark,
                str(work / export),
                binary,
                str(work / "spark"),
                partitions=args.partitions,
                encoder=str(work / "encoder.safetensors"),
                set_version="v1",
            )
            on_spark = time.monotonic() - started
        finally:
            spark.stop()
        equal = files_of(work / "whole") == files_of(work / "spark")

    figures = {
        "turns": turns,
        "local_seconds": round(local, 2),
        "spark_seconds": round(on_spark, 2),
        "spark_workers": args.workers,
        "partitions": args.partitions,
        "input": args.input,
        "ratio": round(on_spark / local, 2),
        "spark_turns_per_s": round(turns / on_spark),
        "local_turns_per_s": round(turns / local),
        "equal_sets": equal,
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
