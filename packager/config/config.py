"""litebox.toml → a validated, fully resolved ``Config`` (quick mode or project mode)."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from packager.config.climounts import with_cli_listens, with_cli_mounts
from packager.config.policy import PolicyConfig, mount_collision, parse_policy
from packager.config.tomlcheck import Where, suggest, type_name
from packager.errors import PackError
from packager.paths import display_path, image_path_problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on old Pythons
    import tomli as tomllib

CONFIG_NAME = "litebox.toml"
QUICK_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/opt")
DEFAULT_LEVEL = 9  # chosen by measurement: bench/RESULTS-issue17-pack.md
DEFAULT_CHUNK = 128 * 1024


@dataclass(frozen=True)
class AppConfig:
    """[app]: what to start and with which argv tail, environment and directory."""

    name: str
    entry: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cwd: str = "/"
    kind: str | None = None  # APP_KINDS; None: detected (a .ta_head section makes a TA)


APP_KINDS = ("program", "ta")


@dataclass(frozen=True)
class BuildConfig:
    """[build]: how the image is produced."""

    source_date_epoch: int = 0
    compression_level: int = DEFAULT_LEVEL
    chunk_size: int = DEFAULT_CHUNK
    command: tuple[str, ...] = ()
    rewrite: bool = True  # pack-time syscall rewriting (packager/image/rewrite.py)


@dataclass(frozen=True)
class Config:
    """The resolved configuration of one app: every default filled, every value checked.

    ``files`` maps image paths to host paths (absolute, already resolved against the
    project directory), in the order the file gives them. ``mode`` is ``quick`` or ``project``.
    """

    mode: str
    project_dir: Path
    config_file: Path | None
    app: AppConfig
    files: tuple[tuple[str, Path], ...] = ()
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    build: BuildConfig = field(default_factory=BuildConfig)
    env_inherit: bool = False
    entry_host: Path | None = None  # quick mode: the program given on the command line
    # [target.<name>] tables as given (validated; ``path`` values absolute), by target name
    target_tables: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    def target_table(self, name: str) -> dict[str, Any]:
        """The ``[target.<name>]`` keys the file sets (validated against the plugin's options)."""
        for target, items in self.target_tables:
            if target == name:
                return {k: list(v) if isinstance(v, tuple) else v for k, v in items}
        return {}

    def files_line(self, image_path: str) -> str:
        """The ``[files]`` line that maps ``image_path``, as the user wrote it (for reasons)."""
        for img, host in self.files:
            if img == image_path:
                return f'[files] "{img}" = "{self.host_as_written(host)}"'
        return f'[files] "{image_path}"'

    def host_as_written(self, host: Path) -> str:
        """A host path relative to the project directory when inside it, else absolute."""
        return relative_to_project(host, self.project_dir)

    def to_json(self) -> dict[str, Any]:
        """The resolved config as plain JSON data (no host-specific absolute project path)."""
        return {
            "app": {
                "name": self.app.name,
                "entry": self.app.entry,
                "args": list(self.app.args),
                "env": {k: v for k, v in self.app.env},
                "cwd": self.app.cwd,
                **({"kind": self.app.kind} if self.app.kind else {}),
            },
            "files": {img: self.host_as_written(host) for img, host in self.files},
            "build": {
                "source_date_epoch": self.build.source_date_epoch,
                "compression_level": self.build.compression_level,
                "chunk_size": self.build.chunk_size,
                "command": list(self.build.command),
                "rewrite": self.build.rewrite,
            },
        }


def relative_to_project(host: Path, project_dir: Path) -> str:
    """``host`` relative to ``project_dir`` when it lies inside it, else the absolute path."""
    host_abs = os.path.abspath(host)
    top = os.path.abspath(project_dir)
    if host_abs == top:
        return "."
    if host_abs.startswith(top.rstrip("/") + "/"):
        return os.path.relpath(host_abs, top)
    return host_abs


@dataclass(frozen=True)
class Overrides:
    """Values given on the command line; each one that is not None replaces the file's."""

    name: str | None = None
    source_date_epoch: int | None = None
    compression_level: int | None = None
    chunk_size: int | None = None
    rewrite: bool | None = None
    mounts: tuple[str, ...] = ()  # --mount HOST:GUEST[:ro|rw], added to [[policy.mount]]
    listens: tuple[str, ...] = ()  # --listen ADDR:PORT, added to [policy.network] listen
    cwd: str | None = None  # --cwd: the app's working directory (overrides [app].cwd)


# ---------------------------------------------------------------------------------------------
# Schema: per section, key -> (checker, description of the expected type)

Checker = Callable[[Any], bool]


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_str_table(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(x, str) for x in v.values())


SCHEMA: dict[str, dict[str, tuple[Checker, str]]] = {
    "app": {
        "name": (_is_str, "a string"),
        "entry": (_is_str, "a string"),
        "args": (_is_str_list, "a list of strings"),
        "env": (_is_str_table, "a table of strings"),
        "cwd": (_is_str, "a string"),
        "kind": (_is_str, "a string"),
    },
    "build": {
        "source_date_epoch": (_is_int, "an integer"),
        "compression_level": (_is_int, "an integer"),
        "chunk_size": (_is_int, "an integer"),
        "command": (_is_str_list, "a list of strings"),
        "rewrite": (lambda v: isinstance(v, bool), "a boolean"),
    },
}
SECTIONS = ("app", "files", "policy", "build", "target")


class _Checker(Where):
    """Collects the context (file name) for error messages while validating one file."""

    def check_tables(self, data: Mapping[str, Any]) -> None:
        for section, value in data.items():
            if section not in SECTIONS:
                raise self.fail(f"[{section}]", "unknown section" + suggest(section, SECTIONS))
            if not isinstance(value, dict):
                raise self.fail(f"[{section}]", f"expected a table, got {type_name(value)}")
            if section == "files":
                for img, host in value.items():
                    if not isinstance(host, str):
                        raise self.fail(f'[files]."{img}"',
                                        f"expected a string (host path), got {type_name(host)}")
                continue
            if section in ("policy", "target"):
                continue  # parse_policy / _target_tables check them, sub-tables included
            schema = SCHEMA[section]
            for key, v in value.items():
                if key not in schema:
                    raise self.fail(f"[{section}].{key}", "unknown key" + suggest(key, tuple(schema)))
                ok, expected = schema[key]
                if not ok(v):
                    raise self.fail(f"[{section}].{key}", f"expected {expected}, got {type_name(v)}")


def load_toml(path: Path) -> dict[str, Any]:
    """Parses ``path`` as TOML. Promises a dict or a PackError naming the file and the problem."""
    where = display_path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PackError(f"{where}: no such file") from None
    except OSError as exc:
        raise PackError(f"{where}: cannot read: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise PackError(f"{where}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise PackError(f"{where}: invalid TOML: {exc}") from None


def _epoch_from_env() -> int | None:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return None
    try:
        epoch = int(value)
    except ValueError:
        raise PackError(f"SOURCE_DATE_EPOCH={value!r}: not an integer") from None
    if epoch < 0:
        raise PackError(f"SOURCE_DATE_EPOCH={value!r}: must not be negative")
    return epoch


def _validate_values(chk: _Checker, app: AppConfig, build: BuildConfig) -> None:
    if app.kind is not None and app.kind not in APP_KINDS:
        raise chk.fail("[app].kind", f"{app.kind!r} is not a kind of app; one of: {', '.join(APP_KINDS)}"
                       + suggest(app.kind, APP_KINDS))
    problem = image_path_problem(app.entry)
    if problem:
        raise chk.fail("[app].entry", f"{app.entry!r} {problem}")
    problem = image_path_problem(app.cwd)
    if problem:
        raise chk.fail("[app].cwd", f"{app.cwd!r} {problem}")
    if not app.name or "/" in app.name or app.name in (".", ".."):
        raise chk.fail("[app].name", f"{app.name!r} is not a valid file name")
    for key, value in app.env:
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise chk.fail("[app].env", f"{key!r} is not a valid environment variable name")
    for arg in app.args:
        if "\0" in arg:
            raise chk.fail("[app].args", "an argument contains a NUL byte")
    if build.source_date_epoch < 0:
        raise chk.fail("[build].source_date_epoch", "must not be negative")
    if not 0 <= build.compression_level <= 22:
        raise chk.fail("[build].compression_level",
                       f"{build.compression_level} is not in 0..22 (0 stores chunks uncompressed)")
    cs = build.chunk_size
    if cs < 4096 or cs > 16 << 20 or cs & (cs - 1):
        raise chk.fail("[build].chunk_size", f"{cs} is not a power of two from 4096 to 16777216")


def _apply_overrides(build: BuildConfig, over: Overrides, epoch_in_file: bool) -> BuildConfig:
    if over.source_date_epoch is not None:
        build = replace(build, source_date_epoch=over.source_date_epoch)
    elif not epoch_in_file:
        env_epoch = _epoch_from_env()
        if env_epoch is not None:
            build = replace(build, source_date_epoch=env_epoch)
    if over.compression_level is not None:
        build = replace(build, compression_level=over.compression_level)
    if over.chunk_size is not None:
        build = replace(build, chunk_size=over.chunk_size)
    if over.rewrite is not None:
        build = replace(build, rewrite=over.rewrite)
    return build


def _target_tables(chk: _Checker, tables: Mapping[str, Any], base: Path,
                   plugins: Mapping[str, Any] | None) -> tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]:
    """``[target.<name>]`` tables checked against each plugin's declared options (the plugins
    are discovered only when the file has such a table)."""
    if not tables:
        return ()
    if plugins is None:
        from packager.targets.targets import discover

        plugins = discover()
    from packager.targets.targets import validate_options

    out = []
    for name, table in tables.items():
        if name not in plugins:
            raise chk.fail(f"[target.{name}]", "unknown target" + (
                suggest(name, tuple(plugins)) or f" (known: {', '.join(plugins) or 'none'})"))
        given = validate_options(plugins[name], table, chk.fail, base)
        out.append((name, tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in given.items())))
    return tuple(out)


def load_project(project_dir: Path, config_file: Path | None = None,
                 overrides: Overrides | None = None, plugins: Mapping[str, Any] | None = None) -> Config:
    """Loads ``project_dir/litebox.toml`` (or ``config_file``) into a Config.

    Promises: every key known and of the right type, every value in range, host paths
    resolved against the config file's directory (not checked for existence here), or a
    PackError naming the file, the key and the problem. ``[target.<name>]`` tables are checked
    against ``plugins`` (name -> packager.targets.targets.Target; default: the checkout's targets).
    """
    over = overrides or Overrides()
    path = config_file if config_file is not None else project_dir / CONFIG_NAME
    if over.mounts:
        # A project's policy is its litebox.toml: grants come from there (host = "." grants the
        # directory each run starts in), never from whoever runs the pack.
        raise PackError(f"--mount {over.mounts[0]}: project mode takes its mounts from [[policy.mount]] in "
                        f"{display_path(path)} (host = \".\" grants the directory each run starts in)")
    if over.listens:
        raise PackError(f"--listen {over.listens[0]}: project mode takes its network grants from "
                        f"[policy.network] listen in {display_path(path)}")
    if config_file is None and not path.exists():
        raise PackError(f"{display_path(project_dir)}: a directory without {CONFIG_NAME} "
                        f"(write one with `litebox init {display_path(project_dir)} --app PROGRAM`)")
    data = load_toml(path)
    chk = _Checker(display_path(path))
    chk.check_tables(data)
    base = path.parent.resolve()
    a = data.get("app", {})
    if "entry" not in a:
        raise chk.fail("[app].entry", "missing (the image path of the program to start)")
    entry = a["entry"]
    app = AppConfig(
        name=over.name or a.get("name") or entry.rstrip("/").rsplit("/", 1)[-1],
        entry=entry,
        args=tuple(a.get("args", ())),
        env=tuple(a.get("env", {}).items()),
        cwd=over.cwd or a.get("cwd", "/"),
        kind=a.get("kind"),
    )
    policy = with_cli_mounts(parse_policy(chk, data.get("policy", {})), over.mounts)
    b = data.get("build", {})
    build = BuildConfig(
        source_date_epoch=b.get("source_date_epoch", 0),
        compression_level=b.get("compression_level", DEFAULT_LEVEL),
        chunk_size=b.get("chunk_size", DEFAULT_CHUNK),
        command=tuple(b.get("command", ())),
        rewrite=b.get("rewrite", True),
    )
    build = _apply_overrides(build, over, "source_date_epoch" in b)
    _validate_values(chk, app, build)
    files: list[tuple[str, Path]] = []
    for img, host in data.get("files", {}).items():
        problem = image_path_problem(img)
        if problem:
            raise chk.fail(f'[files]."{img}"', f"image path {problem}")
        if img == "/":
            raise chk.fail('[files]."/"', "cannot replace the root directory; map subdirectories")
        if not host:
            raise chk.fail(f'[files]."{img}"', "empty host path")
        files.append((img, Path(os.path.normpath(base / host))))
    packed = [(img, "dir", f'[files] "{img}"') for img, _ in files] + [(entry, "file", "[app].entry")]
    clash = mount_collision(policy.mounts, packed)
    if clash:
        raise PackError(f"{chk.where}: {clash}")
    target_tables = _target_tables(chk, data.get("target", {}), base, plugins)
    return Config(mode="project", project_dir=base, config_file=path.resolve(), app=app,
                  files=tuple(files), policy=policy, build=build, env_inherit=False,
                  target_tables=target_tables)


def quick_entry_path(host: Path) -> str:
    """Where quick mode puts the program in the image: its own path when it lives in a
    system directory (/usr /bin /sbin /lib /lib64 /opt), else ``/app/<basename>``."""
    absolute = os.path.abspath(host)
    for top in QUICK_SYSTEM_DIRS:
        if absolute.startswith(top + "/"):
            return absolute
    return "/app/" + os.path.basename(absolute)


def quick_config(program: Path, overrides: Overrides | None = None) -> Config:
    """The Config of quick mode for one ELF program: its name, its image path, the host
    environment passed through (ENV_INHERIT), build settings from flags and SOURCE_DATE_EPOCH."""
    from packager.analysis import quickhooks  # quick mode only: a project's pack does not import it

    over = overrides or Overrides()
    host = Path(os.path.abspath(program))
    entry = quick_entry_path(host)
    app = AppConfig(name=over.name or host.name, entry=entry, args=quickhooks.program_args(host),
                    cwd=over.cwd or "/")
    build = _apply_overrides(BuildConfig(), over, False)
    _validate_values(_Checker(display_path(host)), app, build)
    return Config(mode="quick", project_dir=host.parent, config_file=None, app=app,
                  files=(), policy=with_cli_listens(with_cli_mounts(PolicyConfig(), over.mounts), over.listens),
                  build=build, env_inherit=True,
                  entry_host=host)


def load(app_arg: Path, config_file: Path | None = None, overrides: Overrides | None = None,
         plugins: Mapping[str, Any] | None = None) -> Config:
    """Config for ``litebox pack APP``: a directory is a project (its litebox.toml, or
    ``config_file``); a file is a program packed in quick mode (no ``[target.*]`` tables)."""
    if app_arg.is_dir():
        return load_project(app_arg, config_file, overrides, plugins)
    if config_file is not None:
        raise PackError(f"{display_path(app_arg)}: --config applies to a project directory, "
                        "not to a program (quick mode)")
    if not app_arg.exists():
        raise PackError(f"{display_path(app_arg)}: no such file or directory")
    return quick_config(app_arg, overrides)
