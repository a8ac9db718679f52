"""Streaming artifact assembly (packager/build/elfstream.py) and the image written to a file
(packager/image/image.py write_image): the same bytes as in memory, sections readable by an
independent ELF parser, refusals for what cannot be assembled."""
from __future__ import annotations

import hashlib
import io
import subprocess
from pathlib import Path

import pytest

from packager.build.artifact import IMAGE_SECTION, MANIFEST_SECTION, _layout, read_sections
from packager.build.elfstream import WRITE_PIECE, assemble_elf_streaming, write_sections
from packager.errors import PackError
from packager.image.image import ImageSettings, build_image, write_image
from packager.image.rootfs import DIR, FILE, FsEntry


def test_an_image_file_streams_into_its_section(static_hello: Path, tmp_path: Path) -> None:
    image = tmp_path / "image.bin"
    image.write_bytes(bytes(range(256)) * 5000 + b"tail")
    out = tmp_path / "dist" / "app"
    digest = assemble_elf_streaming(static_hello, [(IMAGE_SECTION, image), (MANIFEST_SECTION, b"{}")], out)
    data = out.read_bytes()
    assert read_sections(data) == {IMAGE_SECTION: image.read_bytes(), MANIFEST_SECTION: b"{}"}
    assert _layout(data) == _layout(static_hello.read_bytes())
    assert out.stat().st_mode & 0o777 == 0o755
    assert hashlib.sha256(data).hexdigest() == digest
    assert [p.name for p in out.parent.iterdir()] == ["app"]  # no temporary file left beside it
    shown = subprocess.run(["readelf", "-S", "-W", str(out)], capture_output=True, text=True, check=True).stdout
    assert IMAGE_SECTION in shown and MANIFEST_SECTION in shown


def test_the_same_inputs_give_the_same_bytes(static_hello: Path) -> None:
    runtime = static_hello.read_bytes()
    one, two = io.BytesIO(), io.BytesIO()
    write_sections(runtime, [(IMAGE_SECTION, b"abc")], one)
    write_sections(runtime, [(IMAGE_SECTION, b"abc")], two)
    assert one.getvalue() == two.getvalue()


def test_a_section_the_runtime_already_has_is_refused(static_hello: Path, tmp_path: Path) -> None:
    once = tmp_path / "once"
    assemble_elf_streaming(static_hello, [(IMAGE_SECTION, b"a")], once)
    with pytest.raises(PackError, match="already has a .litebox.image section"):
        assemble_elf_streaming(once, [(IMAGE_SECTION, b"b")], tmp_path / "twice")
    assert not (tmp_path / "twice").exists()


def test_a_runtime_without_section_headers_is_refused(static_hello: Path, tmp_path: Path) -> None:
    stripped = bytearray(static_hello.read_bytes())
    stripped[0x3C:0x3E] = b"\0\0"  # e_shnum = 0
    bad = tmp_path / "rt"
    bad.write_bytes(bytes(stripped))
    with pytest.raises(PackError, match="section headers are missing or damaged"):
        assemble_elf_streaming(bad, [(IMAGE_SECTION, b"a")], tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rt"]


def test_write_image_gives_build_images_bytes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_bytes(b"x" * 300_000 + bytes(range(256)) * 100)
    entries = [FsEntry("/", DIR, 0o755, "root"), FsEntry("/d", DIR, 0o755, "dir"),
               FsEntry("/d/data", FILE, 0o644, "file", host=data), FsEntry("/d/small", FILE, 0o600, "gen", data=b"hi")]
    settings = ImageSettings(65536, 3, mtime=0)
    whole = build_image(entries, b"launch", settings)
    out = io.BytesIO()
    streamed = write_image(entries, b"launch", settings, out, tmp_path)
    assert out.getvalue() == whole.blob
    assert streamed.digest == whole.digest and streamed.size == len(whole.blob)
    assert streamed.sha256 == hashlib.sha256(whole.blob).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # the spill file is gone


def test_sections_start_at_page_boundaries(static_hello: Path) -> None:
    """The image's stored chunks are page-aligned inside it; its section is page-aligned in the
    file, so the runtime can map them from the artifact."""
    out = io.BytesIO()
    write_sections(static_hello.read_bytes(), [(IMAGE_SECTION, b"image"), (MANIFEST_SECTION, b"{}")], out)
    data = out.getvalue()
    from elftools.elf.elffile import ELFFile

    found = {s.name: s for s in ELFFile(io.BytesIO(data)).iter_sections()}
    for name, content in ((IMAGE_SECTION, b"image"), (MANIFEST_SECTION, b"{}")):
        assert found[name]["sh_offset"] % 4096 == 0
        assert found[name]["sh_addralign"] == 16384
        assert data[found[name]["sh_offset"]:found[name]["sh_offset"] + len(content)] == content
    assert read_sections(data) == {IMAGE_SECTION: b"image", MANIFEST_SECTION: b"{}"}


@pytest.mark.parametrize("extra", [0, 1, 1400, 4096, 10_000])
def test_the_image_sits_alike_in_the_page_cache_whatever_the_runtimes_length(static_hello: Path, extra: int) -> None:
    """The image section starts at a multiple of the 16 KiB the artifact is written in (the page
    cache's folio size), so a runtime a few bytes or pages longer leaves every chunk at the same
    place in its folio (python3 -c pass: +0.5 ms of CPU when a 4 KiB shift moved them)."""
    runtime = static_hello.read_bytes()
    runtime += bytes(extra)  # trailing bytes: the ELF headers ignore them
    out = io.BytesIO()
    write_sections(runtime, [(IMAGE_SECTION, b"image")], out)
    from elftools.elf.elffile import ELFFile

    found = {s.name: s for s in ELFFile(io.BytesIO(out.getvalue())).iter_sections()}
    assert found[IMAGE_SECTION]["sh_offset"] % WRITE_PIECE == 0
    assert WRITE_PIECE == 16384


class _RecordingFile(io.BytesIO):
    """A BytesIO that records the offset and size of every write."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []
        self.writes: list[tuple[int, int]] = []

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.sizes.append(len(data))
        self.writes.append((self.tell(), len(data)))
        return super().write(data)


def test_the_artifact_is_written_in_small_pieces(static_hello: Path, tmp_path: Path) -> None:
    # The page cache's folios are no larger than the writes that made them, and a large folio
    # is mapped whole when the runtime's mapped app code faults in it: small writes keep the
    # packed app's resident memory to the pages it touches (bench/RESULTS-issue17-rss.md).
    runtime = static_hello.read_bytes()
    image = tmp_path / "image.bin"
    image.write_bytes(bytes(range(256)) * 12000)
    dest = _RecordingFile()
    write_sections(runtime, [(IMAGE_SECTION, image), (MANIFEST_SECTION, b"{}" * 20000)], dest)
    from elftools.elf.elffile import ELFFile

    image_at = ELFFile(io.BytesIO(dest.getvalue())).get_section_by_name(IMAGE_SECTION)["sh_offset"]
    app_part = [(at, n) for at, n in dest.writes if at >= image_at]
    assert app_part and max(n for _, n in app_part) <= 16 << 10, app_part
    plain = io.BytesIO()
    write_sections(runtime, [(IMAGE_SECTION, image.read_bytes()), (MANIFEST_SECTION, b"{}" * 20000)], plain)
    assert dest.getvalue() == plain.getvalue()


def test_the_runtimes_part_is_written_in_aligned_64_kib_pieces(static_hello: Path, tmp_path: Path) -> None:
    # The runtime's code and constants are mapped in every process of the sandbox with
    # fault-around (64 KiB around each fault): 64 KiB folios, naturally aligned, make no more
    # pages resident there and are cheaper to map and unmap than one-page folios (a first
    # 64-byte write of the ELF header used to shift every later write off alignment).
    runtime = static_hello.read_bytes()
    dest = _RecordingFile()
    write_sections(runtime, [(IMAGE_SECTION, b"image" * 5000), (MANIFEST_SECTION, b"{}")], dest)
    from elftools.elf.elffile import ELFFile

    image_at = ELFFile(io.BytesIO(dest.getvalue())).get_section_by_name(IMAGE_SECTION)["sh_offset"]
    runtime_part = [(at, n) for at, n in dest.writes if at < image_at]
    assert runtime_part[0][0] == 0
    assert all(at % (64 << 10) == 0 and n <= 64 << 10 for at, n in runtime_part), runtime_part
    assert sum(n for _, n in runtime_part) == image_at
    assert all(n == 64 << 10 for _, n in runtime_part[:-1])
