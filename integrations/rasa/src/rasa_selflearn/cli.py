"""``rasa-selflearn``: consume broker events, run the rewrite proxy, or consume RabbitMQ.

Every option has an environment variable (shown in ``--help``); a flag wins over the
environment, the environment over the default. Keep the token out of ``ps``: prefer
``RASA_SELFLEARN_TOKEN`` or ``--token-file`` to ``--token``.

Exit codes of ``consume``, as selflearn's own: 0 everything delivered, 1 input problems
(unreadable lines, records selflearn refused), 2 events could not be delivered.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sqlite3
import sys
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from . import __version__
from .client import SelflearnClient
from .sender import EventSender, SendReport
from .sources import ReadStats, read_jsonl, read_sqlite
from .turns import (
    DEFAULT_NOT_UNDERSTOOD_ACTIONS,
    DEFAULT_NOT_UNDERSTOOD_INTENTS,
    DEVICE_KINDS,
    MappingOptions,
    TurnAssembler,
)

logger = logging.getLogger("rasa_selflearn")

ENV_PREFIX = "RASA_SELFLEARN_"


def _env(name: str, default: Any = None) -> Any:
    return os.environ.get(ENV_PREFIX + name, default)


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"{ENV_PREFIX}{name} must be true or false, got {value!r}")


def _env_number(name: str, default: float, cast: Callable[[str], Any] = float) -> Any:
    value = _env(name)
    if value is None:
        return default
    try:
        return cast(value)
    except ValueError:
        raise SystemExit(f"{ENV_PREFIX}{name} must be a number, got {value!r}") from None


def _positive(cast: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = cast(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _add_selflearn(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("selflearn")
    group.add_argument(
        "--selflearn-url",
        default=_env("URL", "http://127.0.0.1:8080"),
        help="selflearn's base URL [env RASA_SELFLEARN_URL; default %(default)s]",
    )
    group.add_argument(
        "--token",
        default=_env("TOKEN"),
        help="bearer token from `selflearn token --role ingest,rewrite` [env RASA_SELFLEARN_TOKEN]",
    )
    group.add_argument(
        "--token-file",
        default=_env("TOKEN_FILE"),
        help="file holding the token [env RASA_SELFLEARN_TOKEN_FILE]",
    )


def _add_device(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("device (Rasa has none; used when metadata names none)")
    group.add_argument(
        "--device-id",
        default=_env("DEVICE_ID"),
        help="device id [env RASA_SELFLEARN_DEVICE_ID; default rasa-<input_channel>]",
    )
    group.add_argument(
        "--device-kind",
        default=_env("DEVICE_KIND", "other"),
        choices=sorted(DEVICE_KINDS),
        help="device kind [env RASA_SELFLEARN_DEVICE_KIND; default %(default)s]",
    )
    screen = group.add_mutually_exclusive_group()
    screen.add_argument(
        "--has-screen",
        dest="has_screen",
        action="store_true",
        help="answers are shown (the default) [env RASA_SELFLEARN_HAS_SCREEN=true]",
    )
    screen.add_argument(
        "--no-screen",
        dest="has_screen",
        action="store_false",
        help="answers are only spoken [env RASA_SELFLEARN_HAS_SCREEN=false]",
    )
    parser.set_defaults(has_screen=_env_bool("HAS_SCREEN", True))


def _add_mapping(parser: argparse.ArgumentParser) -> None:
    _add_device(parser)
    group = parser.add_argument_group("mapping")
    group.add_argument(
        "--not-understood-intent",
        action="append",
        default=[],
        metavar="INTENT",
        help="an intent of yours meaning 'not understood' (repeatable; "
        f"always: {', '.join(sorted(DEFAULT_NOT_UNDERSTOOD_INTENTS))})",
    )
    group.add_argument(
        "--not-understood-action",
        action="append",
        default=[],
        metavar="ACTION",
        help="an action of yours meaning 'not understood', e.g. utter_please_rephrase "
        f"(repeatable; always: {', '.join(sorted(DEFAULT_NOT_UNDERSTOOD_ACTIONS))})",
    )
    group.add_argument(
        "--id-namespace",
        default=_env("ID_NAMESPACE", "rasa"),
        help="mixed into event ids; give each Rasa installation its own "
        "[env RASA_SELFLEARN_ID_NAMESPACE; default %(default)s]",
    )


def _add_sending(parser: argparse.ArgumentParser, *, batch: int, attempts: int) -> None:
    group = parser.add_argument_group("sending")
    group.add_argument(
        "--batch-size",
        type=_positive(int),
        default=_env_number("BATCH_SIZE", batch, int),
        help="events per POST /v1/events [env RASA_SELFLEARN_BATCH_SIZE; default %(default)s]",
    )
    group.add_argument(
        "--events-timeout",
        type=_positive(float),
        default=_env_number("EVENTS_TIMEOUT", 10.0),
        help="seconds per POST /v1/events [env RASA_SELFLEARN_EVENTS_TIMEOUT; default %(default)s]",
    )
    group.add_argument(
        "--attempts",
        type=_positive(int),
        default=_env_number("ATTEMPTS", attempts, int),
        help="tries per batch before giving up on it "
        "[env RASA_SELFLEARN_ATTEMPTS; default %(default)s]",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rasa-selflearn",
        description="Connects a Rasa assistant to selflearn.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True)

    consume = sub.add_parser(
        "consume",
        help="read broker events (JSON lines or a SQLite events table), post turn events",
        description="Reads Rasa broker events, one JSON object a line (or rows of an events "
        "table with sender_id and data), and posts the turn events to selflearn.",
    )
    consume.add_argument(
        "files", nargs="*", default=[], help="JSONL files; '-' or none reads stdin"
    )
    consume.add_argument(
        "--sqlite",
        metavar="DB",
        help="read the events table of a SQLite tracker store or SQL broker",
    )
    consume.add_argument(
        "--table", default="events", help="table for --sqlite (default %(default)s)"
    )
    consume.add_argument(
        "--dry-run",
        action="store_true",
        help="print the turn events as JSON lines instead of posting them",
    )
    _add_selflearn(consume)
    _add_mapping(consume)
    _add_sending(consume, batch=500, attempts=4)

    proxy = sub.add_parser(
        "proxy",
        help="HTTP proxy in front of Rasa that asks selflearn to rewrite requests before NLU",
    )
    proxy.add_argument(
        "--listen",
        default=_env("LISTEN", "127.0.0.1:5006"),
        help="host:port to listen on [env RASA_SELFLEARN_LISTEN; default %(default)s]",
    )
    proxy.add_argument(
        "--rasa-url",
        default=_env("RASA_URL", "http://127.0.0.1:5005"),
        help="Rasa server [env RASA_SELFLEARN_RASA_URL; default %(default)s]",
    )
    proxy.add_argument(
        "--rewrite-timeout",
        type=_positive(float),
        default=_env_number("REWRITE_TIMEOUT", 1.0),
        help="seconds to wait for a rewrite "
        "[env RASA_SELFLEARN_REWRITE_TIMEOUT; default %(default)s]",
    )
    proxy.add_argument(
        "--cooldown",
        type=float,
        default=_env_number("COOLDOWN", 10.0),
        help="seconds not to ask selflearn after it failed "
        "[env RASA_SELFLEARN_COOLDOWN; default %(default)s]",
    )
    proxy.add_argument(
        "--rasa-timeout",
        type=_positive(float),
        default=_env_number("RASA_TIMEOUT", 30.0),
        help="seconds to wait for Rasa [env RASA_SELFLEARN_RASA_TIMEOUT; default %(default)s]",
    )
    proxy.add_argument(
        "--max-rewrite-bytes",
        type=_positive(int),
        default=_env_number("MAX_REWRITE_BYTES", 1024, int),
        help="longer texts are not sent for rewriting (selflearn's max_rewrite_text_bytes) "
        "[env RASA_SELFLEARN_MAX_REWRITE_BYTES; default %(default)s]",
    )
    _add_selflearn(proxy)
    _add_device(proxy)

    rabbit = sub.add_parser(
        "rabbitmq",
        help="consume Rasa's Pika event broker from RabbitMQ (needs pika)",
    )
    rabbit.add_argument(
        "--amqp-url",
        default=_env("AMQP_URL", "amqp://guest:guest@localhost:5672/%2F"),
        help="RabbitMQ URL [env RASA_SELFLEARN_AMQP_URL; default %(default)s]",
    )
    rabbit.add_argument(
        "--queue",
        default=_env("AMQP_QUEUE", "rasa_core_events"),
        help="queue Rasa publishes to [env RASA_SELFLEARN_AMQP_QUEUE; default %(default)s]",
    )
    rabbit.add_argument(
        "--prefetch",
        type=_positive(int),
        default=1000,
        help="unacknowledged messages at most (default %(default)s)",
    )
    rabbit.add_argument(
        "--flush-interval",
        type=_positive(float),
        default=2.0,
        help="seconds a finished turn may wait for its batch (default %(default)s)",
    )
    rabbit.add_argument(
        "--turn-idle",
        type=_positive(float),
        default=120.0,
        help="close a turn after this many seconds without events (default %(default)s)",
    )
    _add_selflearn(rabbit)
    _add_mapping(rabbit)
    _add_sending(rabbit, batch=200, attempts=2)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("pika").setLevel(logging.WARNING)  # it logs every connection step
    if args.command == "consume":
        return consume(args)
    if args.command == "proxy":
        return run_proxy(args)
    return run_rabbitmq(args)


def _client(args: argparse.Namespace) -> SelflearnClient:
    token = args.token
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as handle:
            token = handle.read().strip()
    try:
        return SelflearnClient(args.selflearn_url, token=token or None)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def _options(args: argparse.Namespace) -> MappingOptions:
    try:
        return MappingOptions(
            device_id=args.device_id,
            device_kind=args.device_kind,
            has_screen=args.has_screen,
            not_understood_intents=DEFAULT_NOT_UNDERSTOOD_INTENTS
            | frozenset(args.not_understood_intent),
            not_understood_actions=DEFAULT_NOT_UNDERSTOOD_ACTIONS
            | frozenset(args.not_understood_action),
            id_namespace=args.id_namespace,
        )
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def _inputs(args: argparse.Namespace, stats: ReadStats) -> Iterator[Dict[str, Any]]:
    if args.sqlite:
        yield from read_sqlite(args.sqlite, args.table, stats)
    files = args.files or ([] if args.sqlite else ["-"])
    for name in files:
        if name == "-":
            yield from read_jsonl(sys.stdin, "<stdin>", stats)
        else:
            with open(name, encoding="utf-8") as handle:
                yield from read_jsonl(handle, name, stats)


def consume(args: argparse.Namespace) -> int:
    """Reads broker events, posts turn events as batches fill; returns the exit code."""
    assembler = TurnAssembler(_options(args))
    read = ReadStats()
    report = SendReport()
    sender: Optional[EventSender] = None
    if not args.dry_run:
        sender = EventSender(
            _client(args),
            batch_size=args.batch_size,
            timeout_s=args.events_timeout,
            attempts=args.attempts,
        )

    def emit(events: List[Dict[str, Any]]) -> None:
        if sender is None:
            for event in events:
                sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
            return
        report.merge(sender.send(events))

    pending: List[Dict[str, Any]] = []
    try:
        for event in _inputs(args, read):
            pending.extend(assembler.feed(event))
            if len(pending) >= args.batch_size:
                emit(pending)
                pending = []
                if report.fatal:
                    break
        else:
            pending.extend(assembler.flush())
            emit(pending)
    except (OSError, ValueError, sqlite3.Error) as exc:  # an unreadable file or database
        logger.error("%s", exc)
        return 2
    stats = assembler.stats
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(stats.skipped.items())) or "none"
    logger.info(
        "read %d broker events (%d unreadable), made %d turn events, skipped: %s",
        stats.broker_events,
        len(read.bad_lines),
        stats.turns,
        skipped,
    )
    if sender is not None:
        logger.info(
            "selflearn: accepted %d (inserted %d, duplicates %d), refused %d, undelivered %d",
            report.accepted,
            report.inserted,
            report.duplicates,
            len(report.refused),
            len(report.undelivered),
        )
    if report.undelivered or report.fatal:
        return 2
    if read.bad_lines or report.refused:
        return 1
    return 0


def run_proxy(args: argparse.Namespace) -> int:
    from .proxy import ProxySettings, RewriteProxy
    from .rewriter import Rewriter

    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"--listen must be host:port, got {args.listen!r}")
    rewriter = Rewriter(
        _client(args),
        timeout_s=args.rewrite_timeout,
        cooldown_s=max(args.cooldown, 0.0),
        max_text_bytes=args.max_rewrite_bytes,
    )
    try:
        proxy = RewriteProxy(
            ProxySettings(
                rasa_url=args.rasa_url,
                rasa_timeout_s=args.rasa_timeout,
                device_id=args.device_id,
                device_kind=args.device_kind,
                has_screen=args.has_screen,
            ),
            rewriter,
        )
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    server = proxy.make_server(host.strip("[]"), int(port))
    bound_host, bound_port = str(server.server_address[0]), server.server_address[1]
    logger.info(
        "proxy listening on http://%s:%s, forwarding to %s, rewrites from %s",
        f"[{bound_host}]" if ":" in bound_host else bound_host,
        bound_port,
        args.rasa_url,
        args.selflearn_url,
    )

    def stop(_signum: int, _frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def run_rabbitmq(args: argparse.Namespace) -> int:
    from . import amqp

    consumer = amqp.QueueConsumer(
        TurnAssembler(_options(args)),
        EventSender(
            _client(args),
            batch_size=args.batch_size,
            timeout_s=args.events_timeout,
            attempts=args.attempts,
        ),
        batch_size=args.batch_size,
        flush_interval_s=args.flush_interval,
        turn_idle_s=args.turn_idle,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    amqp.run(args.amqp_url, args.queue, consumer, prefetch=args.prefetch)
    return 2 if consumer.fatal else 0


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entry_point()
