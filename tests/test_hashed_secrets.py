"""The one secrets registry: secrets kept as keyed hashes find what clear canaries find."""

from __future__ import annotations

import base64
import gzip
import json
import os
import urllib.parse

import pytest

from auditor.canaries import CanaryRegistry
from auditor.checks.secrets_scan import Scanner
from auditor.hashed_secrets import (ENV_SECRETS_FILE, HashedSecrets, SecretsFileError,
                                    read_secrets_file)

SECRETS = ["ipmiPassw0rd-1234", "p@ss w/rd:x'q\"u", "Secret", "abcdefgh", "hunter2pass"]


def texts(secret: str) -> list[str]:
    """The secret as log records show it: raw, repr'd, JSON, URL-encoded, base64, gzipped."""
    blob = base64.b64encode(gzip.compress(f"x={secret}".encode())).decode()
    return [f"said {secret} twice {secret}.", repr({"info": secret}), json.dumps([secret]),
            "u=" + urllib.parse.quote(secret, safe=""), "u=" + urllib.parse.quote_plus(secret),
            base64.b64encode(f"pre{secret}post".encode()).decode(),
            base64.urlsafe_b64encode(f"ab{secret}".encode()).decode(), blob,
            f"no{secret}z", secret]


class TestHashedSecrets:
    def test_same_hits_as_the_clear_scanner(self):
        """Every form, position and source the clear canary scanner finds, the hashed one finds."""
        registry = CanaryRegistry()
        for i, secret in enumerate(SECRETS):
            registry.add_hashed(secret, f"secrets-file:{i + 1}")
        clear = Scanner({s: f"secrets-file:{i + 1}" for i, s in enumerate(SECRETS)})
        hashed = Scanner({}, registry.hashed)
        checked = 0
        for secret in SECRETS:
            for text in texts(secret):
                want = [(h.source, h.form, h.start, h.end) for h in clear.scan(text)]
                assert [(h.source, h.form, h.start, h.end) for h in hashed.scan(text)] == want
                checked += bool(want)
        assert checked >= 40

    def test_values_are_not_kept(self):
        """Nothing the registry holds is a secret or a piece of one longer than 5 characters."""
        store = HashedSecrets()
        for secret in SECRETS:
            store.add(secret, "s")
        dump = repr(vars(store)) + repr(store._by_gram)
        assert not [s for s in SECRETS if s[:6] in dump or s[-6:] in dump]

    def test_short_values_match_whole_only(self):
        """A value shorter than the scan window is matched only as a whole credential."""
        store = HashedSecrets()
        store.add("admin", "conf.placement.token")
        assert store.source_of("admin") == "conf.placement.token"
        assert store.find("user admin logged in") == [] and store.skipped == ["conf.placement.token"]

    def test_registry_version_grows_and_scanners_follow(self):
        """Adding a hashed secret changes the registry's version; a duplicate does not."""
        registry = CanaryRegistry()
        registry.add_hashed("hunter2pass", "a")
        version = registry.version
        registry.add_hashed("hunter2pass", "b")
        assert registry.version == version and registry.source("hunter2pass") == "a"


class TestSecretsFile:
    def test_reads_one_secret_a_line(self, tmp_path):
        """Each non-empty line is one secret, its source the line number; kept hashed."""
        path = tmp_path / "secrets"
        path.write_text("hunter2pass\n\nipmiPassw0rd-1234\r\n")
        os.chmod(path, 0o600)
        registry = CanaryRegistry()
        assert registry.add_file({ENV_SECRETS_FILE: str(path)}) == 2
        assert registry.secrets() == {}
        assert [h.source for h in Scanner({}, registry.hashed).scan("a ipmiPassw0rd-1234 b")] \
            == ["secrets-file:3"]

    @pytest.mark.parametrize("mode", [0o640, 0o604, 0o620])
    def test_refuses_a_file_others_can_read(self, tmp_path, mode):
        """Group or world access: one line naming the file and the fix, no secret read."""
        path = tmp_path / "secrets"
        path.write_text("hunter2pass\n")
        os.chmod(path, mode)
        with pytest.raises(SecretsFileError, match=r"chmod 600") as err:
            list(read_secrets_file(str(path)))
        assert "\n" not in str(err.value) and "hunter2pass" not in str(err.value)

    def test_refuses_a_missing_file_or_a_directory(self, tmp_path):
        with pytest.raises(SecretsFileError, match="No such file"):
            list(read_secrets_file(str(tmp_path / "absent")))
        with pytest.raises(SecretsFileError):
            list(read_secrets_file(str(tmp_path)))
