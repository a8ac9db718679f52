"""A damaged or tampered artifact stops before the app runs altered bytes, with the documented code.

Exit codes (docs/image-format.md): 120 no image, 121 damaged, 122 tampered, 123 bad entry program.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
from pathlib import Path

import xxhash
from elftools.elf.elffile import ELFFile
from litebox_e2e import (
    EXIT_BAD_ENTRY,
    EXIT_DAMAGED,
    EXIT_NO_IMAGE,
    EXIT_TAMPERED,
    IMAGE_SECTION,
    Artifact,
    ExampleArtifacts,
    Image,
    Section,
    copy_example,
    describe,
    flip_byte,
    pack,
    read_image,
    run_program,
)


def _copy(examples: ExampleArtifacts, name: str, tmp_path: Path) -> Path:
    dest = tmp_path / examples.get(name).path.name
    shutil.copy2(examples.get(name).path, dest)
    return dest


def _assert_stopped(proc: subprocess.CompletedProcess[bytes], expected: int) -> None:
    """Exit code `expected`, and the runtime's one `litebox: <what>: <detail>` line last on stderr."""
    assert proc.returncode == expected, f"expected exit {expected}\n{describe(proc)}"
    err_lines = [line for line in proc.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    assert err_lines and err_lines[-1].startswith("litebox: "), describe(proc)


def _root_digest(blob: bytes, image: Image) -> bytes:
    """SHA-256(header[0:128] || config || page digest table); the page digest table lies between
    the chunk table and the data (format v3)."""
    config = blob[image.config_offset : image.index_offset]
    pages = blob[image.chunks_offset + 56 * len(image.chunks) : image.data_offset]
    return hashlib.sha256(blob[:128] + config + pages).digest()


def _rewrite_image(path: Path, sec: Section, blob: bytes) -> None:
    assert len(blob) == sec.size
    with path.open("r+b") as f:
        f.seek(sec.offset)
        f.write(blob)


def test_intact_copy_runs(examples: ExampleArtifacts, tmp_path: Path) -> None:
    """The control: copying the artifact elsewhere does not break it."""
    path = _copy(examples, "hello-static", tmp_path)
    proc = run_program([path, "--exit", "0"])
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.startswith(b"Hello from litebox!\n")


def test_our_root_digest_matches_the_writers(examples: ExampleArtifacts) -> None:
    """Checks this file's reading of the format, which the tests below rely on."""
    art = examples.get("hello-static").path
    sec, image = read_image(art)
    blob = art.read_bytes()[sec.offset : sec.offset + sec.size]
    assert _root_digest(blob, image) == image.root_digest
    for k in range(len(image.chunks)):
        start, end = image.chunk_data_range(k)
        assert hashlib.sha256(blob[start:end]).digest() == image.chunks[k].digest
        assert xxhash.xxh3_64_intdigest(blob[start:end]) == image.chunks[k].check
    assert image.data_offset + image.data_size == sec.size


def test_flipped_byte_in_program_chunk_exits_122(examples: ExampleArtifacts, tmp_path: Path) -> None:
    path = _copy(examples, "hello-static", tmp_path)
    sec, image = read_image(path)
    entry = image.entry("/app/hello")
    start, end = image.chunk_data_range(image.chunk_of(entry.data))
    flip_byte(path, sec.offset + (start + end) // 2)
    proc = run_program([path])
    _assert_stopped(proc, EXIT_TAMPERED)
    assert b"Hello from litebox!" not in proc.stdout


def test_flipped_byte_in_the_programs_last_chunk_exits_122(examples: ExampleArtifacts, tmp_path: Path) -> None:
    """The program's first and last chunks are checked by init while the app's first process
    starts (parcheck.rs `precheck`): a bad verdict there stops the run as the process's own
    check would, before the app writes anything."""
    path = _copy(examples, "hello-static", tmp_path)
    sec, image = read_image(path)
    entry = image.entry("/app/hello")
    last = image.chunk_of(entry.data + entry.size - 1)
    assert last != image.chunk_of(entry.data), "the program spans more than one chunk"
    start, _ = image.chunk_data_range(last)
    flip_byte(path, sec.offset + start)
    for _ in range(3):
        proc = run_program([path])
        _assert_stopped(proc, EXIT_TAMPERED)
        assert b"Hello from litebox!" not in proc.stdout


def test_flipped_byte_in_data_file_chunk_exits_122(examples: ExampleArtifacts, tmp_path: Path) -> None:
    """The bytes of a damaged file never reach the app, even if the app has started."""
    path = _copy(examples, "cat-files", tmp_path)
    sec, image = read_image(path)
    entry = image.entry("/data/beta.txt")
    start, end = image.chunk_data_range(image.chunk_of(entry.data))
    flip_byte(path, sec.offset + end - 1)
    proc = run_program([path])
    _assert_stopped(proc, EXIT_TAMPERED)
    assert b"beta: second file" not in proc.stdout


def test_tampered_data_file_never_reaches_the_app(tmp_path: Path) -> None:
    """Small chunks, and a data file big enough to own whole chunks: damage one of them.

    The app may start (chunks are checked when first read) but the altered bytes never reach it:
    the run ends with 122, and what the app printed before is a prefix of the intact output.
    """
    project = copy_example("cat-files", tmp_path)
    toml = project / "litebox.toml"
    toml.write_text(toml.read_text().replace("source_date_epoch = 0", "source_date_epoch = 0\nchunk_size = 4096"))
    big = "".join(f"gamma line {i:05d}\n" for i in range(2000)).encode()  # 34 KB
    (project / "data" / "gamma.txt").write_bytes(big)
    art = pack(project, tmp_path / "dist")
    intact = run_program([art.path])
    assert intact.returncode == 0 and big in intact.stdout, describe(intact)

    sec, image = read_image(art.path)
    assert image.chunk_size == 4096
    entry = image.entry("/data/gamma.txt")
    k = image.chunk_of(entry.data) + 2  # a chunk wholly inside gamma.txt
    assert (k + 1) * image.chunk_size <= entry.data + entry.size
    start, end = image.chunk_data_range(k)
    flip_byte(art.path, sec.offset + (start + end) // 2)
    proc = run_program([art.path])
    _assert_stopped(proc, EXIT_TAMPERED)
    assert intact.stdout.startswith(proc.stdout)
    lines_in_chunk = big[k * 4096 - entry.data : (k + 1) * 4096 - entry.data].splitlines()[1]
    assert lines_in_chunk not in proc.stdout


def test_every_chunk_is_checked(examples: ExampleArtifacts, tmp_path: Path) -> None:
    """A flip in any chunk the app reads is caught: try the first byte of each chunk in turn."""
    original = examples.get("cat-files").path
    sec, image = read_image(original)
    for k in range(len(image.chunks)):
        path = tmp_path / f"chunk-{k}"
        shutil.copy2(original, path)
        start, _ = image.chunk_data_range(k)
        flip_byte(path, sec.offset + start)
        proc = run_program([path])
        # cat-files reads every file it packs (libraries included), but a chunk of a library
        # part it never maps may go unread; what must never happen is a clean run of altered data
        # that changes the output.
        if proc.returncode != EXIT_TAMPERED:
            assert proc.returncode == 0 and proc.stdout.endswith(
                b"open /etc/hostname: errno=2 (No such file or directory)\n"
            ), f"chunk {k}: {describe(proc)}"


def test_bad_magic_exits_121(examples: ExampleArtifacts, tmp_path: Path) -> None:
    path = _copy(examples, "hello-static", tmp_path)
    sec, _ = read_image(path)
    flip_byte(path, sec.offset + 1, 0x20)  # "LITEBOX" -> "LiTEBOX"
    proc = run_program([path])
    _assert_stopped(proc, EXIT_DAMAGED)
    assert proc.stdout == b""


def test_unknown_version_exits_121_naming_both(examples: ExampleArtifacts, tmp_path: Path) -> None:
    path = _copy(examples, "hello-static", tmp_path)
    sec, _ = read_image(path)
    with path.open("r+b") as f:
        f.seek(sec.offset + 8)
        f.write(struct.pack("<I", 7))
    proc = run_program([path])
    _assert_stopped(proc, EXIT_DAMAGED)
    assert b"7" in proc.stderr and b"version 3" in proc.stderr, proc.stderr
    assert proc.stdout == b""


def test_flipped_root_digest_exits_122(examples: ExampleArtifacts, tmp_path: Path) -> None:
    path = _copy(examples, "hello-static", tmp_path)
    sec, _ = read_image(path)
    flip_byte(path, sec.offset + 128 + 5)
    proc = run_program([path])
    _assert_stopped(proc, EXIT_TAMPERED)
    assert proc.stdout == b""


def test_flipped_chunk_table_digest_exits_122(examples: ExampleArtifacts, tmp_path: Path) -> None:
    path = _copy(examples, "hello-static", tmp_path)
    sec, image = read_image(path)
    flip_byte(path, sec.offset + image.chunks_offset + 16 + 3)  # chunk 0's digest
    proc = run_program([path])
    _assert_stopped(proc, EXIT_TAMPERED)
    assert proc.stdout == b""


def test_truncated_section_exits_121(examples: ExampleArtifacts, tmp_path: Path) -> None:
    """The section header says the image is shorter than its own regions: out of bounds."""
    path = _copy(examples, "hello-static", tmp_path)
    with path.open("rb") as f:
        elf = ELFFile(f)
        index = next(i for i, s in enumerate(elf.iter_sections()) if s.name == IMAGE_SECTION)
        shoff, shentsize = elf["e_shoff"], elf["e_shentsize"]
        size = elf.get_section(index)["sh_size"]
    with path.open("r+b") as f:
        f.seek(shoff + index * shentsize + 32)  # Elf64_Shdr.sh_size
        f.write(struct.pack("<Q", size - 100))
    proc = run_program([path])
    _assert_stopped(proc, EXIT_DAMAGED)
    assert proc.stdout == b""


def test_missing_section_exits_120(examples: ExampleArtifacts, tmp_path: Path) -> None:
    """Renaming the section in the section-name table leaves the runtime without an image."""
    path = _copy(examples, "hello-static", tmp_path)
    with path.open("rb") as f:
        elf = ELFFile(f)
        shstrtab = elf.get_section(elf["e_shstrndx"])
        names = shstrtab.data()
        pos = names.find(IMAGE_SECTION.encode() + b"\0")
        assert pos >= 0
        name_offset = shstrtab["sh_offset"] + pos
    flip_byte(path, name_offset + len(IMAGE_SECTION) - 1, 0x20)  # ".litebox.image" -> ".litebox.imagE"
    proc = run_program([path])
    _assert_stopped(proc, EXIT_NO_IMAGE)
    assert proc.stdout == b""


def test_missing_entry_program_exits_123(examples: ExampleArtifacts, tmp_path: Path) -> None:
    """A self-consistent image (root digest recomputed) whose ENTRY names no file."""
    path = _copy(examples, "hello-static", tmp_path)
    sec, image = read_image(path)
    blob = bytearray(path.read_bytes()[sec.offset : sec.offset + sec.size])
    pos = image.config_offset
    while True:
        tag, _, length = struct.unpack_from("<HHI", blob, pos)
        if tag == 1:  # ENTRY
            assert bytes(blob[pos + 8 : pos + 8 + length]) == b"/app/hello"
            blob[pos + 8 + length - 1] = ord("X")  # "/app/hellX"
            break
        pos += 8 + length
    blob[128:160] = _root_digest(bytes(blob), image)
    _rewrite_image(path, sec, bytes(blob))
    proc = run_program([path])
    _assert_stopped(proc, EXIT_BAD_ENTRY)
    assert b"/app/hellX" in proc.stderr
    assert proc.stdout == b""


def pack_cat_files_with_many(tmp_path: Path) -> tuple[Artifact, subprocess.CompletedProcess[bytes]]:
    """examples/cat-files packed with 2000 extra small files under /zz-many (sorted after every
    path the app opens, so they fill the tables' later pages), and an intact run of it (`one`)."""
    project = copy_example("cat-files", tmp_path)
    many = project / "many"
    many.mkdir()
    for i in range(2000):
        (many / f"f{i:04d}.txt").write_text(f"{i}\n")
    config = project / "litebox.toml"
    config.write_text(config.read_text().replace('"/data" = "data"', '"/data" = "data"\n"/zz-many" = "many"'))
    art = pack(project, tmp_path / "dist")
    control = run_program([art.path, "one"])
    assert control.returncode == 0, describe(control)
    return art, control


def test_a_tampered_table_page_the_app_never_uses_does_not_stop_it(tmp_path: Path) -> None:
    """Format v2 checks each table page on first use, not the whole index at start: with 2000
    extra files under /zz-many (sorted after every path the app opens), a flipped byte in an
    entry near the end of the entry table, which no lookup of the app reaches, leaves the app
    running as packed (a v1 runtime hashed the whole index at start and stopped with 122). The
    Rust reader's tests check that the same page stops a lookup that reaches it."""
    art, control = pack_cat_files_with_many(tmp_path)
    sec, image = read_image(art.path)
    n = len(image.entries)
    victim = n * 7 // 8
    assert image.entries[victim].path.startswith(b"/zz-many/"), image.entries[victim].path
    page = (victim * 48) // 4096
    assert page != (n * 48) // 4096, "the victim's page must not be the string table's first"
    flip_byte(art.path, sec.offset + image.index_offset + victim * 48 + 12)  # its mode
    proc = run_program([art.path, "one"])
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == control.stdout


def test_a_tampered_table_page_read_after_start_exits_122(tmp_path: Path) -> None:
    """The tables are read with pread into a private copy, page by page on first use, after the
    image is opened (docs/targets/linux-userland.md, "Resident memory"): a flipped byte in a
    chunk record of the program's own file, on a chunk table page far from the pages opening
    reads (2000 extra files push the chunk table past them), still stops the run with 122
    before the program runs."""
    art, control = pack_cat_files_with_many(tmp_path)
    sec, image = read_image(art.path)
    k = image.chunk_of(image.entry("/app/cat-files").data)
    record = image.chunks_offset + 56 * k
    assert (record - image.index_offset) // 4096 >= 2, "the record's page is not one opening reads"
    flip_byte(art.path, sec.offset + record + 20)  # a byte of its SHA-256
    proc = run_program([art.path, "one"])
    _assert_stopped(proc, EXIT_TAMPERED)
    assert proc.stdout == b""
