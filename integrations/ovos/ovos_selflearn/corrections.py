"""Exports selflearn's rewrites as ``ovos-utterance-corrections-plugin`` corrections.

That plugin (enabled in OVOS's default ``mycroft.conf``) reads full-utterance corrections from
``$XDG_DATA_HOME/mycroft/corrections.json`` (``~/.local/share/mycroft/corrections.json``): one
JSON object mapping what was heard to what should be understood, matched fuzzily against the
first hypothesis (Damerau-Levenshtein similarity of at least 0.85 by default)::

    {"play maj and dragons": "play imagine dragons"}

Users edit that file by hand, so an export only ever adds to it: an entry already there for the
same words is the user's decision and stays as it is, whatever selflearn proposes.

Usage: ``ovos-selflearn-corrections RULES.json [OUT.json]``, where RULES.json is a JSON list of
``{"source": ..., "target": ...}`` objects.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple


class RulesError(ValueError):
    """The rules file is not a list of ``{"source", "target"}`` objects."""


@dataclass
class MergeReport:
    """What a merge did, for the command's summary line."""

    added: List[Tuple[str, str]] = field(default_factory=list)
    already_there: List[str] = field(default_factory=list)
    kept_user_entry: List[Tuple[str, str, str]] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)


def default_corrections_path() -> str:
    """Where the corrections plugin reads its file, computed the way the plugin does."""
    from ovos_config.meta import get_xdg_base
    from ovos_utils.xdg_utils import xdg_data_home

    return os.path.join(xdg_data_home(), get_xdg_base(), "corrections.json")


def parse_rules(rules: Any) -> List[Tuple[str, str]]:
    """Validates the ``[{"source", "target"}]`` list and returns its pairs in order."""
    if not isinstance(rules, list):
        raise RulesError("the rules must be a JSON list of {\"source\", \"target\"} objects")
    pairs: List[Tuple[str, str]] = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise RulesError(f"rule {index}: not an object")
        texts = []
        for key in ("source", "target"):
            value = rule.get(key)
            if not isinstance(value, str) or not value.strip():
                raise RulesError(f"rule {index}: '{key}' must be a non-empty string")
            texts.append(value.strip())
        pairs.append((texts[0], texts[1]))
    return pairs


def merge_corrections(existing: Dict[str, str], pairs: Sequence[Tuple[str, str]]
                      ) -> Tuple[Dict[str, str], MergeReport]:
    """Adds each pair whose source the file does not hold yet; never changes an entry."""
    merged = dict(existing)
    report = MergeReport()
    for source, target in pairs:
        if source == target:
            report.skipped.append(source)
        elif source not in merged:
            merged[source] = target
            report.added.append((source, target))
        elif merged[source] == target:
            report.already_there.append(source)
        else:
            report.kept_user_entry.append((source, merged[source], target))
    return merged, report


def read_corrections(path: str) -> Dict[str, str]:
    """The corrections file as a dict; an absent or empty file is an empty one."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return {}
    if not text.strip():
        return {}
    data = json.loads(text)
    if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(f"{path} is not a JSON object of strings to strings")
    return data


def write_corrections(path: str, corrections: Dict[str, str]) -> None:
    """Writes atomically (a temporary file moved into place): the plugin never reads half."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".corrections-", suffix=".json", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(corrections, out, ensure_ascii=False, indent=4)
            out.write("\n")
        if os.path.exists(path):
            os.chmod(temporary, os.stat(path).st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def export_corrections(rules_path: str, out_path: str) -> MergeReport:
    """Reads the rules, merges them into ``out_path`` and writes it back."""
    with open(rules_path, encoding="utf-8") as handle:
        try:
            rules = json.load(handle)
        except ValueError as error:
            raise RulesError(f"{rules_path} is not JSON: {error}") from error
    pairs = parse_rules(rules)
    merged, report = merge_corrections(read_corrections(out_path), pairs)
    write_corrections(out_path, merged)
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``ovos-selflearn-corrections``: exit 0 on success, 1 for bad rules, 2 on failure."""
    parser = argparse.ArgumentParser(
        prog="ovos-selflearn-corrections",
        description="Merge selflearn rewrite rules ([{\"source\", \"target\"}]) into the "
                    "corrections file of ovos-utterance-corrections-plugin, keeping every "
                    "entry already there.")
    parser.add_argument("rules", help="JSON list of {\"source\": ..., \"target\": ...}")
    parser.add_argument("out", nargs="?", default=None,
                        help="corrections file (default: the plugin's, "
                             "$XDG_DATA_HOME/mycroft/corrections.json)")
    args = parser.parse_args(argv)
    out_path = args.out or default_corrections_path()
    try:
        report = export_corrections(args.rules, out_path)
    except RulesError as error:
        print(f"ovos-selflearn-corrections: {error}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        print(f"ovos-selflearn-corrections: {error}", file=sys.stderr)
        return 2
    for source, theirs, ours in report.kept_user_entry:
        print(f"kept your entry {source!r} -> {theirs!r} (selflearn proposed {ours!r})",
              file=sys.stderr)
    print(f"{out_path}: {len(report.added)} added, {len(report.already_there)} already there, "
          f"{len(report.kept_user_entry)} kept as you wrote them, "
          f"{len(report.skipped)} skipped (source equals target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
