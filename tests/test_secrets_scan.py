"""Tests for the canary registry and the secrets scanner."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import urllib.parse

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from auditor.canaries import CanaryRegistry, from_config, url_passwords
from auditor.checks.secrets_scan import (
    MIN_LENGTH, SANITIZE_KEYS, Scanner, redact_spans, variants)

CANARY = "CnryQ7x2Lm9TzK4p"
TRICKY = 'pa$$ w/rd"\'\\é'   # a known secret with every escapable character


def _scanner(**extra: str) -> Scanner:
    return Scanner({CANARY: "ironic.driver_info.ipmi_password",
                    TRICKY: "conf.placement.password", **extra})


def _kinds(text: str) -> list[str]:
    return [h.kind for h in Scanner({}).patterns(text)]


class TestCanaryRegistry:
    def test_plant_returns_unique_realistic_values(self):
        """Each plant returns a fresh alphanumeric value of at least 12 characters."""
        reg = CanaryRegistry()
        values = {reg.plant(f"ironic.node{i}.driver_info.ipmi_password") for i in range(200)}
        assert len(values) == 200
        assert all(v.isalnum() and len(v) >= 12 for v in values)

    def test_plant_remembers_the_source(self):
        """The registry maps a planted value back to its source."""
        reg = CanaryRegistry()
        value = reg.plant("context.auth_token")
        assert reg.secrets() == {value: "context.auth_token"}
        assert reg.source(value) == "context.auth_token"

    def test_add_ignores_empty_and_keeps_first_source(self):
        """Empty values are ignored and a value keeps the first source registered."""
        reg = CanaryRegistry()
        reg.add("", "conf.x.y")
        reg.add("Secr3tDbPass", "conf.database.connection.password")
        reg.add("Secr3tDbPass", "conf.api_database.connection.password")
        assert reg.secrets() == {"Secr3tDbPass": "conf.database.connection.password"}

    def test_version_grows_on_change_only(self):
        """The version counter moves when a value is added, not on a duplicate."""
        reg = CanaryRegistry()
        v0 = reg.version
        reg.add("Secr3tDbPass", "a")
        v1 = reg.version
        reg.add("Secr3tDbPass", "b")
        assert v0 < v1 == reg.version

    def test_secrets_is_a_snapshot(self):
        """Mutating the registry after ``secrets()`` does not change the snapshot."""
        reg = CanaryRegistry()
        snap = reg.secrets()
        reg.plant("x")
        assert snap == {}

    def test_plant_is_thread_safe(self):
        """Concurrent plants from many threads all land, each unique."""
        reg = CanaryRegistry()

        def work(n: int) -> None:
            for i in range(100):
                reg.plant(f"t{n}.{i}")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(reg) == 800 and reg.version == 800

    def test_url_passwords_handles_several_hosts(self):
        """Passwords of every host in an oslo.messaging transport URL are found, unquoted."""
        url = "rabbit://nova:p%40ss1@h1:5672,nova2:pass2@h2:5672/"
        assert url_passwords(url) == ["p@ss1", "pass2"]
        assert url_passwords("http://placement:8778/resource_providers") == []

    def test_from_config_finds_secret_options_and_url_passwords(self):
        """Secret options in every group and passwords inside URL options are returned."""
        from oslo_config import cfg

        conf = cfg.ConfigOpts()
        conf.register_opts([cfg.StrOpt("password", secret=True),
                            cfg.StrOpt("username")], group="placement")
        conf.register_opts([cfg.StrOpt("connection", secret=True)], group="database")
        conf.register_opts([cfg.StrOpt("transport_url"),
                            cfg.ListOpt("tokens", secret=True),
                            cfg.StrOpt("empty_secret", secret=True, default="")])
        conf([], default_config_files=[])
        conf.set_override("password", "PlacementPw1", group="placement")
        conf.set_override("username", "nova", group="placement")
        conf.set_override("connection", "mysql+pymysql://nova:DbPw2x@db/nova",
                          group="database")
        conf.set_override("transport_url", "rabbit://nova:RabbitPw3@mq:5672/")
        conf.set_override("tokens", ["TokenOne1", "TokenTwo2"])
        pairs = from_config(conf)
        assert set(pairs) == {
            ("conf.placement.password", "PlacementPw1"),
            ("conf.database.connection", "mysql+pymysql://nova:DbPw2x@db/nova"),
            ("conf.database.connection.password", "DbPw2x"),
            ("conf.DEFAULT.transport_url.password", "RabbitPw3"),
            ("conf.DEFAULT.tokens", "TokenOne1"),
            ("conf.DEFAULT.tokens", "TokenTwo2"),
        }
        reg = CanaryRegistry()
        reg.from_config(conf)
        assert reg.source("DbPw2x") == "conf.database.connection.password"

    def test_from_config_reads_secret_keys_not_registered_yet(self, tmp_path):
        """Secret-named keys in config files are found before any option claims them."""
        from oslo_config import cfg

        path = tmp_path / "nova.conf"
        path.write_text("[placement]\nauth_type = password\npassword = PlacementPw1\n"
                        "region_name = RegionOne\n[ironic]\nendpoint_override = "
                        "http://ironic:IronicPw2@10.0.0.5:6385/\n")
        conf = cfg.ConfigOpts()
        conf.register_opts([cfg.StrOpt("auth_type")], group="placement")
        conf([], default_config_files=[str(path)])
        assert set(from_config(conf)) == {
            ("conf.placement.password", "PlacementPw1"),
            ("conf.ironic.endpoint_override.password", "IronicPw2")}


class TestVariants:
    def test_plain_canary_has_raw_and_base64_only(self):
        """A canary without escapable characters has no separate repr or URL form."""
        forms = {form for form, _ in variants(CANARY)}
        assert forms == {"raw", "base64"}

    def test_escapable_value_has_every_form(self):
        """A value with quotes, slashes and non-ASCII gets repr, JSON and URL variants."""
        texts = {text for _, text in variants(TRICKY)}
        assert repr(TRICKY)[1:-1] in texts
        assert json.dumps(TRICKY)[1:-1] in texts
        assert urllib.parse.quote(TRICKY, safe="") in texts
        assert urllib.parse.quote_plus(TRICKY) in texts


class TestScanner:
    def test_look_remembers_what_scan_and_patterns_find_per_short_text(self):
        """``look`` is ``scan`` and ``patterns`` together, kept per text for the scanner's
        life; a text longer than ``_LOOKED_LEN`` is looked at again each time."""
        scanner = _scanner()
        text = f"ipmi_password={CANARY} user=admin"
        first = scanner.look(text)
        assert first == (tuple(scanner.scan(text)), tuple(scanner.patterns(text)))
        assert first[0] and first[1]
        assert scanner.look(text) is first
        long = "x " * 300 + text
        assert scanner.look(long) == scanner.look(long) and scanner.look(long) is not \
            scanner.look(long)
    def test_raw(self):
        """A raw canary is found with its source, form and span."""
        text = f"ipmitool -P {CANARY} power"
        (hit,) = _scanner().scan(text)
        assert (hit.source, hit.form) == ("ironic.driver_info.ipmi_password", "raw")
        assert text[hit.start:hit.end] == CANARY

    @pytest.mark.parametrize("encode", [
        lambda v: repr({"password": v}),
        lambda v: json.dumps({"password": v}),
        lambda v: repr(repr(v)),
    ])
    def test_repr_and_json_escaped(self, encode):
        """Escaped forms of a secret with escapable characters are found."""
        hits = _scanner().scan(encode(TRICKY))
        assert [h.source for h in hits] == ["conf.placement.password"]

    @pytest.mark.parametrize("quote", [
        lambda v: urllib.parse.quote(v, safe=""), urllib.parse.quote, urllib.parse.quote_plus])
    def test_url_encoded(self, quote):
        """URL-encoded forms (quote and quote_plus) are found as ``url``."""
        (hit,) = _scanner().scan("GET /v1/nodes?pw=" + quote(TRICKY))
        assert hit.form == "url" and hit.source == "conf.placement.password"

    @pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"abc", b"{\"ipmi_password\": \""])
    @pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
    def test_base64_every_alignment(self, prefix, encode):
        """A canary inside a base64'd blob is found whatever its byte alignment."""
        blob = encode(prefix + CANARY.encode() + b"\"} trailing").decode()
        hits = _scanner().scan(f"user_data={blob}")
        assert [(h.source, h.form) for h in hits] == [
            ("ironic.driver_info.ipmi_password", "base64")]

    @settings(max_examples=60, deadline=None)
    @given(st.binary(max_size=20), st.binary(max_size=20))
    def test_base64_property(self, before, after):
        """For any surrounding bytes, base64 of the blob reveals the canary."""
        blob = base64.b64encode(before + CANARY.encode() + after).decode()
        assert any(h.source == "ironic.driver_info.ipmi_password"
                   for h in _scanner().scan(blob))

    def test_gzip_base64(self):
        """A canary in a gzip-compressed, base64-encoded blob (a configdrive) is found."""
        blob = base64.b64encode(gzip.compress(b"x" * 500 + CANARY.encode())).decode()
        text = f"configdrive: {blob} end"
        (hit,) = _scanner().scan(text)
        assert hit.form == "gzip+base64"
        assert text[hit.start:hit.end] == blob

    def test_gzip_garbage_is_ignored(self):
        """A gzip-looking blob that does not decode is skipped without error."""
        assert _scanner().scan("H4sIAAAAAAAAA" + "Q" * 40) == []

    def test_short_known_values_are_skipped_and_reported(self):
        """Values shorter than MIN_LENGTH are not scanned; their sources are listed."""
        scanner = Scanner({"nova": "conf.database.connection.password"})
        assert len("nova") < MIN_LENGTH
        assert scanner.scan("nova.compute.manager nova") == []
        assert scanner.skipped == ("conf.database.connection.password",)

    def test_wordlike_values_match_whole_words_only(self):
        """A short all-letter secret matches as a word, not inside identifiers."""
        scanner = Scanner({"secret": "conf.key_manager.secret"})
        assert scanner.scan("client_secret_ref=x secrets") == []
        assert [h.start for h in scanner.scan("pw is secret here")] == [6]

    def test_several_secrets_in_order(self):
        """Every occurrence of every secret is returned, in text order."""
        other = "CnryZZ81kkPq0LmA"
        scanner = _scanner(**{other: "context.auth_token"})
        hits = scanner.scan(f"{other} and {CANARY} and {other}")
        assert [h.source for h in hits] == [
            "context.auth_token", "ironic.driver_info.ipmi_password", "context.auth_token"]

    def test_empty_registry_finds_nothing(self):
        """A scanner without secrets returns no hits."""
        assert Scanner({}).scan(f"anything {CANARY}") == []


class TestPatterns:
    @pytest.mark.parametrize("text, kind", [
        ("connect mysql+pymysql://nova:s3cr3tPw@db/nova", "url-credentials"),
        ("rabbit://openstack:Rabb1tPw@10.0.0.2:5672/", "url-credentials"),
        ("ipmi_password=hunter22 user=admin", "key-value"),
        ("{'password': 'hunter22'}", "key-value"),
        ('{"auth_token": "abc123def"}', "key-value"),
        ("admin_password: Zx9-qq", "key-value"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
         "private-key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "private-key"),
        ("token gAAAAA" + "x1_-" * 25, "token"),
        ("curl -H 'X-Auth-Token: abcdef0123456789'", "auth-header"),
    ])
    def test_secret_shapes_are_flagged(self, text, kind):
        """Each secret shape is reported with its kind."""
        assert _kinds(text) == [kind]

    @pytest.mark.parametrize("text", [
        'Lock "compute_resources" acquired by '
        '"nova.compute.resource_tracker.ResourceTracker._update_available_resource" '
        ':: waited 0.000s',
        "{'password': '***', 'auth_token': '***'}",
        "ipmi_password=****** admin_pass=<SANITIZED>",
        "placement.password = ****",
        "transport_url = rabbit://nova:****@mq:5672/",
        "http://placement.example.com:8778/resource_providers?in_tree=6f1a",
        "Setting admin_password is not supported by this driver",
        "password=%(password)s token=None secret=True",
        "secret_uuid=2b6f5a4e-1c1d-4b4e-9c9a-1a2b3c4d5e6f",
        "Invalid token: expired",
        'REQ: curl -g -i -X GET http://ironic:6385/v1/nodes -H "X-Auth-Token: '
        '{SHA256}0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"',
        "Instance 6f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8 has allocations against this node",
        "Hypervisor/Node resource view: name=node-1 free_ram=65536MB free_disk=1024GB",
        "password=[SECRET:conf.placement.password]",
        # stevedore's DEBUG line while keystoneauth loads the admin_token plugin
        "found extension EntryPoint(name='admin_token', value="
        "'keystoneauth1.loading._plugins.admin_token:AdminToken', group='keystoneauth1.plugin')",
    ])
    def test_quiet_on_masked_and_ordinary_text(self, text):
        """Masked values, placeholders and ordinary nova log lines are not flagged."""
        assert _kinds(text) == []

    def test_oslo_mask_password_output_is_quiet(self):
        """Whatever oslo's mask_password leaves behind is not flagged."""
        from oslo_utils import strutils

        raw = ("{'password': 'hunter22', 'admin_pass': 'x9y8z7w6', "
               "'auth_token': 'tok123456'} ipmi_password=hunter22")
        assert _kinds(raw)
        assert _kinds(strutils.mask_password(raw)) == []

    @settings(max_examples=400, deadline=None)
    @given(st.lists(st.sampled_from(["a", "Z", "1", "_", "+", ".", "-", ":", "/", "@", " ",
                                     "'", "\u00e9", "://", "u:", "p@", "x" * 30, "http://u:p@"]),
                    max_size=24).map("".join))
    @example("a" + "x" * 30 + "://u:p@")      # the longest scheme: found
    @example("ab" + "x" * 30 + "://u:p@")     # one longer: not
    @example("a_b://u:p@ c://u:p@")
    def test_url_credentials_found_where_the_regex_alone_finds_them(self, text):
        """Looking for ``user:password@`` only where a ``://`` is finds exactly what the
        URL regex finds scanning the whole text."""
        from auditor.checks import secrets_scan

        spans = [m.span("pw") for m in secrets_scan._URL.finditer(text)]
        assert [m.span("pw") for m in secrets_scan._url_matches(text)] == spans

    def test_span_covers_the_value_only(self):
        """The reported span is the secret value, not its key."""
        text = "connect password=hunter22 now"
        (hit,) = Scanner({}).patterns(text)
        assert text[hit.start:hit.end] == "hunter22" and hit.label == "password"


class TestSanitizeKeys:
    def test_matches_oslo_utils(self):
        """The copied key list is exactly oslo.utils' ``_SANITIZE_KEYS``."""
        from oslo_utils import strutils

        assert list(SANITIZE_KEYS) == list(strutils._SANITIZE_KEYS)


class TestRedactSpans:
    def test_replaces_spans(self):
        """Spans are replaced by their labels, overlapping spans merged."""
        text = "a SECRET b TOKEN c"
        out = redact_spans(text, [(2, 8, "[S]"), (11, 16, "[T]"), (12, 14, "[X]")])
        assert out == "a [S] b [T] c"

    def test_window_keeps_the_focus(self):
        """With a width, the excerpt is cut around the focused span."""
        text = "x" * 300 + " SECRET " + "y" * 300
        start = text.index("SECRET")
        out = redact_spans(text, [(start, start + 6, "[S]")], focus=(start, start + 6),
                           width=60)
        assert "[S]" in out and out.startswith("…") and out.endswith("…")
        assert len(out) <= 62
