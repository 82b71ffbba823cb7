"""trusted_files.open_trusted_regular: what it refuses, in which words, and that it leaks no
descriptor."""

from __future__ import annotations

import os

import pytest

from auditor.trusted_files import open_trusted_regular

REFUSALS = {"open": "open {path}: {detail}", "type": "type {path}", "owner": "owner {detail}"}


class Refused(Exception):
    pass


def _open(path, **kwargs) -> int:
    return open_trusted_regular(str(path), Refused, REFUSALS, **kwargs)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def private(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    path.chmod(0o600)
    return path


def test_opens_a_private_regular_file_blocking(private):
    fd = _open(private)
    try:
        assert os.get_blocking(fd) and os.read(fd, 1) == b"x"
    finally:
        os.close(fd)


def test_a_link_is_followed_unless_follow_is_false(private, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(private)
    os.close(_open(link))
    with pytest.raises(Refused, match=rf"^open {link}: "):
        _open(link, follow=False)


def test_refusals_in_the_callers_words(private, tmp_path):
    """Missing, a FIFO (at once, not blocked on a writer), writable by others."""
    with pytest.raises(Refused, match=r"^open .*absent: No such file"):
        _open(tmp_path / "absent")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(Refused, match=r"^type .*fifo$"):
        _open(tmp_path / "fifo")
    private.chmod(0o666)
    with pytest.raises(Refused, match=r"^owner .*writable by other users"):
        _open(private)


def test_check_refuses_more_and_no_descriptor_is_left(private):
    def too_big(st):
        raise Refused(f"{st.st_size} bytes")

    before = _fds()
    with pytest.raises(Refused, match="^1 bytes$"):
        _open(private, check=too_big)
    private.chmod(0o666)
    with pytest.raises(Refused):
        _open(private)
    assert _fds() == before
