"""The `litebox` command line: pack, inspect, verify, run, targets, init."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from packager import __version__
from packager.build.progress import Progress
from packager.config.config import Overrides
from packager.errors import PackError
from packager.paths import display_path

EXIT_CODES = """\
exit codes:
  0  success
  1  verify found a difference; inspect found the artifact altered (it does not match
     its recorded digests)
  N  `litebox run`: the app's own exit code, passed through (also with --trace and --learn)
  2  usage or input error (bad config, not an ELF, missing library, build failure...)
"""

MAIN_HELP = """\
Package an unmodified Linux program into one sandboxed executable per target.

  litebox pack ./myprog                      quick mode: one ELF program
  litebox pack examples/hello-dynamic        project mode: a directory with litebox.toml
  ./dist/myprog-linux-userland arg1 arg2     run the result
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="litebox", description=MAIN_HELP, epilog=EXIT_CODES,
                                formatter_class=_Formatter)
    p.add_argument("--version", action="version", version=f"litebox {__version__}")
    sub = p.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True

    pk = sub.add_parser("pack", formatter_class=_Formatter, epilog=EXIT_CODES,
                        help="build the sandboxed executable(s) and manifests",
                        description="""\
Pack APP for each target. APP is an ELF program (quick mode: packed with its interpreter and
libraries, the host environment passes through), a directory holding litebox.toml (project
mode), or a container image: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE (the
app from its config; ExposedPorts are suggested, never granted; a litebox.toml beside the
image overrides). Writes DIR/NAME-TARGET (mode 0755) and DIR/NAME-TARGET.manifest.json. A second
identical pack rebuilds nothing and says it is up to date.

examples:
  litebox pack /usr/bin/true
  litebox pack examples/hello-dynamic --out-dir build/dist -v
  litebox pack . --json | jq -r '.artifacts[0].path'
  litebox pack oci:./busybox-oci:latest --provenance-key release.pem --cache-dir /shared/litebox""")
    pk.add_argument("app", metavar="APP", type=Path,
                    help="ELF program, project directory, or oci:DIR[:TAG] / oci-archive:FILE / docker-archive:FILE")
    pk.add_argument("--target", "-t", action="append", dest="targets", metavar="T",
                    help="target to build (repeatable; default linux-userland; see `litebox targets`)")
    pk.add_argument("--out-dir", "-o", type=Path, default=Path("dist"), metavar="DIR",
                    help="where artifacts go (default: dist)")
    pk.add_argument("--config", "-c", type=Path, metavar="FILE",
                    help="use FILE instead of APP/litebox.toml (project mode)")
    pk.add_argument("--name", help="override [app].name")
    pk.add_argument("--source-date-epoch", type=int, metavar="N",
                    help="override [build].source_date_epoch (mtime of packed files)")
    pk.add_argument("--compression-level", type=int, metavar="N", help="override [build].compression_level")
    pk.add_argument("--chunk-size", type=int, metavar="N", help="override [build].chunk_size")
    pk.add_argument("--no-rewrite", dest="rewrite", action="store_const", const=False, default=None,
                    help="do not rewrite syscall instructions at pack time (every syscall traps; "
                         "overrides [build].rewrite)")
    pk.add_argument("--mount", action="append", default=[], metavar="HOST:GUEST[:ro|rw]",
                    help="grant a host directory at GUEST (repeatable; read-only unless :rw), added to the "
                         "policy like [[policy.mount]]; a relative HOST is resolved when the artifact starts, "
                         "so --mount .:/work grants the directory each run starts in")
    pk.add_argument("--listen", action="append", default=[], metavar="ADDR:PORT",
                    help="quick mode: let the app bind ADDR:PORT (repeatable; IPv6 in brackets, e.g. [::]:80), "
                         "added to the policy like [policy.network] listen; `litebox run --learn` names "
                         "the addresses a service tried")
    pk.add_argument("--cwd", metavar="GUEST",
                    help="the app's working directory (overrides [app].cwd; e.g. /work with --mount .:/work, "
                         "so that `./dist/wc-linux-userland notes.txt` reads ./notes.txt)")
    pk.add_argument("--json", action="store_true",
                    help='print one JSON object on stdout: {"artifacts": [{"target", "path", "sha256", '
                         '"manifest"}]}; progress stays on stderr')
    pk.add_argument("--cache-dir", type=Path, metavar="DIR",
                    help="a build cache several packs or CI runners may share (default: $LITEBOX_CACHE_DIR, "
                         "else none): runtimes and images built from the same inputs are taken from it")
    pk.add_argument("--provenance-key", type=Path, metavar="KEY",
                    help="write NAME-TARGET.intoto.json: in-toto/SLSA v1 provenance in a DSSE envelope signed "
                         "with KEY (an unencrypted PEM private key: Ed25519, ECDSA or RSA)")
    pk.add_argument("--provenance", action="store_true",
                    help="write the provenance envelope unsigned, plus NAME-TARGET.intoto.json.pae (the bytes "
                         "to sign) and .pae.sha256 (their digest), for a key in a KMS; then "
                         "`litebox sign-provenance` adds the signature")
    pk.add_argument("--builder-id", metavar="URI",
                    help="the provenance's builder.id (default: $LITEBOX_BUILDER_ID, else litebox-pack's own URI); "
                         "CI jobs name their runner, e.g. the workflow run URL")
    pk.add_argument("-v", "--verbose", action="store_true", help="show detail and tool output")
    pk.add_argument("-q", "--quiet", action="store_true",
                    help="print nothing but warnings and errors (default: one line per step, with a live "
                         "count of files and bytes on a terminal; plain lines when not a terminal or CI=true)")

    sp = sub.add_parser("sign-provenance", formatter_class=_Formatter, epilog=EXIT_CODES,
                        help="add a signature to a provenance envelope (a local key, or a KMS's signature)",
                        description="""\
Add a signature to ENVELOPE (NAME-TARGET.intoto.json written by `litebox pack --provenance`).
Either --key KEY signs here with a PEM private key, or --signature SIG --public-key PUB adds a
signature made elsewhere (a KMS) over the bytes in ENVELOPE.pae (raw bytes or base64 text);
it must verify with PUB before it is added.

examples:
  litebox pack . --provenance --out-dir dist
  aws kms sign --key-id alias/release --message fileb://dist/app-linux-userland.intoto.json.pae \\
      --message-type RAW --signing-algorithm ECDSA_SHA_256 --query Signature --output text > sig.b64
  litebox sign-provenance dist/app-linux-userland.intoto.json --signature sig.b64 --public-key release.pub""")
    sp.add_argument("envelope", metavar="ENVELOPE", type=Path)
    sp.add_argument("--key", type=Path, metavar="KEY", help="sign with this PEM private key")
    sp.add_argument("--signature", type=Path, metavar="SIG", help="a signature over ENVELOPE.pae made elsewhere")
    sp.add_argument("--public-key", type=Path, metavar="PUB", help="the PEM public key that checks --signature")

    ins = sub.add_parser("inspect", formatter_class=_Formatter, epilog=EXIT_CODES,
                         help="show what an artifact contains and why",
                         description="""\
Show an artifact's embedded manifest: target, runtime and image digests, the argv and
environment the app will see, the policy, and every packed file with its size, mode and the
reason it is there (entry, interpreter of X, needed by X → libfoo.so, or its [files] line).
Also checks the image's root digest and every chunk digest.

examples:
  litebox inspect dist/hello-linux-userland
  litebox inspect dist/hello-linux-userland --json | jq '.entries[] | .path'""")
    ins.add_argument("artifact", metavar="ARTIFACT", type=Path)
    ins.add_argument("--json", action="store_true", help="print the report as one JSON object")

    ver = sub.add_parser("verify", formatter_class=_Formatter, epilog=EXIT_CODES,
                         help="rebuild from the recorded inputs and compare bit for bit",
                         description="""\
Rebuild ARTIFACT from the inputs its manifest records (in a temporary directory) and compare:
first every input's sha256 (the first that differs is named), then the runtime, the image and
the artifact digests. Prints "verified" and exits 0 on bit-for-bit equality; exits 1 naming the
first difference. The project is found from the build state beside the artifact's directory,
else --project, else the current directory.

examples:
  litebox verify dist/hello-linux-userland
  litebox verify release/app-linux-userland --manifest release/app-linux-userland.manifest.json""")
    ver.add_argument("artifact", metavar="ARTIFACT", type=Path)
    ver.add_argument("--manifest", type=Path, metavar="FILE",
                     help="compare against FILE (e.g. a trusted sidecar) instead of the embedded manifest")
    ver.add_argument("--project", type=Path, metavar="DIR",
                     help="project directory (or quick-mode program's directory) to rebuild from")
    ver.add_argument("--provenance", type=Path, metavar="FILE",
                     help="first check FILE (a DSSE in-toto/SLSA v1 envelope): signed by --key, subject this "
                          "artifact, inputs those its manifest records")
    ver.add_argument("--key", type=Path, metavar="PUB", help="the PEM public key that must have signed --provenance")
    ver.add_argument("-v", "--verbose", action="store_true", help="show the rebuild's progress in detail")
    ver.add_argument("-q", "--quiet", action="store_true", help="print only the result")

    run = sub.add_parser("run", formatter_class=_Formatter, epilog=EXIT_CODES,
                         help="run an artifact; --trace its syscalls, --learn what it needs",
                         description="""\
Run ARTIFACT with the target's runner; arguments after -- go to the app (after the args its
config gives). Options may come before or after ARTIFACT, but before --. The app's exit code
is passed through, with --trace and --learn too.

--trace    sets LITEBOX_TRACE=1 for the artifact: the runtime prints one strace-like line per
           syscall of the app on stderr. --trace-file F sets LITEBOX_TRACE=/abs/F instead
           (the runtime appends the lines to F; implies --trace).
--learn    runs the app once with LITEBOX_LEARN=<a fresh temporary file>. The runtime records
           what the app asked for beyond its image and policy: paths it looked up that the
           image lacks, programs it tried to execute, addresses it connected to and binds the
           policy denied. Afterwards litebox prints a TOML snippet to review: a [files] table
           mapping each such path this host has to itself (paths the host lacks are listed as
           comments) and [policy.network] listen/connect lists. NOTHING IS GRANTED: copy what
           you want into litebox.toml and pack again. --learn-out FILE writes the snippet to
           FILE instead of stdout (implies --learn). Record format: docs/targets/linux-userland.md.
           (--trace and --learn: linux-userland artifacts only.)

A kvm artifact boots in QEMU -M microvm: stdout and stderr arrive on yours, stdin is read to
EOF first unless it is a terminal, the first Ctrl-C (or SIGTERM) goes to the app as SIGINT
(SIGTERM) and a second one stops the VM. A policy with [policy.network] rules gives the VM a
network: each listen rule becomes a forward of that host address and port into the VM.
  LITEBOX_KVM_TIMEOUT=SECONDS  stop the VM after this long (default 600; 0 = never, services)
  LITEBOX_KVM_ACCEL=tcg|kvm|auto  QEMU's accelerator (auto: KVM only after a probe boot
                               proved it works; `litebox targets` shows the decision)
  LITEBOX_QEMU=PATH            the QEMU to boot with (default: litebox's lean build from
                               ./scripts/build-qemu when it matches the installed QEMU's
                               version, else qemu-system-x86_64 on PATH; `litebox targets`
                               shows which)

examples:
  litebox run dist/hello-linux-userland -- --name world
  litebox run --trace dist/server-linux-userland -- --port 8080 2> trace.txt
  litebox run --trace-file /tmp/trace.txt dist/server-linux-userland
  litebox run --learn dist/myapp-linux-userland -- input.txt
  LITEBOX_KVM_TIMEOUT=0 litebox run dist/http-service-kvm     # a service in the VM

  # a learn run of an app that read /etc/ssl/certs and connected to a database prints:
  # Learned by `litebox run --learn` from one run of dist/myapp-linux-userland.
  # NOTHING WAS GRANTED. ...
  [files]
  "/etc/ssl/certs" = "/etc/ssl/certs"  # a directory: packs everything under it
  # /etc/myapp.conf  (does not exist on this host)

  [policy.network]
  connect = ["127.0.0.1:5432"]""")
    run.add_argument("--trace", action="store_true",
                     help="print one line per app syscall on stderr (LITEBOX_TRACE=1)")
    run.add_argument("--trace-file", type=Path, metavar="F",
                     help="append the trace to F instead (LITEBOX_TRACE=/abs/F; implies --trace)")
    run.add_argument("--learn", action="store_true",
                     help="after the run, print a litebox.toml snippet of what the app asked for "
                          "beyond its image and policy (nothing is granted)")
    run.add_argument("--learn-out", type=Path, metavar="FILE",
                     help="write the learned snippet to FILE instead of stdout (implies --learn)")
    run.add_argument("artifact", metavar="ARTIFACT", type=Path)
    run.add_argument("args", nargs=argparse.REMAINDER, metavar="-- ARGS")

    tg = sub.add_parser("targets", formatter_class=_Formatter, epilog=EXIT_CODES,
                        help="list targets and what this machine has or lacks for each",
                        description="""\
List every target (one folder under platform_targets/ each) with a checklist of what this
machine has (✓) or lacks (✗) to build and run it, and what to install. Items marked
(optional) are enforcement layers the runtime uses when the host has them (for
linux-userland: Landlock and user namespaces; seccomp is always used and required); their
absence does not make a target "not ready". --json gives each check as
{"item", "ok", "detail", "required"}.

examples:
  litebox targets
  litebox targets --json""")
    tg.add_argument("--json", action="store_true", help="print the checklist as JSON")

    it = sub.add_parser("init", formatter_class=_Formatter, epilog=EXIT_CODES,
                        help="write a commented litebox.toml for a program",
                        description="""\
Write DIR/litebox.toml (default: the current directory) for the program PATH, from
templates/litebox.toml, with every key commented, or from a template for a common service
(--template nginx, python-http, static-binary). Refuses to overwrite an existing file.

examples:
  litebox init myapp --app /usr/bin/python3
  litebox init web --template python-http
  litebox init site --template nginx --port 8081
  litebox init svc --template static-binary --app ./server
  litebox init --app ./build/server""")
    it.add_argument("dir", nargs="?", type=Path, default=Path("."), metavar="DIR")
    it.add_argument("--app", type=Path, metavar="PATH",
                    help="the program to start (required unless the template names one)")
    it.add_argument("--template", default="default", metavar="NAME",
                    help="start from templates/NAME.toml: default (every key, commented), nginx (Debian's "
                         "nginx, master/worker, on 127.0.0.1:PORT), python-http (python3's http.server "
                         "on 127.0.0.1:PORT), "
                         "static-binary (a static Go or Rust program; needs --app)")
    it.add_argument("--port", type=int, default=8080, metavar="N",
                    help="the loopback port a service template (nginx, python-http) listens on "
                         "(default: 8080)")
    return p


def _cmd_pack(args: argparse.Namespace) -> int:
    from packager.build.driver import pack

    progress = Progress(sys.stderr, verbose=args.verbose, quiet=args.quiet and not args.verbose)
    overrides = Overrides(name=args.name, source_date_epoch=args.source_date_epoch,
                          compression_level=args.compression_level, chunk_size=args.chunk_size,
                          rewrite=args.rewrite, mounts=tuple(args.mount), listens=tuple(args.listen),
                          cwd=args.cwd)
    from packager.build.sharedcache import cache_dir_from

    result = pack(args.app, args.targets or ["linux-userland"], args.out_dir, args.config, overrides, progress,
                  cache_dir=cache_dir_from(args.cache_dir))
    provenance = _write_provenance(args, result.artifacts)
    if args.json:
        doc = {"artifacts": [{"target": a.target, "path": str(a.path), "sha256": a.sha256,
                              "manifest": str(a.manifest), "sbom": str(a.sbom) if a.sbom else None,
                              "provenance": provenance.get(a.path)}
                             for a in result.artifacts]}
        sys.stdout.write(json.dumps(doc) + "\n")
    return 0


def _write_provenance(args: argparse.Namespace, artifacts: list[Any]) -> dict[Path, str]:
    """With --provenance or --provenance-key: each artifact's DSSE provenance envelope."""
    if not (args.provenance or args.provenance_key):
        return {}
    import os

    from packager.build.provenance import DEFAULT_BUILDER, SUFFIX, load_private_key, make_statement, write_envelope

    signer = load_private_key(args.provenance_key) if args.provenance_key else None
    builder = args.builder_id or os.environ.get("LITEBOX_BUILDER_ID") or DEFAULT_BUILDER
    out = {}
    for a in artifacts:
        sidecar = json.loads(a.manifest.read_bytes())
        statement = make_statement(sidecar, a.path, [p for p in (a.manifest, a.sbom) if p], builder)
        envelope = a.path.with_name(a.path.name + SUFFIX)
        write_envelope(statement, envelope, signer)
        out[a.path] = str(envelope)
        if not args.json:
            print(f"litebox: wrote {display_path(envelope)} ({'signed' if signer else 'unsigned: sign its .pae'})",
                  file=sys.stderr)
    return out


def _cmd_sign_provenance(args: argparse.Namespace) -> int:
    from packager.build.provenance import attach_signature, load_private_key, read_envelope

    if args.key and not (args.signature or args.public_key):
        import json as _json

        envelope = read_envelope(args.envelope)
        envelope.sign(load_private_key(args.key))
        args.envelope.write_text(_json.dumps(envelope.to_dict(), sort_keys=True) + "\n", encoding="utf-8")
        print(f"signed {display_path(args.envelope)}")
        return 0
    if not (args.signature and args.public_key) or args.key:
        raise PackError("sign-provenance: give --key KEY, or --signature SIG with --public-key PUB")
    try:
        signature = args.signature.read_bytes()
    except OSError as exc:
        raise PackError(f"{args.signature}: cannot read: {exc.strerror}") from None
    keyid = attach_signature(args.envelope, signature, args.public_key)
    print(f"added the signature of key {keyid} to {display_path(args.envelope)}")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from packager.commands.inspection import format_report, open_artifact, report

    r = report(open_artifact(args.artifact))
    if args.json:
        sys.stdout.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
    else:
        print(format_report(r))
    if not r["integrity_ok"]:
        print(f"litebox: inspect: {display_path(args.artifact)}: {r['image']['integrity']}", file=sys.stderr)
        return 1
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from packager.commands.verify import verify

    if args.provenance or args.key:
        if not (args.provenance and args.key):
            raise PackError("verify: --provenance FILE and --key PUB go together")
        import hashlib

        from packager.build.provenance import check_provenance
        from packager.commands.inspection import read_embedded_manifest

        try:
            digest = hashlib.sha256(args.artifact.read_bytes()).hexdigest()
        except OSError as exc:
            raise PackError(f"{args.artifact}: cannot read: {exc.strerror}") from None
        problem = check_provenance(args.provenance, args.key, digest, read_embedded_manifest(args.artifact))
        if problem:
            print(f"litebox: verify: {display_path(args.artifact)}: {problem}", file=sys.stderr)
            return 1
        print(f"litebox: provenance {display_path(args.provenance)}: signature, subject and inputs match",
              file=sys.stderr)
    result = verify(args.artifact, args.manifest, args.project,
                    Progress(sys.stderr, verbose=args.verbose, quiet=args.quiet and not args.verbose))
    if result.ok:
        print("verified")
        return 0
    print(f"litebox: verify: {display_path(args.artifact)}: {result.message}", file=sys.stderr)
    return 1


def _cmd_run(args: argparse.Namespace) -> int:
    from packager.build.artifact import read_embedded_manifest  # light: no pyelftools, no cryptography
    from packager.commands.runcmd import RunOptions, run_artifact, split_run_args
    from packager.targets.targets import get

    late, rest = split_run_args(list(args.args))
    trace_file = late.get("--trace-file", args.trace_file)
    learn_out = late.get("--learn-out", args.learn_out)
    opts = RunOptions(
        trace=bool(late.get("--trace", args.trace)),
        trace_file=Path(trace_file) if trace_file is not None else None,
        learn=bool(late.get("--learn", args.learn)) or learn_out is not None,
        learn_out=Path(learn_out) if learn_out is not None else None,
    )
    # Only the manifest is read here: a damaged image is for the runtime to refuse (exit 121/122).
    target = read_embedded_manifest(args.artifact).get("target", "")
    plugin = get(target)
    sys.stdout.flush()
    sys.stderr.flush()
    return run_artifact(args.artifact, rest, opts, plugin.plugin.run, target,
                        trace_learn=plugin.capabilities.trace_learn)


def _cmd_targets(args: argparse.Namespace) -> int:
    from packager.targets.targets import discover

    found = discover()
    rows = []
    for t in found.values():
        items = t.checklist()
        caps = t.capabilities
        rows.append({"target": t.name, "description": t.description,
                     "ready": all(c["ok"] or not c["required"] for c in items),
                     "checks": items,
                     "runtime": t.runtime_origin(),
                     "capabilities": {"artifact_kind": caps.artifact_kind, "rewrites": caps.rewrites,
                                      "rewrite_entry": caps.rewrite_entry, "trace_learn": caps.trace_learn},
                     "options": [{"key": o.name, "type": o.type, "default": o.default, "doc": o.doc,
                                  "choices": list(o.choices), "env": o.env} for o in t.options]})
    if args.json:
        sys.stdout.write(json.dumps({"targets": rows}, ensure_ascii=False) + "\n")
        return 0
    for row in rows:
        state = "ready" if row["ready"] else "not ready"
        print(f"{row['target']}: {state} — {row['description']}")
        print(f"  runtime: {row['runtime']['kind']}: {row['runtime']['detail']}")
        for c in row["checks"]:
            optional = "" if c["required"] else " (optional)"
            print(f"  {'✓' if c['ok'] else '✗'} {c['item']}{optional}: {c['detail']}")
        for o in row["options"]:
            print(f"  [target.{row['target']}] {o['key']} ({o['type']}): {o['doc']}")
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    from packager.commands.initcmd import init

    path = init(args.dir, args.app, args.template, args.port)
    print(f"wrote {display_path(path)}; pack it with: litebox pack {display_path(args.dir)}")
    return 0


COMMANDS = {"pack": _cmd_pack, "inspect": _cmd_inspect, "verify": _cmd_verify, "run": _cmd_run,
            "targets": _cmd_targets, "init": _cmd_init, "sign-provenance": _cmd_sign_provenance}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `litebox` console script. Returns the process exit status: 0 ok,
    1 verify mismatch or app failure, 2 usage or input error (printed as one line)."""
    args = _parser().parse_args(argv)
    from packager.build.children import Terminated, terminate_as_interrupt

    if args.verb in ("pack", "verify"):
        terminate_as_interrupt()  # `kill PID` cleans up as Ctrl-C does (children, temporary files)
    try:
        return COMMANDS[args.verb](args)
    except Terminated:
        print("litebox: terminated (SIGTERM): stopped every child process, removed temporary files",
              file=sys.stderr)
        return 143
    except PackError as exc:
        print(f"litebox: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("litebox: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`litebox inspect … | head`): not an error of ours. Point stdout
        # at /dev/null so the interpreter's final flush does not complain again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
