"""The corrections export: selflearn's rules merged into the corrections plugin's file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ovos_selflearn.corrections import (default_corrections_path, main, merge_corrections,
                                        parse_rules)

RULES = [{"source": "play maj and dragons", "target": "play imagine dragons"},
         {"source": "turn of the lights", "target": "turn off the lights"},
         {"source": "i hate open source", "target": "i adore open source"}]


def write(path, data):
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_merge_adds_new_entries_and_never_changes_the_users():
    existing = {"i hate open source": "i love open source", "do the thing": "trigger protocol 404"}
    merged, report = merge_corrections(existing, parse_rules(RULES))
    assert merged == {"i hate open source": "i love open source",
                      "do the thing": "trigger protocol 404",
                      "play maj and dragons": "play imagine dragons",
                      "turn of the lights": "turn off the lights"}
    assert report.added == [("play maj and dragons", "play imagine dragons"),
                            ("turn of the lights", "turn off the lights")]
    assert report.kept_user_entry == [("i hate open source", "i love open source",
                                       "i adore open source")]
    again, report = merge_corrections(merged, parse_rules(RULES))
    assert again == merged and report.added == []
    assert report.already_there == ["play maj and dragons", "turn of the lights"]


@pytest.mark.parametrize("rules", [{"source": "a", "target": "b"}, [{"source": "a"}],
                                   [{"source": "a", "target": ""}], ["a -> b"]])
def test_bad_rules_are_refused(rules):
    with pytest.raises(ValueError):
        parse_rules(rules)


def test_the_command_merges_into_an_existing_file(tmp_path, capsys):
    rules = write(tmp_path / "rules.json", RULES)
    out = write(tmp_path / "corrections.json", {"do the thing": "trigger protocol 404"})
    assert main([rules, out]) == 0
    assert json.loads((tmp_path / "corrections.json").read_text()) == {
        "do the thing": "trigger protocol 404",
        "play maj and dragons": "play imagine dragons",
        "turn of the lights": "turn off the lights",
        "i hate open source": "i adore open source"}
    assert "3 added" in capsys.readouterr().out


def test_the_command_refuses_bad_input_without_touching_the_file(tmp_path):
    out = tmp_path / "corrections.json"
    out.write_text("{not json", encoding="utf-8")
    assert main([write(tmp_path / "rules.json", RULES), str(out)]) == 2
    assert out.read_text() == "{not json"
    assert main([write(tmp_path / "bad.json", {"source": "a"}), str(out)]) == 1


def test_the_console_script_is_installed(tmp_path):
    rules = write(tmp_path / "rules.json", RULES[:1])
    out = tmp_path / "new" / "corrections.json"
    script = os.path.join(os.path.dirname(sys.executable), "ovos-selflearn-corrections")
    done = subprocess.run([script, rules, str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text()) == {"play maj and dragons": "play imagine dragons"}


def test_the_real_corrections_plugin_applies_an_exported_entry(tmp_path):
    """ovos-utterance-corrections-plugin, reading the file where it looks for it, rewrites the
    utterance with the exported entry (and leaves others alone)."""
    from ovos_utterance_corrections_transformer import UtteranceCorrectionsPlugin

    path = default_corrections_path()
    assert path == os.path.join(os.environ["XDG_DATA_HOME"], "mycroft", "corrections.json")
    rules = write(tmp_path / "rules.json", RULES)
    try:
        assert main([rules]) == 0  # the default OUT is the plugin's own file
        plugin = UtteranceCorrectionsPlugin()
        assert plugin.transform(["play maj and dragons"], {}) == (["play imagine dragons"], {})
        # fuzzy, as the plugin matches: one letter off still hits the entry
        assert plugin.transform(["play maj and dragon"], {})[0] == ["play imagine dragons"]
        assert plugin.transform(["what time is it"], {})[0] == ["what time is it"]
    finally:
        if os.path.exists(path):
            os.unlink(path)
