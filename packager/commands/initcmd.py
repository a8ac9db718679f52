"""`litebox init`: a commented litebox.toml for an existing program, from templates/."""
from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from packager.analysis import quickhooks
from packager.analysis.elfinfo import read_elf
from packager.config.config import CONFIG_NAME, load_project, quick_entry_path
from packager.errors import PackError
from packager.paths import display_path
from packager.targets.targets import repo_root

TEMPLATE = "litebox.toml"
# litebox init --template NAME: the file under templates/ and the program it is for by default
# (None: --app is required).
TEMPLATES: dict[str, tuple[str, str | None]] = {
    "default": (TEMPLATE, None),
    "nginx": ("nginx.toml", "/usr/sbin/nginx"),
    "python-http": ("python-http.toml", "/usr/bin/python3"),
    "static-binary": ("static-binary.toml", None),
}
# Files a template needs beside litebox.toml: template NAME → (file under templates/, path in
# the project). Only ``{port}`` is substituted in them (nginx's own braces stay as they are).
COMPANIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "nginx": (("nginx-site.conf", "sites-enabled/default"),),
}
DEFAULT_PORT = 8080


def _python_lib() -> str:
    """The newest /usr/lib/python3.N of this host (the standard library python3 needs)."""
    found = sorted(Path("/usr/lib").glob("python3.[0-9]*"), key=lambda p: [int(x) for x in p.name[7:].split(".")
                                                                           if x.isdigit()])
    return str(found[-1]) if found else "/usr/lib/python3"


def _nginx_etc(etc: Path = Path("/etc/nginx")) -> str:
    """[files] lines packing each entry of the host's /etc/nginx at its own path, except
    sites-enabled (the template packs its own site there)."""
    try:
        names = sorted(p.name for p in etc.iterdir() if p.name != "sites-enabled")
    except OSError:
        return f"# {etc} is not on this host: install nginx, then run litebox init again"
    return "\n".join(f"{_toml_str(str(etc / n))} = {_toml_str(str(etc / n))}" for n in names)


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


SCRATCH = "scratch"  # init --app: the hooks' writable directories, made empty beside litebox.toml


def _hook_lines(app: Path) -> tuple[list[str], tuple[str, ...], list[str]]:
    """What the quick-mode hooks that match ``app`` by name know, as a project: [files] lines
    for their paths that exist here, their ``args``, and their writable directories (each
    packed from an empty ``scratch/DIR`` beside litebox.toml)."""
    files: list[str] = []
    scratch: list[str] = []
    for hook in quickhooks.load_hooks():
        if not any(fnmatch.fnmatch(n, g) for n in {app.name, Path(os.path.realpath(app)).name}
                   for g in hook.programs):
            continue
        files.append(f"# from hooks/{hook.name}.toml: {hook.doc}")
        files += [f"{_toml_str(p)} = {_toml_str(p)}" for p in quickhooks.hook_paths(hook)]
        for d in hook.writable:
            files.append(f"{_toml_str(d)} = {_toml_str(SCRATCH + d)}   # empty: writes go to the in-memory layer")
            scratch.append(d)
    return files, quickhooks.program_args(app), scratch


def render(project_dir: Path, app: Path, template: str, port: int = DEFAULT_PORT) -> str:
    """The litebox.toml text for ``app`` in ``project_dir``: a program in a system directory
    is used in place; any other is mapped under /app by a [files] line; a service template
    listens on ``port``."""
    host = Path(os.path.abspath(app))
    entry = quick_entry_path(host)
    name = host.name
    if entry.startswith("/app/"):
        rel = os.path.relpath(host, os.path.abspath(project_dir))
        files_line = f"{_toml_str(entry)} = {_toml_str(rel)}"
    else:
        files_line = '# "/app" = "src"'
    nginx_etc = _nginx_etc() if "{nginx_etc}" in template else ""
    if "{files_line}" in template and "\nargs = []" in template:  # the default template: the hooks
        hook_files, args, _ = _hook_lines(host)
        files_line = "\n".join([files_line, *hook_files])
        if args:
            template = template.replace("\nargs = []", "\nargs = [" + ", ".join(_toml_str(a) for a in args) + "]", 1)
    return template.format(name=name, entry=entry, files_line=files_line, port=port, nginx_etc=nginx_etc,
                           project_dir=display_path(project_dir), python_lib=_python_lib())


def init(project_dir: Path, app: Path | None, template_name: str = "default", port: int = DEFAULT_PORT) -> Path:
    """Writes ``project_dir/litebox.toml`` for program ``app`` from template ``template_name``
    (TEMPLATES; a template for a known service has a default program), and the files the
    template needs beside it (COMPANIONS), a service listening on ``port``. Refuses to
    overwrite an existing file; checks the program is an x86-64 ELF and that the result loads."""
    if template_name not in TEMPLATES:
        raise PackError(f"--template {template_name}: unknown (known: {', '.join(TEMPLATES)})")
    if not 1 <= port <= 65535:
        raise PackError(f"--port {port}: not a TCP port (1..65535)")
    file_name, default_app = TEMPLATES[template_name]
    if app is None:
        if default_app is None:
            raise PackError(f"--template {template_name}: needs --app PATH (the program to pack)")
        app = Path(default_app)
        if not app.exists():
            raise PackError(f"--template {template_name}: {app} is not installed here; install it "
                            f"(Debian: apt-get install {app.name}) or pass --app PATH")
    read_elf(app)
    target = project_dir / CONFIG_NAME
    companions = [(repo_root() / "templates" / src, project_dir / dest)
                  for src, dest in COMPANIONS.get(template_name, ())]
    for path in [target, *(dest for _, dest in companions)]:
        if path.exists():
            raise PackError(f"{display_path(path)}: already exists; not overwriting it")
    template = (repo_root() / "templates" / file_name).read_text(encoding="utf-8")
    text = render(project_dir, app, template, port)
    project_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise PackError(f"{display_path(target)}: already exists; not overwriting it") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    if template_name == "default":
        for d in _hook_lines(Path(os.path.abspath(app)))[2]:
            (project_dir / (SCRATCH + d)).mkdir(parents=True, exist_ok=True)
    for src, dest in companions:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(src.read_text(encoding="utf-8").replace("{port}", str(port)), encoding="utf-8")
    try:
        load_project(project_dir)
    except PackError:
        target.unlink()
        for _, dest in companions:
            dest.unlink()
        raise
    return target
