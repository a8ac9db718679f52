"""`litebox init`: a commented litebox.toml for an existing program, from templates/."""
from __future__ import annotations

import os
from pathlib import Path

from packager.analysis.elfinfo import read_elf
from packager.config.config import CONFIG_NAME, load_project, quick_entry_path
from packager.errors import PackError
from packager.paths import display_path
from packager.targets.targets import repo_root

TEMPLATE = "litebox.toml"


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(project_dir: Path, app: Path, template: str) -> str:
    """The litebox.toml text for ``app`` in ``project_dir``: a program in a system directory
    is used in place; any other is mapped under /app by a [files] line."""
    host = Path(os.path.abspath(app))
    entry = quick_entry_path(host)
    name = host.name
    if entry.startswith("/app/"):
        rel = os.path.relpath(host, os.path.abspath(project_dir))
        files_line = f"{_toml_str(entry)} = {_toml_str(rel)}"
    else:
        files_line = '# "/app" = "src"'
    return template.format(name=name, entry=entry, files_line=files_line,
                           project_dir=display_path(project_dir))


def init(project_dir: Path, app: Path) -> Path:
    """Writes ``project_dir/litebox.toml`` for program ``app``. Refuses to overwrite an existing
    file; checks the program is an x86-64 ELF and that the result loads. Returns the path."""
    read_elf(app)
    target = project_dir / CONFIG_NAME
    if target.exists():
        raise PackError(f"{display_path(target)}: already exists; not overwriting it")
    template = (repo_root() / "templates" / TEMPLATE).read_text(encoding="utf-8")
    text = render(project_dir, app, template)
    project_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise PackError(f"{display_path(target)}: already exists; not overwriting it") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    try:
        load_project(project_dir)
    except PackError:
        target.unlink()
        raise
    return target
