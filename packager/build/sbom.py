"""The SBOM written beside each artifact: ``NAME-TARGET.spdx.json``, an SPDX 2.3 JSON document.

It describes the artifact (a package, by sha256) made of the runtime (a package, by sha256,
depending on the crates its Cargo.lock resolves: name, version, crates.io checksum, purl) and
of the packed files (each by image path, SHA1 and SHA256). A packed host file that a Debian
package installed (from the dpkg database) is related (OTHER, "installed ... by this Debian
package") to that package's element: name, version, purl, and its license where the
package's machine-readable copyright file says.
The document is deterministic: its time is the build's source date epoch and its namespace
is derived from the artifact's digest.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packager import __version__

if TYPE_CHECKING:  # the dpkg database reader is imported when an SBOM is made, not by every pack
    from packager.build.dpkgdb import DebPackage, DpkgDatabase

SUFFIX = ".spdx.json"
NAMESPACE = "https://spdx.litebox-pack.invalid"

# Debian copyright short names (DEP-5) and their SPDX identifiers; others become LicenseRefs.
DEBIAN_TO_SPDX = {
    "GPL-2": "GPL-2.0-only", "GPL-2+": "GPL-2.0-or-later", "GPL-3": "GPL-3.0-only", "GPL-3+": "GPL-3.0-or-later",
    "LGPL-2": "LGPL-2.0-only", "LGPL-2+": "LGPL-2.0-or-later", "LGPL-2.1": "LGPL-2.1-only",
    "LGPL-2.1+": "LGPL-2.1-or-later", "LGPL-3": "LGPL-3.0-only", "LGPL-3+": "LGPL-3.0-or-later",
    "Expat": "MIT", "MIT": "MIT", "BSD-2-clause": "BSD-2-Clause", "BSD-3-clause": "BSD-3-Clause",
    "BSD-4-clause": "BSD-4-Clause", "Apache-2.0": "Apache-2.0", "Zlib": "Zlib", "ISC": "ISC",
    "MPL-2.0": "MPL-2.0", "public-domain": "LicenseRef-Debian-public-domain", "Artistic": "Artistic-1.0-Perl",
    "PSF-2": "PSF-2.0", "OpenSSL": "OpenSSL", "curl": "curl", "BSL-1.0": "BSL-1.0",
}


def _spdx_id(*parts: str) -> str:
    return "SPDXRef-" + "-".join(re.sub(r"[^A-Za-z0-9.]+", ".", p).strip(".") or "x" for p in parts)


def _license_expression(debian: str | None, extracted: dict[str, str]) -> str:
    """An SPDX expression for a Debian license field; unknown names become LicenseRef-Debian-*
    (recorded in ``extracted``); nothing said gives NOASSERTION."""
    if not debian:
        return "NOASSERTION"
    out = []
    for token in re.split(r"\s+(and|or|with)\s+", debian.strip(), flags=re.I):
        low = token.lower()
        if low in ("and", "or", "with"):
            out.append(low.upper())
            continue
        spdx = DEBIAN_TO_SPDX.get(token)
        if spdx is None:
            spdx = "LicenseRef-Debian-" + (re.sub(r"[^A-Za-z0-9.]+", "-", token).strip("-") or "unknown")
        if spdx.startswith("LicenseRef-"):
            extracted[spdx] = token
        out.append(spdx)
    return " ".join(out)


def _crates(lock_path: Path, root_package: str | None) -> list[dict[str, Any]]:
    """The Cargo.lock packages ``root_package`` needs (itself excluded; every package when
    the root is unknown), each with name, version, source and checksum."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        lock = tomllib.loads(lock_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    packages = lock.get("package", [])
    by_name: dict[str, list[dict[str, Any]]] = {}
    for p in packages:
        by_name.setdefault(p["name"], []).append(p)

    def find(dep: str) -> dict[str, Any] | None:
        name, _, rest = dep.partition(" ")
        version = rest.split(" ")[0] if rest else None
        return next((p for p in by_name.get(name, []) if version is None or p["version"] == version), None)

    roots = by_name.get(root_package or "", [])
    if not roots:
        return sorted(packages, key=lambda p: (p["name"], p["version"]))
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    todo = [roots[0]]
    while todo:
        p = todo.pop()
        for dep in p.get("dependencies", []):
            found = find(dep)
            if found is not None and (found["name"], found["version"]) not in seen:
                seen[(found["name"], found["version"])] = found
                todo.append(found)
    return sorted(seen.values(), key=lambda p: (p["name"], p["version"]))


def _host_sha1(host: Path, sha256: str) -> str | None:
    """The SHA-1 of ``host`` if its SHA-256 is still ``sha256`` (read in blocks: memory stays
    bounded whatever the file's size); None when it changed or cannot be read."""
    h1, h256 = hashlib.sha1(), hashlib.sha256()
    try:
        with host.open("rb") as f:
            while block := f.read(1 << 20):
                h1.update(block)
                h256.update(block)
    except OSError:
        return None
    return h1.hexdigest() if h256.hexdigest() == sha256 else None


def make_sbom(manifest: dict[str, Any], artifact_name: str, project_dir: Path, plan: dict[str, Any],
              cargo_lock: Path, runtime_package: str | None, dpkg: DpkgDatabase | None = None) -> dict[str, Any]:
    """The SPDX 2.3 document (as a dict) for the artifact the sidecar ``manifest`` describes."""
    if not dpkg:
        from packager.build.dpkgdb import DpkgDatabase

        dpkg = DpkgDatabase()
    art_sha = manifest["artifact"]["sha256"]
    created = datetime.fromtimestamp(int(manifest.get("source_date_epoch") or 0), tz=timezone.utc)
    extracted: dict[str, str] = {}
    art_id, rt_id = "SPDXRef-Artifact", "SPDXRef-Runtime"
    packages: list[dict[str, Any]] = [
        {"SPDXID": art_id, "name": artifact_name, "versionInfo": art_sha[:12], "downloadLocation": "NOASSERTION",
         "filesAnalyzed": True, "primaryPackagePurpose": "APPLICATION",
         "checksums": [{"algorithm": "SHA256", "checksumValue": art_sha}],
         "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION", "copyrightText": "NOASSERTION",
         "supplier": "NOASSERTION",
         "comment": f"LiteBox Pack artifact for target {manifest['target']}; image digest "
                    f"{manifest['image']['digest']}"},
        {"SPDXID": rt_id, "name": runtime_package or f"litebox-runtime-{manifest['target']}",
         "versionInfo": __version__, "downloadLocation": "NOASSERTION", "filesAnalyzed": False,
         "primaryPackagePurpose": "OPERATING-SYSTEM",
         "checksums": [{"algorithm": "SHA256", "checksumValue": manifest["runtime"]["sha256"]}],
         "licenseConcluded": "NOASSERTION", "licenseDeclared": "MIT", "copyrightText": "NOASSERTION",
         "comment": f"the LiteBox library OS and {manifest['target']} platform "
                    f"(origin: {manifest['runtime'].get('origin', 'built')})"},
    ]
    relationships: list[dict[str, str]] = [
        {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": art_id},
        {"spdxElementId": art_id, "relationshipType": "CONTAINS", "relatedSpdxElement": rt_id},
    ]
    for crate in _crates(cargo_lock, runtime_package):
        cid = _spdx_id("Crate", crate["name"], crate["version"])
        from_registry = str(crate.get("source", "")).startswith("registry+")
        pkg: dict[str, Any] = {
            "SPDXID": cid, "name": crate["name"], "versionInfo": crate["version"], "filesAnalyzed": False,
            "downloadLocation": (f"https://crates.io/api/v1/crates/{crate['name']}/{crate['version']}/download"
                                 if from_registry else "NOASSERTION"),
            "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION", "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "LIBRARY",
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": f"pkg:cargo/{crate['name']}@{crate['version']}"}]}
        if crate.get("checksum"):
            pkg["checksums"] = [{"algorithm": "SHA256", "checksumValue": crate["checksum"]}]
        packages.append(pkg)
        relationships.append({"spdxElementId": rt_id, "relationshipType": "DEPENDS_ON", "relatedSpdxElement": cid})

    files: list[dict[str, Any]] = []
    debs: dict[str, tuple[str, DebPackage]] = {}
    generated = {e["path"]: bytes.fromhex(e["data_hex"]) for e in plan.get("entries", []) if "data_hex" in e}
    items = [(i["image_path"], i["host_path"], i["sha256"]) for i in manifest.get("inputs", [])]
    items += [(g["image_path"], None, g["sha256"]) for g in manifest.get("generated", [])]
    for n, (image_path, host_path, sha256) in enumerate(sorted(items, key=lambda t: t[0])):
        host: Path | None = None
        if host_path is None:
            data = generated.get(image_path)
            sha1 = hashlib.sha1(data).hexdigest() if data is not None else None
            comment = "generated by litebox pack"
        else:
            host = Path(host_path) if host_path.startswith("/") else project_dir / host_path
            sha1 = _host_sha1(host, sha256)
            comment = f"from {host_path}"
        if sha1 is None:
            continue  # changed on the host since it was packed: the manifest still lists it
        fid = _spdx_id("File", str(n))
        files.append({"SPDXID": fid, "fileName": "." + image_path,
                      "checksums": [{"algorithm": "SHA1", "checksumValue": sha1},
                                    {"algorithm": "SHA256", "checksumValue": sha256}],
                      "licenseConcluded": "NOASSERTION", "copyrightText": "NOASSERTION", "comment": comment})
        relationships.append({"spdxElementId": art_id, "relationshipType": "CONTAINS", "relatedSpdxElement": fid})
        deb = dpkg.owner(str(host)) if host is not None else None
        if deb is not None:
            key = f"{deb.name}:{deb.architecture}"
            if key not in debs:
                debs[key] = (_spdx_id("Deb", deb.name, deb.architecture), deb)
            relationships.append({"spdxElementId": fid, "relationshipType": "OTHER", "relatedSpdxElement": debs[key][0],
                                  "comment": "installed on the packing host by this Debian package (dpkg database)"})
    # SPDX 2.3 section 7.9: the SHA1 of the sorted, concatenated SHA1s of the package's files.
    sha1s = sorted(next(c["checksumValue"] for c in f["checksums"] if c["algorithm"] == "SHA1") for f in files)
    packages[0]["packageVerificationCode"] = {
        "packageVerificationCodeValue": hashlib.sha1("".join(sha1s).encode("ascii")).hexdigest()}
    for did, deb in sorted(debs.values()):
        packages.append({
            "SPDXID": did, "name": deb.name, "versionInfo": deb.version, "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False, "supplier": "Organization: Debian",
            "licenseConcluded": "NOASSERTION", "licenseDeclared": _license_expression(deb.license, extracted),
            "copyrightText": "NOASSERTION", "sourceInfo": f"Debian source package {deb.source}",
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                              "referenceLocator": f"pkg:deb/debian/{deb.name}@{deb.version}?arch={deb.architecture}"}]})
        relationships.append({"spdxElementId": art_id, "relationshipType": "CONTAINS", "relatedSpdxElement": did})
    doc: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": artifact_name, "documentNamespace": f"{NAMESPACE}/{artifact_name}-{art_sha}",
        "creationInfo": {"created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "creators": [f"Tool: litebox-pack-{__version__}"]},
        "packages": packages, "files": files, "relationships": relationships,
    }
    if extracted:
        doc["hasExtractedLicensingInfos"] = [
            {"licenseId": lid, "name": name, "extractedText": f"Debian copyright file license short name: {name}"}
            for lid, name in sorted(extracted.items())]
    return doc


def sbom_bytes(doc: dict[str, Any]) -> bytes:
    """The document as stable, readable JSON bytes."""
    return (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
