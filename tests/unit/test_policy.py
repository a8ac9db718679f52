"""[policy] of litebox.toml: validation, the launch records 8-12 (exact bytes, round trips)."""
from __future__ import annotations

from pathlib import Path

import pytest

from packager.build.plan import launch_summary
from packager.config.config import load_project, quick_config
from packager.config.policy import MountRule, PolicyConfig, mount_collision, parse_size, parse_sockaddr
from packager.errors import PackError
from packager.image.imageformat import TAG_IDS, TAG_LIMIT, TAG_MOUNT, TAG_NET_CONNECT, TAG_NET_LISTEN
from packager.image.launch import launch_config_bytes, launch_records
from packager.image.policyrecords import DecodedPolicy, encode_limit, encode_mount, encode_sockaddr, policy_records

FULL = '''
[app]
entry = "/app/server"
[files]
"/app" = "app"
[policy]
uid = 1000
gid = 100
env_passthrough = ["TERM"]
[policy.network]
listen = ["127.0.0.1:8080", "[::1]:8080", "0.0.0.0:9000"]
connect = ["10.0.0.5:5432", "[2001:db8::1]:0"]
[[policy.mount]]
host = "./data"
guest = "/data"
mode = "rw"
[[policy.mount]]
host = "/etc/ssl/certs"
guest = "/etc/ssl/certs"
[policy.limits]
threads = 8
memory = "512M"
open_files = 64
processes = 2
'''


def project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "litebox.toml").write_text(text)
    return tmp_path


def load_err(tmp_path: Path, policy_text: str) -> str:
    project(tmp_path, '[app]\nentry = "/app/x"\n[files]\n"/app" = "app"\n' + policy_text)
    with pytest.raises(PackError) as err:
        load_project(tmp_path)
    return str(err.value)


def test_full_policy_is_parsed(tmp_path: Path) -> None:
    cfg = load_project(project(tmp_path, FULL))
    p = cfg.policy
    assert (p.uid, p.gid) == (1000, 100)
    assert [r.text() for r in p.listen] == ["127.0.0.1:8080", "[::1]:8080", "0.0.0.0:9000"]
    assert [r.text() for r in p.connect] == ["10.0.0.5:5432", "[2001:db8::1]:0"]
    # relative host paths stay relative: they are resolved at run time, not at pack time
    assert p.mounts == (MountRule("data", "/data", "rw"), MountRule("/etc/ssl/certs", "/etc/ssl/certs", "ro"))
    assert dict(p.limits) == {"memory": 512 << 20, "open_files": 64, "threads": 8, "processes": 2}
    assert p.default_deny() is None
    doc = p.to_json(env_inherit=False)
    assert doc["mounts"][0] == {"host": "data", "guest": "/data", "mode": "rw"}
    assert doc["ids"] == {"uid": 1000, "gid": 100}


def test_defaults_are_deny(tmp_path: Path) -> None:
    cfg = load_project(project(tmp_path, '[app]\nentry = "/bin/true"\n'))
    assert cfg.policy == PolicyConfig()
    assert cfg.policy.default_deny() == "default deny: no network, no host directories"
    assert policy_records(cfg.policy) == []
    quick = quick_config(Path("/bin/true"))
    assert quick.policy == PolicyConfig() and policy_records(quick.policy) == []


@pytest.mark.parametrize("text, expected", [
    ("uid = 1000\n", "[policy].gid: missing (uid and gid are set together"),
    ("uid = -1\ngid = 0\n", "[policy].uid: -1 is not in 0..4294967294"),
    ("uid = 4294967295\ngid = 0\n", "[policy].uid: 4294967295 is not in 0..4294967294"),
    ('uid = "root"\ngid = 0\n', "[policy].uid: expected an integer, got string"),
    ("nework = 1\n", "[policy].nework: unknown key (did you mean 'network'?)"),
    ('[policy.network]\nlisten = ["localhost:80"]\n',
     "[policy.network].listen: 'localhost:80': 'localhost' is not an IP address (only addresses, not host names)"),
    ('[policy.network]\nconnect = ["::1:80"]\n', "an IPv6 address goes in brackets"),
    ('[policy.network]\nconnect = ["[::1]"]\n', "missing ':PORT' after the address"),
    ('[policy.network]\nconnect = ["1.2.3.4"]\n', "missing ':PORT' (use :0 for any port)"),
    ('[policy.network]\nconnect = ["1.2.3.4:65536"]\n', "port 65536 is not in 0..65535"),
    ('[policy.network]\nconnect = ["1.2.3.4:-1"]\n', "port '-1' is not a number"),
    ('[policy.network]\nconnect = ["[1.2.3.4]:80"]\n', "brackets are for IPv6 addresses only"),
    ('[policy.network]\nconnect = ["[fe80::1%eth0]:80"]\n', "scope ids"),
    ('[policy.network]\nlisten = ["1.2.3.4:1", "1.2.3.4:1"]\n', "'1.2.3.4:1' is listed twice"),
    ('[policy.network]\nlisten = "1.2.3.4:1"\n', "[policy.network].listen: expected a list of strings"),
    ('[policy.network]\nbind = []\n', "[policy.network].bind: unknown key"),
    ('[[policy.mount]]\nhost = "d"\n', "[policy.mount][1].guest: missing"),
    ('[[policy.mount]]\nguest = "/d"\n', "[policy.mount][1].host: missing"),
    ('[[policy.mount]]\nhost = "d"\nguest = "d"\n', "[policy.mount][1].guest: 'd' must be an absolute path"),
    ('[[policy.mount]]\nhost = "d"\nguest = "/"\n', "[policy.mount][1].guest: cannot mount over the root"),
    ('[[policy.mount]]\nhost = "d"\nguest = "/x/../y"\n', "is not normalized"),
    ('[[policy.mount]]\nhost = "d"\nguest = "/x/"\n', "has a trailing '/'"),
    ('[[policy.mount]]\nhost = "d"\nguest = "/proc/x"\n', "lies in /proc, which the runtime provides"),
    ('[[policy.mount]]\nhost = "d"\nguest = "/d"\nmode = "wr"\n',
     "[policy.mount][1].mode: 'wr' is not \"ro\" or \"rw\""),
    ('[[policy.mount]]\nhost = "d"\nguest = "/d"\nreadonly = true\n', "[policy.mount][1].readonly: unknown key"),
    ('[[policy.mount]]\nhost = "d"\nguest = "/d"\n[[policy.mount]]\nhost = "e"\nguest = "/d/e"\n',
     "[policy.mount][2].guest: '/d/e' lies inside [policy.mount][1].guest '/d'"),
    ('[[policy.mount]]\nhost = "d"\nguest = "/d/e"\n[[policy.mount]]\nhost = "e"\nguest = "/d"\n',
     "[policy.mount][2].guest: '/d' contains [policy.mount][1].guest '/d/e'"),
    ('mount = { host = "d", guest = "/d" }\n', "[policy].mount: expected an array of tables"),
    ('[policy.limits]\nmemory = "lots"\n', "[policy.limits].memory: expected bytes as an integer or a string"),
    ('[policy.limits]\nmemory = 100\n', "[policy.limits].memory: 100 bytes is not in 4096.."),
    ('[policy.limits]\nthreads = 0\n', "[policy.limits].threads: 0 is not a positive integer"),
    ('[policy.limits]\nopen_files = "64"\n', "[policy.limits].open_files: expected a positive integer, got string"),
    ('[policy.limits]\ncpus = 1\n', "[policy.limits].cpus: unknown key"),
])
def test_bad_policy_names_file_key_problem(tmp_path: Path, text: str, expected: str) -> None:
    msg = load_err(tmp_path, "[policy]\n" + text)
    assert msg.startswith(str(tmp_path / "litebox.toml") + ": ")
    assert expected in msg
    assert "\n" not in msg


def test_mount_over_packed_tree_names_both(tmp_path: Path) -> None:
    msg = load_err(tmp_path, '[[policy.mount]]\nhost = "/srv"\nguest = "/app"\n')
    assert "[policy.mount][1].guest: '/app' is '/app', which the image already packs ([files] \"/app\")" in msg
    msg = load_err(tmp_path, '[policy]\n[[policy.mount]]\nhost = "/srv"\nguest = "/app/x/y"\n')
    assert "'/app/x/y' lies below the file '/app/x', which the image already packs ([app].entry)" in msg


def test_mount_collision_rules() -> None:
    packed = [("/", "dir", "root"), ("/usr", "dir", "parent of /usr/lib/libc.so.6"),
              ("/usr/lib/libc.so.6", "file", "needed by /app/x"), ("/app", "dir", "[files] \"/app\""),
              ("/app/conf", "file", "[files] \"/app\"")]
    assert mount_collision([MountRule("d", "/data")], packed) is None
    assert mount_collision([MountRule("d", "/app/data")], packed) is None  # new mount point in a packed dir
    msg = mount_collision([MountRule("d", "/usr")], packed)
    assert msg is not None and "'/usr' is '/usr'" in msg
    msg = mount_collision([MountRule("d", "/data"), MountRule("l", "/usr/lib")], packed)
    assert msg == ("[policy.mount][2].guest: '/usr/lib' contains '/usr/lib/libc.so.6', which the image "
                   "already packs (needed by /app/x); choose another guest path")
    msg = mount_collision([MountRule("d", "/app/conf/x")], packed)
    assert msg is not None and "lies below the file '/app/conf'" in msg


@pytest.mark.parametrize("value, expected", [
    (4096, 4096), ("64K", 65536), ("512M", 512 << 20), ("2G", 2 << 30), ("1T", 1 << 40),
    ("512MiB", 512 << 20), ("2g", 2 << 30), ("8192", 8192), ("1.5G", None), ("G", None), (True, None),
])
def test_parse_size(value: object, expected: int | None) -> None:
    assert parse_size(value) == expected


def test_sockaddr_canonical_text() -> None:
    assert parse_sockaddr("[0:0::1]:80").text() == "[::1]:80"
    assert parse_sockaddr("[::ffff:1.2.3.4]:1").family == 6
    with pytest.raises(ValueError, match="leading zeros|not an IP address"):
        parse_sockaddr("127.000.0.1:80")


def test_exact_bytes_of_each_record_kind() -> None:
    # NET_*: family 4, reserved 0, port 8080 big-endian (0x1f90), 127.0.0.1
    assert encode_sockaddr(parse_sockaddr("127.0.0.1:8080")) == bytes([4, 0, 0x1F, 0x90, 127, 0, 0, 1])
    assert encode_sockaddr(parse_sockaddr("[::1]:443")) == bytes([6, 0, 0x01, 0xBB]) + bytes(15) + b"\x01"
    # MOUNT: mode 1 (rw), 3 reserved zero bytes, host_len 4 little-endian, host, guest
    assert encode_mount(MountRule("data", "/srv", "rw")) == b"\x01\0\0\0\x04\0\0\0data/srv"
    assert encode_mount(MountRule("/h", "/g")) == b"\x00\0\0\0\x02\0\0\0/h/g"
    # LIMIT: kind u32 LE, reserved u32 0, value u64 LE
    assert encode_limit("memory", 512 << 20) == b"\x01\0\0\0" + b"\0\0\0\0" + (512 << 20).to_bytes(8, "little")
    assert encode_limit("processes", 2) == b"\x04\0\0\0\0\0\0\0\x02\0\0\0\0\0\0\0"
    # IDS: uid u32 LE, gid u32 LE
    recs = policy_records(PolicyConfig(uid=1000, gid=0x01020304))
    assert recs == [(TAG_IDS, b"\xe8\x03\0\0\x04\x03\x02\x01")]


def test_records_order_and_round_trip(tmp_path: Path) -> None:
    cfg = load_project(project(tmp_path, FULL))
    recs = policy_records(cfg.policy)
    assert [t for t, _ in recs] == [TAG_IDS] + [TAG_NET_LISTEN] * 3 + [TAG_NET_CONNECT] * 2 + \
        [TAG_MOUNT] * 2 + [TAG_LIMIT] * 4
    kinds = [int.from_bytes(v[:4], "little") for t, v in recs if t == TAG_LIMIT]
    assert kinds == [1, 2, 3, 4]  # by kind, not in file order
    assert recs == launch_records(cfg)[-len(recs):]
    back = DecodedPolicy()
    for tag, value in recs:
        back.add(tag, value)
    assert back.ids == (1000, 100)
    assert back.listen == list(cfg.policy.listen) and back.connect == list(cfg.policy.connect)
    assert back.mounts == list(cfg.policy.mounts)
    assert back.limits == dict(cfg.policy.limits)
    summary = launch_summary(launch_config_bytes(cfg))
    assert summary["listen"] == ["127.0.0.1:8080", "[::1]:8080", "0.0.0.0:9000"]
    assert summary["mounts"][0] == {"host": "data", "guest": "/data", "mode": "rw"}
    assert summary["limits"] == {"memory": 536870912, "open_files": 64, "threads": 8, "processes": 2}


@pytest.mark.parametrize("tag, value, problem", [
    (TAG_IDS, b"\0" * 7, "not 8 bytes"),
    (TAG_NET_LISTEN, bytes([5, 0, 0, 80, 1, 2, 3, 4]), "malformed socket address"),
    (TAG_NET_LISTEN, bytes([4, 1, 0, 80, 1, 2, 3, 4]), "malformed socket address"),
    (TAG_NET_CONNECT, bytes([6, 0, 0, 80, 1, 2, 3, 4]), "malformed socket address"),
    (TAG_MOUNT, b"\x02\0\0\0\x01\0\0\0h/g", "malformed MOUNT"),
    (TAG_MOUNT, b"\x00\0\0\0\x00\0\0\0/g", "malformed MOUNT"),
    (TAG_MOUNT, b"\x00\0\0\0\x05\0\0\0h/g", "malformed MOUNT"),
    (TAG_MOUNT, b"\x00\0\0\0\x01\0\0\0hg", "malformed MOUNT"),
    (TAG_LIMIT, b"\x05\0\0\0" + bytes(12), "unknown kind 5"),
    (TAG_LIMIT, b"\x01\0\0\0\x01\0\0\0" + bytes(8), "non-zero reserved"),
    (TAG_LIMIT, b"\x01\0\0\0", "not 16 bytes"),
])
def test_decoder_refuses_malformed_records(tag: int, value: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        DecodedPolicy().add(tag, value)


def test_decoder_refuses_repeats() -> None:
    p = DecodedPolicy()
    p.add(TAG_LIMIT, encode_limit("threads", 3))
    with pytest.raises(ValueError, match="repeated"):
        p.add(TAG_LIMIT, encode_limit("threads", 4))
    p.add(TAG_IDS, bytes(8))
    with pytest.raises(ValueError, match="repeated"):
        p.add(TAG_IDS, bytes(8))


def test_template_policy_examples_are_valid(tmp_path: Path) -> None:
    from packager.commands.initcmd import init

    path = init(tmp_path, Path("/bin/true"))
    text = path.read_text()
    lines, in_policy = [], False
    for line in text.splitlines():
        if line.startswith("[policy]"):
            in_policy = True
        elif line.startswith("[build]"):
            in_policy = False
        if in_policy and line.startswith("# ") and not line.startswith("#  "):
            line = line[2:]  # uncomment every commented example of the policy section
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    cfg = load_project(tmp_path)
    p = cfg.policy
    assert (p.uid, p.gid) == (1000, 1000)
    assert [r.text() for r in p.listen] == ["127.0.0.1:8080"]
    assert [r.text() for r in p.connect] == ["10.0.0.5:5432"]
    assert p.mounts == (MountRule("data", "/data", "ro"),)
    assert dict(p.limits) == {"memory": 512 << 20, "open_files": 256, "threads": 32, "processes": 4}
