"""`litebox run --learn`: learn records → the TOML snippet to review (a pure function)."""
from __future__ import annotations

import sys

import pytest

from packager.commands.learn import parse_records, render_snippet, snippet_from_records, toml_string, unescape

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HOST = {"/etc/ssl/certs": "dir", "/etc/ssl/certs/ca.pem": "file", "/etc/hosts": "file",
        "/usr/bin/git": "file", "/usr/share/zoneinfo": "dir"}


def fake_exists(path: str) -> str | None:
    return HOST.get(path)


def snippet(data: bytes) -> tuple[str, list[str]]:
    return snippet_from_records(data, fake_exists, "dist/app-linux-userland")


def test_full_conversion_exact_text() -> None:
    records = (b"path\t/etc/hosts\n"
               b"connect\t127.0.0.1:5432\n"
               b"path\t/etc/ssl/certs/ca.pem\n"
               b"path\t/etc/myapp.conf\n"
               b"listen\t0.0.0.0:8080\n"
               b"path\t/etc/ssl/certs\n"
               b"exec\t/usr/bin/git\n"
               b"path\t/etc/hosts\n"
               b"connect\t[::1]:5432\n"
               b"connect\t127.0.0.1:5432\n"
               b"path\t/proc/cpuinfo\n")
    text, warnings = snippet(records)
    assert warnings == []
    assert text == (
        "# Learned by `litebox run --learn` from one run of dist/app-linux-userland.\n"
        "# NOTHING WAS GRANTED. This is a suggestion to review: copy what you want into\n"
        "# litebox.toml and pack again. Every line widens what the packed app can reach.\n"
        "\n"
        "[files]\n"
        '"/etc/hosts" = "/etc/hosts"\n'
        '"/etc/ssl/certs" = "/etc/ssl/certs"  # a directory: packs everything under it\n'
        '"/usr/bin/git" = "/usr/bin/git"  # executed: its libraries come with it\n'
        "# /etc/myapp.conf  (does not exist on this host)\n"
        "# /proc/cpuinfo  (a kernel file system: the runtime provides what it has; not packable)\n"
        "\n"
        "[policy.network]\n"
        'listen = ["0.0.0.0:8080"]\n'
        'connect = ["127.0.0.1:5432", "[::1]:5432"]\n')
    doc = tomllib.loads(text)  # the snippet is valid TOML the config loader accepts
    assert doc["files"] == {"/etc/hosts": "/etc/hosts", "/etc/ssl/certs": "/etc/ssl/certs",
                            "/usr/bin/git": "/usr/bin/git"}
    assert doc["policy"]["network"]["connect"] == ["127.0.0.1:5432", "[::1]:5432"]


def test_nothing_learned() -> None:
    text, warnings = snippet(b"")
    assert "NOTHING WAS GRANTED" in text
    assert text.endswith("# Nothing to learn: the app asked for nothing outside its image and policy.\n")
    assert "[files]" not in text and "[policy.network]" not in text
    assert tomllib.loads(text) == {}


def test_only_network_has_no_files_table() -> None:
    text, _ = snippet(b"connect\t10.1.2.3:443\nconnect\t10.1.2.3:80\nconnect\t9.9.9.9:443\n")
    assert "[files]" not in text
    assert 'connect = ["9.9.9.9:443", "10.1.2.3:80", "10.1.2.3:443"]' in text  # sorted by address, port
    assert "listen" not in text


def test_only_missing_paths_are_comments() -> None:
    text, _ = snippet(b"path\t/nope/a\npath\t/nope/b\n")
    assert tomllib.loads(text) == {"files": {}}
    assert "# /nope/a  (does not exist on this host)\n# /nope/b  (does not exist on this host)\n" in text


def test_unknown_kinds_and_bad_lines_are_skipped_with_warnings() -> None:
    text, warnings = snippet(b"path\t/etc/hosts\nopen\t/x\ngarbage\npath\trelative/p\n"
                             b"connect\tdb.example:5432\nlisten\t1.2.3.4\npath\t/a/../b\n")
    assert warnings == [
        "learn record 2: unknown kind 'open', skipped",
        "learn record 3: no tab between kind and value, skipped",
        "learn record 4: path 'relative/p' is not a normalized absolute path, skipped",
        "learn record 5: connect 'db.example:5432': 'db.example' is not an IP address "
        "(only addresses, not host names), skipped",
        "learn record 6: listen '1.2.3.4': missing ':PORT' (use :0 for any port), skipped",
        "learn record 7: path '/a/../b' is not a normalized absolute path, skipped",
    ]
    assert tomllib.loads(text) == {"files": {"/etc/hosts": "/etc/hosts"}}


def test_escapes_and_odd_names() -> None:
    assert unescape(b"a\\tb\\nc\\\\d\\x41\\q") == b"a\tb\nc\\dA\\q"
    learned = parse_records(b"path\t/tmp2/a\\tb\npath\t/tmp2/quote\"s\npath\t/tmp2/nl\\nx\npath\t/tmp2/\\xff\n")
    assert sorted(learned.paths) == ["/tmp2/a\tb", "/tmp2/nl\nx", '/tmp2/quote"s', "/tmp2/\udcff"]
    text = render_snippet(learned, lambda p: "file", "A")
    doc = tomllib.loads(text)
    assert doc["files"] == {"/tmp2/a\tb": "/tmp2/a\tb", '/tmp2/quote"s': '/tmp2/quote"s',
                            "/tmp2/nl\nx": "/tmp2/nl\nx"}
    assert "# /tmp2/\\xff  (not UTF-8: cannot be written in litebox.toml)" in text
    assert toml_string("a\x7fb") == '"a\\u007fb"'


def test_exec_wins_over_path_and_dedup() -> None:
    learned = parse_records(b"path\t/usr/bin/git\nexec\t/usr/bin/git\npath\t/usr/bin/git\n")
    assert learned.paths == {"/usr/bin/git": "exec"}


def test_children_of_a_learned_directory_are_covered() -> None:
    text, _ = snippet(b"path\t/usr/share/zoneinfo\npath\t/usr/share/zoneinfo/UTC\npath\t/etc/ssl/certs/ca.pem\n")
    doc = tomllib.loads(text)
    # /etc/ssl/certs itself was not looked up, so its file stays a file line
    assert doc["files"] == {"/usr/share/zoneinfo": "/usr/share/zoneinfo",
                            "/etc/ssl/certs/ca.pem": "/etc/ssl/certs/ca.pem"}


@pytest.mark.parametrize("line", [b"path\t/", b"exec\t", b"listen\t[::1]:99999"])
def test_degenerate_values_warn(line: bytes) -> None:
    _, warnings = snippet(line + b"\n")
    assert len(warnings) == 1 and warnings[0].startswith("learn record 1: ")


def test_connects_to_the_unspecified_address_are_shown_not_offered() -> None:
    """python3 -m http.server's getaddrinfo probes 0.0.0.0:PORT and [::]:PORT with UDP
    connects, which the server does not need; they are named with the loopback rule that
    would allow them (the sandbox checks such a destination as this host's loopback)."""
    text, _ = snippet(b"listen\t[::]:8123\nconnect\t0.0.0.0:8123\nconnect\t[::]:8123\nconnect\t10.1.2.3:443\n")
    doc = tomllib.loads(text)
    assert doc["policy"]["network"] == {"listen": ["[::]:8123"], "connect": ["10.1.2.3:443"]}
    assert ("# Refused connects to the unspecified address, not offered: 0.0.0.0:8123 (this host: "
            "127.0.0.1:8123), [::]:8123 (this host: [::1]:8123).\n") in text
    assert '# connect = ["127.0.0.1:8123", "[::1]:8123"]\n' in text

    only, _ = snippet(b"connect\t0.0.0.0:8123\n")
    assert tomllib.loads(only) == {}
    assert "not offered: 0.0.0.0:8123 (this host: 127.0.0.1:8123)." in only
    assert "Nothing to learn" not in only


def test_quick_mode_pack_command_leaves_out_unspecified_connects() -> None:
    from packager.commands.learn import Learned
    from packager.config.policy import parse_sockaddr

    manifest = {"mode": "quick", "name": "python3", "config": {"app": {"entry": "/usr/bin/python3", "cwd": "/"}},
                "policy": {"network": {"listen": [], "connect": []}, "mounts": []}}
    learned = Learned(listen=[parse_sockaddr("[::]:8123")],
                      connect=[parse_sockaddr("0.0.0.0:8123"), parse_sockaddr("[::]:8123")])
    text = render_snippet(learned, lambda p: None, "a", lambda p: True, manifest)
    assert "#   litebox pack /usr/bin/python3 --listen '[::]:8123'\n" in text
    assert "outbound connections" not in text
