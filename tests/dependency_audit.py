"""`make test`'s dependency audit (tests/run.py, before the suite): pip-audit on the locked
sets, requirements/test.txt (the runtime's lock is a subset of it) and
requirements/fhir-r4.txt (FHIR R4's models for the tests), failing on any known
vulnerability. Run alone: `python -m tests.dependency_audit`.

pip-audit asks the package registry's JSON API about each pinned release (/pypi/<name>/<version>/json). A
registry that answers only for a project's newest release (/pypi/<name>/json), as the one
this project's machines reach does, leaves pip-audit with "not found" for every package, and
pip-audit then says "No known vulnerabilities found". So each package pip-audit could not
audit is asked about again by its project page: when the pin is the newest release, that
page's `vulnerabilities` are the pin's. A pin that is not the newest cannot be audited there
and is named in the output. The audit fails on any known vulnerability, and when nothing at
all could be audited (an unreachable registry must not look like a clean one).
HEMMA_PIP_AUDIT=off skips it (working offline); CI never sets it. Where the OSV service is
reachable, HEMMA_PIP_AUDIT_SERVICE=osv audits every pin through it instead."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "test.txt"
LOCKS = (LOCK, ROOT / "requirements" / "fhir-r4.txt")



def _project_page(name: str) -> str:
    """A project's JSON page at the registry pip itself uses by default (pip's own record
    of it), or at HEMMA_PIP_AUDIT_JSON_API (the base before /<name>/json) for a mirror."""
    base = os.environ.get("HEMMA_PIP_AUDIT_JSON_API")
    if not base:
        from pip._internal.models.index import PyPI

        base = PyPI.pypi_url
    return f"{base.rstrip('/')}/{name}/json"


def declared() -> list[Requirement]:
    """pyproject.toml's runtime and test requirements (the test extra's own extras expanded)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    wanted, queue = [], [*project["dependencies"], *extras.get("test", [])]
    while queue:
        req = Requirement(queue.pop(0))
        if canonicalize_name(req.name) == canonicalize_name(project["name"]):
            queue += [r for extra in req.extras for r in extras.get(extra, [])]
        elif req.marker is None or req.marker.evaluate({"python_version": "3.11",
                                                        "sys_platform": "linux"}):
            wanted.append(req)
    return wanted


def out_of_date(lock: Path = LOCK) -> list[str]:
    """What pyproject.toml asks for and the lock does not hold: `make lock` is due."""
    pinned = pins(lock)
    wrong = []
    for req in declared():
        version = pinned.get(canonicalize_name(req.name))
        if version is None:
            wrong.append(f"{req.name} is not locked")
        elif not req.specifier.contains(version, prereleases=True):
            wrong.append(f"{req.name} {version} does not satisfy {req}")
    return wrong


def pins(lock: Path = LOCK) -> dict[str, str]:
    return {canonicalize_name(name): ver for name, ver in re.findall(
        r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", lock.read_text(), re.M)}


def _pip_audit(lock: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "pip_audit", "-r", str(lock), "--disable-pip",
         "--require-hashes", "--vulnerability-service",
         os.environ.get("HEMMA_PIP_AUDIT_SERVICE", "pypi"), "--format", "json",
         "--progress-spinner", "off", "--timeout", "30"],
        capture_output=True, text=True)
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise SystemExit(f"pip-audit failed (exit {done.returncode}):\n{done.stderr[-3000:]}") from None


def _newest(name: str) -> tuple[str, list[dict]] | None:
    """The project's newest release and its known vulnerabilities; None: no answer."""
    try:
        with urllib.request.urlopen(_project_page(name), timeout=30) as answer:
            page = json.load(answer)
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return page["info"]["version"], [v for v in page.get("vulnerabilities") or []
                                     if not v.get("withdrawn")]


def audit(lock: Path = LOCK) -> tuple[list[str], list[str], int]:
    """(vulnerabilities found, pins that could not be audited, pins audited)."""
    pinned = pins(lock)
    report = _pip_audit(lock)
    found, skipped, audited = [], [], 0
    for dep in report.get("dependencies", []):
        name = canonicalize_name(dep["name"])
        if "skip_reason" in dep:
            skipped.append(name)
            continue
        audited += 1
        for vuln in dep.get("vulns", []):
            found.append(f"{name} {dep['version']}: {vuln['id']} (fixed in "
                         f"{', '.join(vuln.get('fix_versions') or ['no release yet'])})")
    unaudited = []
    with ThreadPoolExecutor(8) as pool:
        for name, answer in zip(skipped, pool.map(_newest, skipped), strict=True):
            version = pinned.get(name, "?")
            if answer is None or version == "?" or Version(answer[0]) != Version(version):
                newest = f", newest {answer[0]}" if answer else ", no answer"
                unaudited.append(f"{name} {version}{newest}")
                continue
            audited += 1
            for vuln in answer[1]:
                found.append(f"{name} {version}: {vuln['id']} (fixed in "
                             f"{', '.join(vuln.get('fixed_in') or ['no release yet'])})")
    return found, unaudited, audited


def main() -> int:
    if os.environ.get("HEMMA_PIP_AUDIT") == "off":
        print("pip-audit skipped (HEMMA_PIP_AUDIT=off)", flush=True)
        return 0
    stale = out_of_date()
    if stale:
        print(f"{LOCK.relative_to(ROOT)} does not hold what pyproject.toml asks for ("
              f"{'; '.join(stale)}): run `make lock UPGRADE=` and commit the locks",
              file=sys.stderr)
        return 1
    found, audited = [], 0
    for lock in LOCKS:
        its_found, unaudited, its_audited = audit(lock)
        found += its_found
        audited += its_audited
        print(f"pip-audit: {its_audited} of {its_audited + len(unaudited)} locked packages "
              f"audited ({lock.relative_to(ROOT)})", flush=True)
        if unaudited:
            print("  not auditable here (the registry answers only for a project's newest "
                  f"release): {'; '.join(unaudited)}", flush=True)
    if found:
        print("KNOWN VULNERABILITIES in the locked set (upgrade them: make lock):",
              file=sys.stderr)
        for line in found:
            print(f"  {line}", file=sys.stderr)
        return 1
    if audited == 0:
        print("no package could be audited: is the package registry reachable? "
              "(HEMMA_PIP_AUDIT=off skips the audit)", file=sys.stderr)
        return 1
    print("  no known vulnerabilities", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
