"""`--learn` for services: trailing slashes tidied, ld.so's probes left out, missing
directories of failed creates (kind ``create``) named with a writable-mount suggestion."""
from __future__ import annotations

from packager.commands.learn import missing_parents, parse_records, render_snippet, tidy_path

IMAGE = {"/", "/etc", "/usr", "/usr/sbin", "/usr/sbin/nginx", "/var", "/tmp", "/lib", "/lib/x86_64-linux-gnu"}


def _host(path: str) -> str | None:
    return {"/etc/nginx": "dir", "/etc/passwd": "file"}.get(path)


def test_trailing_slashes_are_tidied_not_warned_about() -> None:
    assert tidy_path("/etc/nginx/") == "/etc/nginx" and tidy_path("//etc//passwd") == "/etc/passwd"
    learned = parse_records(b"path\t/etc/nginx/\npath\t/etc/nginx\n")
    assert learned.warnings == [] and list(learned.paths) == ["/etc/nginx"]


def test_loader_probes_are_not_noise() -> None:
    records = b"".join(b"path\t/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v%d/libpcre2-8.so.0\n" % v
                       for v in (2, 3, 4))
    records += b"path\t/lib/x86_64-linux-gnu/tls/haswell/x86_64/libz.so.1\npath\t/etc/ld.so.preload\n"
    records += b"path\t/etc/passwd\n"
    snippet = render_snippet(parse_records(records), _host, "nginx", IMAGE.__contains__)
    assert "hwcaps" not in snippet and "haswell" not in snippet and "ld.so.preload" not in snippet
    assert '"/etc/passwd" = "/etc/passwd"' in snippet


def test_missing_parent_directory_is_named_with_a_writable_mount() -> None:
    records = b"create\t/var/lib/nginx/body\ncreate\t/var/log/nginx/error.log\ncreate\t/tmp/x/y\n"
    snippet = render_snippet(parse_records(records), _host, "nginx", IMAGE.__contains__)
    assert "# Missing directories:" in snippet
    assert '# host = "var/lib/nginx"\n# guest = "/var/lib/nginx"\n# mode = "rw"' in snippet
    assert '# guest = "/var/log/nginx"' in snippet
    assert '"/tmp' not in snippet.split("# Missing directories:")[1]  # /tmp is writable already


def test_missing_parents_names_the_directory_the_app_wanted() -> None:
    found = missing_parents(["/var/lib/nginx/body", "/var/lib/nginx/proxy", "/var/lib/nginx/a/b", "/etc/nginx/x"],
                            IMAGE.__contains__)
    assert found == {"/var/lib/nginx": ["/var/lib/nginx/body", "/var/lib/nginx/proxy"],
                     "/etc/nginx": ["/etc/nginx/x"]}


def test_the_loader_cache_is_not_suggested_even_where_the_host_has_it() -> None:
    learned = parse_records(b"path\t/etc/ld.so.cache\n")
    snippet = render_snippet(learned, lambda p: "file", "A", in_image=lambda p: False)
    assert "ld.so.cache" not in snippet and "policy.mount" not in snippet


def test_a_read_of_a_missing_file_is_no_missing_directory() -> None:
    records = b"path\t/etc/nginx/nginx.conf\npath\t/sys/devices/system/cpu/online\ncreate\t/sys/x/y\n"
    snippet = render_snippet(parse_records(records), _host, "nginx", IMAGE.__contains__)
    assert "Missing directories" not in snippet and "policy.mount" not in snippet


def test_a_failed_create_is_not_suggested_for_packing() -> None:
    snippet = render_snippet(parse_records(b"create\t/var/lib/nginx/body\n"), lambda p: "dir", "nginx",
                             IMAGE.__contains__)
    assert '"/var/lib/nginx/body" =' not in snippet and '# guest = "/var/lib/nginx"' in snippet
