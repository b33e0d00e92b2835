"""The layers run one way (ARCHITECTURE.md, "Layers"): a module imports only modules of its
own layer or below, except pure cores, which anyone may use. A new import against the
current fails here, with the edge named."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first. A module's layer is that of the longest prefix listed.
LAYERS: list[tuple[str, ...]] = [
    ("hemma.kit", "hemma.i18n", "hemma.config"),  # domain-free helpers, words, settings
    ("hemma.db", "hemma.models", "hemma.migrations"),  # the database and its tables
    ("hemma.coordination", "hemma.jobs"),  # waking other processes, the outbox
    ("hemma.access",),  # who may do what, the audit log, sessions
    # where patients live; patients' identity and contact; pathways (vårdprogram) as data;
    # notices to patients and relatives (e-mail, SMS) through the outbox
    ("hemma.geo", "hemma.patients", "hemma.pathways", "hemma.notifications"),
    ("hemma.monitoring",),  # values, NEWS2, alerts
    ("hemma.planning",),  # care requests, visits, the day plan
    # the road home: the snabbspår assessment and the physician's decision; the shared plan
    # and SIP; the agreement the patient has in their hand; the checklist and the homecoming
    # call; treatments given at home
    ("hemma.assessments", "hemma.careplans", "hemma.agreements", "hemma.logistics",
     "hemma.treatments", "hemma.tasks", "hemma.handovers", "hemma.messaging"),
    ("hemma.episodes",),  # the home ward (ending an episode ends its visits and alerts)
    # the round's decisions; the patient's side; the discharge summary; the board; follow-up;
    # the patient's experience of the stay (PREM)
    ("hemma.rounds", "hemma.portal", "hemma.summaries", "hemma.board", "hemma.followup",
     "hemma.prem"),
    # FHIR R4 beside the JSON API, over the services below it
    ("hemma.fhir",),
    # What puts it all together for people: pages, the JSON API, the patient overview, the
    # worker, commands, demo data.
    ("hemma.web", "hemma.app", "hemma.cli", "hemma.__main__", "hemma.demo",
     "hemma.jobs.worker",
     # backup and restore; retention's data classes and their purges
     "hemma.backup", "hemma.jobs.retention",
     "hemma.patients.overview", "hemma.planning.demo_day", "hemma.messaging.demo",
     "hemma.prem.demo", "hemma.followup.demo",
     # FHIR's routes: what they share, and each group of resource types
     "hemma.fhir.http", "hemma.fhir.api_care", "hemma.fhir.api_record",
     "hemma.fhir.api_smart"),
]
# Pure cores: values in, values out, no database (STYLE.md). Any layer may use them.
PURE = ("hemma.patients.personnummer", "hemma.monitoring.news2", "hemma.monitoring.rules",
        "hemma.assessments.stability", "hemma.careplans.deadlines", "hemma.messaging.deadlines",
        "hemma.planning.solver", "hemma.geo", "hemma.fhir.vitals", "hemma.fhir.search",
        "hemma.fhir.resources", "hemma.fhir.capability", "hemma.fhir.care", "hemma.fhir.answers",
        "hemma.fhir.scopes", "hemma.fhir.record", "hemma.followup.measures",
        "hemma.followup.definitions", "hemma.followup.charts", "hemma.prem.questionnaire",
        "hemma.followup.history")
TOP = len(LAYERS) - 1


def _layer(module: str) -> int:
    if module.rsplit(".", 1)[-1] in ("pages", "api"):
        return TOP  # routes are the web layer, whichever feature folder holds them
    best, rank = "", None
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, rank = prefix, i
    assert rank is not None, f"{module} is in no layer: add it to LAYERS"
    return rank


def _pure(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PURE)


def _modules():
    for path in sorted((SRC / "hemma").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def _is_module(name: str) -> bool:
    base = SRC.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("hemma"):
                # `from hemma.jobs import outbox` imports hemma.jobs.outbox.
                for alias in node.names:
                    name = f"{node.module}.{alias.name}"
                    yield name if _is_module(name) else node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("hemma"))


def test_every_import_runs_down_the_layers():
    wrong = []
    for module, path in _modules():
        if module == "hemma" or "migrations.versions" in module:
            continue
        rank = _layer(module)
        for target in _imports(path):
            if target == "hemma" or _pure(target):
                continue
            if _layer(target) > rank:
                wrong.append(f"{module} (layer {rank}) imports {target} (layer "
                             f"{_layer(target)})")
    assert not wrong, "\n".join(wrong)


def test_pure_cores_touch_no_database():
    for module, path in _modules():
        if not _pure(module):
            continue
        for target in _imports(path):
            assert _pure(target) or target.startswith(("hemma.kit", "hemma.i18n")), \
                f"{module} is a pure core but imports {target}"
