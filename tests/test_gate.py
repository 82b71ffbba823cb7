"""The CI gate: baselines, allow entries, the configuration file, and what counts toward --fail-on."""

from __future__ import annotations

import copy

import jsonschema
import pytest

from auditor import config
from auditor.report import baseline, gate, model, schema


def _with_new_finding(report: dict) -> dict:
    out = copy.deepcopy(report)
    new = copy.deepcopy(out["findings"][0])
    new.update(fingerprint="f" * 16, severity="high", message="a new one")
    out["findings"].insert(0, new)
    return out


class TestBaseline:
    def test_known_findings_do_not_count(self, run_report):
        """A baseline of a report leaves nothing failing on that report, at any threshold."""
        path, report = run_report
        base = baseline.create([report])
        assert len(base["findings"]) == len(report["findings"])
        applied = baseline.apply(report, base, "b.json")
        assert model.failing(report, "low") and model.failing(applied, "low") == []
        assert applied["baseline"] == {"path": "b.json", "new": 0,
                                       "baselined": len(report["findings"]), "stale": []}

    def test_only_new_findings_count(self, run_report):
        """A finding the baseline does not know fails the gate; known ones are marked."""
        report = run_report[1]
        applied = baseline.apply(_with_new_finding(report), baseline.create([report]), "b")
        assert [f["fingerprint"] for f in model.failing(applied, "medium")] == ["f" * 16]
        assert applied["baseline"]["new"] == 1
        assert all("baseline" in f for f in applied["findings"][1:])

    def test_stale_entries_reported(self, run_report):
        """Entries no longer seen are listed as stale, with their reason."""
        report = run_report[1]
        base = baseline.create([_with_new_finding(report)], reason="ticket 42")
        stale = baseline.apply(report, base, "b")["baseline"]["stale"]
        assert [(s["fingerprint"], s["reason"]) for s in stale] == [("f" * 16, "ticket 42")]

    def test_applied_report_is_valid(self, run_report):
        """A report with a baseline applied still validates against auditor.report/1."""
        report = run_report[1]
        applied = baseline.apply(_with_new_finding(report), baseline.create([report]), "b")
        jsonschema.validate(applied, schema.load(schema.REPORT))

    def test_round_trip_and_reasons_kept(self, tmp_path, run_report):
        """A written baseline loads back; re-creating from a baselined report keeps reasons."""
        report = run_report[1]
        path = tmp_path / "b.json"
        path.write_text(baseline.dumps(baseline.create([report], reason="triaged: #7")))
        loaded = baseline.load(path)
        again = baseline.create([baseline.apply(report, loaded, str(path))])
        assert {e["reason"] for e in again["findings"]} == {"triaged: #7"}

    @pytest.mark.parametrize("text, key", [
        ("{not json", "not JSON"),
        ('{"schema": "x", "findings": []}', "key 'schema'"),
        ('{"schema": "auditor.baseline/1"}', "key 'findings'"),
        ('{"schema": "auditor.baseline/1", "findings": [{"fingerprint": "zz", "rule": "a/b",'
         ' "reason": "r"}]}', "key 'findings[0].fingerprint'"),
        ('{"schema": "auditor.baseline/1", "findings": [{"fingerprint": "0123456789abcdef",'
         ' "rule": "a/b", "reason": " "}]}', "key 'findings[0].reason'"),
    ])
    def test_bad_file_is_one_line_naming_file_and_key(self, tmp_path, text, key):
        """A baseline that does not parse or lacks a reason: one line with the file and key."""
        path = tmp_path / "b.json"
        path.write_text(text)
        with pytest.raises(baseline.BaselineError) as err:
            baseline.load(path)
        assert str(path) in str(err.value) and key in str(err.value)
        assert "\n" not in str(err.value)


class TestGate:
    def test_threshold(self, run_report):
        """never: nothing; low: every finding; high: only high ones."""
        report = run_report[1]
        assert model.failing(report, "never") == []
        assert len(model.failing(report, "low")) == len(report["findings"])
        assert all(f["severity"] == "high" for f in model.failing(report, "high"))

    def test_allow_entries_by_rule_or_category(self, run_report):
        """Allow entries (a rule id or a category) take findings out of the gate, with reason."""
        report = run_report[1]
        first = report["findings"][0]
        allowed = gate.allow(report, [{"rule": first["category"], "reason": "by design"}],
                             "auditor.toml")
        marked = [f for f in allowed["findings"] if "allowed" in f]
        assert marked and all(f["category"] == first["category"] for f in marked)
        assert marked[0]["allowed"] == {"reason": "by design", "source": "auditor.toml"}
        assert not [f for f in model.failing(allowed, "low") if "allowed" in f]
        jsonschema.validate(allowed, schema.load(schema.REPORT))


class TestConfig:
    def test_found_from_a_subdirectory_with_provenance(self, tmp_path):
        """[tool.auditor] in pyproject.toml above the working directory is found; each value
        says where it came from; relative paths are taken from the file's directory."""
        (tmp_path / "pyproject.toml").write_text(
            '[project]\nname = "x"\n[tool.auditor]\nfail-on = "high"\nbaseline = "b.json"\n'
            'nodes = 5\n[[tool.auditor.allow]]\nrule = "lock-io"\nreason = "by design"\n')
        sub = tmp_path / "a" / "b"
        sub.mkdir(parents=True)
        conf = config.discover(sub)
        assert conf.path == tmp_path / "pyproject.toml"
        assert conf["fail-on"] == "high" and conf.source("fail-on") == str(conf.path)
        assert conf["baseline"] == str(tmp_path / "b.json")
        assert conf["allow"] == ({"rule": "lock-io", "reason": "by design"},)
        assert conf["seed"] == 0 and conf.source("seed") == "default"

    def test_auditor_toml_wins_in_its_directory_and_nearest_wins(self, tmp_path):
        """auditor.toml beats pyproject.toml in one directory; a nearer file beats a farther."""
        (tmp_path / "auditor.toml").write_text('mode = "eventlet"\n')
        (tmp_path / "pyproject.toml").write_text('[tool.auditor]\nmode = "threading"\n')
        assert config.discover(tmp_path)["mode"] == "eventlet"
        sub = tmp_path / "sub"
        sub.mkdir()
        (sub / "pyproject.toml").write_text('[tool.auditor]\nseed = 3\n')
        assert config.discover(sub)["seed"] == 3 and config.discover(sub)["mode"] == "both"

    def test_pyproject_without_section_is_skipped(self, tmp_path):
        """A pyproject.toml without [tool.auditor] does not stop the search upward."""
        (tmp_path / "auditor.toml").write_text('seed = 9\n')
        sub = tmp_path / "pkg"
        sub.mkdir()
        (sub / "pyproject.toml").write_text('[project]\nname = "pkg"\n')
        assert config.discover(sub)["seed"] == 9

    def test_command_line_wins(self, tmp_path):
        """A value given on the command line overrides the file and says so."""
        (tmp_path / "auditor.toml").write_text('fail-on = "high"\nseed = 4\n')
        conf = config.discover(tmp_path).with_command_line({"fail-on": "low", "seed": None})
        assert (conf["fail-on"], conf.source("fail-on")) == ("low", "command line")
        assert conf["seed"] == 4
        text = "\n".join(conf.lines())
        assert "fail-on = low  (command line)" in text and "seed = 4  (" in text

    @pytest.mark.parametrize("name, text, key", [
        ("auditor.toml", 'fail-on = "high"\nfail_on = "x"\n', "key 'fail_on': unknown key"),
        ("pyproject.toml", '[tool.auditor]\ncolour = 1\n', "key 'tool.auditor.colour'"),
        ("auditor.toml", '[[allow]]\nrule = "lock-io"\n', "key 'allow': [0]: allow entry"),
        ("auditor.toml", '[[allow]]\nrule = "lock-io"\nreason = ""\n', "needs a reason"),
        ("auditor.toml", 'fail-on = "sometimes"\n', "key 'fail-on': expected one of"),
        ("auditor.toml", 'categories = ["nonsense"]\n', "key 'categories': unknown 'nonsense'"),
        ("auditor.toml", 'nodes = 0\n', "key 'nodes'"),
        ("auditor.toml", 'fail-on = \n', "not valid TOML"),
    ])
    def test_bad_file_is_one_line_naming_file_and_key(self, tmp_path, name, text, key):
        """Unknown key, allow entry without reason, bad value, unparsable file: one line."""
        (tmp_path / name).write_text(text)
        with pytest.raises(config.ConfigError) as err:
            config.discover(tmp_path)
        message = str(err.value)
        assert message.startswith(str(tmp_path / name)) and key in message, message
        assert "\n" not in message

    def test_every_key_has_a_default(self):
        """The defaults and the known keys are the same set."""
        assert set(config.DEFAULTS) == set(config.KEYS)
        assert config.DEFAULTS["fail-on"] == gate.DEFAULT_FAIL_ON
