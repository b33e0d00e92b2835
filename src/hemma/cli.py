"""The `hemma` command."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import click

from hemma.config import get_settings


@contextmanager
def _session():
    """One unit of work on the configured database, committed when the block ends."""
    from hemma.db import Database

    database = Database(get_settings().resolved_database_url())
    try:
        with database.session() as session:
            yield session
    finally:
        database.dispose()


@click.group()
def main() -> None:
    """Hemma: hospital-level care at home."""
    from hemma.config import configure
    from hemma.kit.logs import setup_logging

    configure(None)  # a command's settings are the environment's, read afresh
    setup_logging(get_settings().log_level)  # JSON lines on standard error


def _metrics_directory() -> None:
    """Before anything imports prometheus-client: its multiprocess mode, with the files of
    this host's processes under HEMMA_METRICS_DIR (hemma.kit.metrics)."""
    import os

    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(get_settings().resolved_metrics_dir()))
    from hemma.kit import metrics

    metrics.prepare_directory()


def _shared_secret() -> None:
    """On PostgreSQL, processes on several machines share one audit chain and must key it
    alike: a key generated into one machine's data directory would be that machine's alone."""
    settings = get_settings()
    if not settings.secret_key and \
            not settings.resolved_database_url().startswith("sqlite"):
        raise click.ClickException(
            "set HEMMA_SECRET_KEY: on PostgreSQL every process, on every machine, keys the "
            "audit chain with it (an installation that has run without it has its key in "
            f"{settings.data_dir / 'secret_key'}: use that one)")


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Migrate the database (HEMMA_DATABASE_URL, default a SQLite file) to the newest schema."""
    from hemma.migrations.runner import upgrade

    upgrade(get_settings().resolved_database_url(), revision)
    if revision == "head":
        from hemma.pathways.service import install_builtin

        with _session() as session:
            added = install_builtin(session)
        if added:
            click.echo(f"Pathways added: {', '.join(added)}")
    click.echo("database is up to date")


@db.command("partitions")
def db_partitions() -> None:
    """The monthly partitions of observations and the access log (PostgreSQL), with their
    estimated rows; makes the coming months' if missing (the worker does so daily)."""
    from hemma.kit.time import local_today
    from hemma.models import partitions

    with _session() as session:
        made = partitions.ensure_ahead(session, local_today())
        for table in partitions.PARTITIONED:
            found = partitions.partitions(session, table)
            if not found:
                click.echo(f"{table}: not partitioned (SQLite keeps plain tables)")
                continue
            click.echo(f"{table}:")
            for p in found:
                rows = "not analysed" if p.rows < 0 else f"~{p.rows:,} rows"
                click.echo(f"  {p.name:32} {rows}")
    if made:
        click.echo(f"made: {', '.join(made)}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="App processes serving requests on the one port (uvicorn's workers).")
@click.option("--worker/--no-worker", "run_worker", default=None,
              help="Run an outbox worker inside each app process (default: HEMMA_RUN_WORKER, "
                   "on). Production: --no-worker, with `hemma worker` processes beside.")
@click.option("--forwarded-allow-ips", envvar="HEMMA_FORWARDED_ALLOW_IPS", default=None,
              help="The reverse proxies (comma-separated addresses) whose X-Forwarded-For "
                   "and X-Forwarded-Proto are believed: the client's address and https then "
                   "come from them. Unset: nobody's (the peer is the client).")
@click.option("--graceful-timeout", default=10, show_default=True,
              type=click.IntRange(min=1),
              help="On SIGTERM, seconds for requests to finish; open live streams (boards, "
                   "inboxes) are then closed, and the browsers reconnect elsewhere.")
@click.option("--show-logins/--no-show-logins", default=False,
              help="Print the demo logins (for `make demo`).")
def serve(host: str, port: int, workers: int, run_worker: bool | None,
          forwarded_allow_ips: str | None, graceful_timeout: int, show_logins: bool) -> None:
    """Serve Hemma over HTTP."""
    import os

    import uvicorn

    from hemma.config import configure

    _shared_secret()
    if run_worker is not None:
        # The app processes read their settings from the environment (uvicorn's workers are
        # new processes): the flag reaches them there.
        os.environ["HEMMA_RUN_WORKER"] = "true" if run_worker else "false"
        configure(None)
    settings = get_settings()
    if workers > 1 and settings.resolved_database_url().startswith("sqlite"):
        click.echo("warning: several processes on SQLite do not wake each other's live pages "
                   "(PostgreSQL's LISTEN/NOTIFY does): they only look again on their own "
                   "clock, up to a minute. Production runs on PostgreSQL.", err=True)
    if workers > 1 and settings.run_worker:
        click.echo(f"note: each of the {workers} app processes runs an outbox worker; in "
                   "production use --no-worker and run `hemma worker` beside them.", err=True)
    _metrics_directory()
    if show_logins:
        from hemma.demo import print_logins

        print_logins(f"http://{host}:{port}/")
    # Uvicorn's loggers go through ours (log_config=None: uvicorn leaves logging alone, and
    # serve_app sets it up in each worker process); its access log is replaced by ours,
    # which names the route's template, not the filled path.
    uvicorn.run("hemma.app:serve_app", factory=True, host=host, port=port, workers=workers,
                proxy_headers=bool(forwarded_allow_ips), forwarded_allow_ips=forwarded_allow_ips,
                timeout_graceful_shutdown=graceful_timeout, access_log=False, log_config=None,
                log_level=get_settings().log_level.lower())


@main.command()
def worker() -> None:
    """Deliver the outbox, escalate alerts and watch for missed measurements, until stopped
    (SIGTERM: after the message being delivered; the rest of its claim is handed back)."""
    import signal

    _shared_secret()
    _metrics_directory()
    from hemma.coordination.live import PostgresListener
    from hemma.db import Database
    from hemma.jobs import outbox
    from hemma.jobs.worker import Worker

    database = Database(get_settings().resolved_database_url())
    w = Worker(database)
    listener = None
    if database.engine.dialect.name == "postgresql":
        listener = PostgresListener(database.url, {outbox.CHANNEL: outbox.ready.set})
        listener.start()
    signal.signal(signal.SIGTERM, lambda *_: w.stop())
    try:
        w.run()
    except KeyboardInterrupt:
        pass
    finally:
        if listener:
            listener.stop()
        database.dispose()


@main.command()
def demo() -> None:
    """Load the demo data (idempotent: running it twice changes nothing)."""
    from hemma.db import Database
    from hemma.demo import load_demo

    database = Database(get_settings().resolved_database_url())
    try:
        created = load_demo(database)
    finally:
        database.dispose()
    click.echo("demo data loaded" if created else "demo data already present")
    if created:
        # The year of history, added up per day now: the follow-up page opens at once.
        _rebuild_followup(None)


@main.group()
def followup() -> None:
    """The follow-up figures (uppföljning)."""


@followup.command("rebuild")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The first Swedish date to compute again (default: the first event).")
def followup_rebuild(since) -> None:
    """Compute the materialised follow-up days again, from --since (or the first episode)
    up to yesterday: after changes older than the worker's 35 days, or after an upgrade
    that changes how a figure is counted."""
    _rebuild_followup(since.date() if since is not None else None)


def _rebuild_followup(start) -> None:
    from sqlalchemy import func, select

    from hemma.followup import service
    from hemma.kit.time import local_date, utcnow
    from hemma.models import Episode

    now = utcnow()
    with _session() as session:
        if start is None:
            first = session.scalar(select(func.min(Episode.assessed_at)))
            start = local_date(first) if first is not None else local_date(now)
        end = local_date(now)
        rows = 0
        day = start
        while day < end:  # a month a transaction: a year of a region fits in memory
            stop = min(end, (day.replace(day=1) + timedelta(days=32)).replace(day=1))
            rows += service.refresh(session, day, stop, now)
            session.commit()
            day = stop
    click.echo(f"follow-up days {start} to {end - timedelta(days=1)} computed: {rows} rows")


@main.group()
def audit() -> None:
    """The access log."""


@audit.command("verify")
@click.option("--checkpoints", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The checkpoint file (default: HEMMA_AUDIT_CHECKPOINT_FILE).")
def audit_verify(checkpoints: Path | None) -> None:
    """Recompute every hash chain (each organisation's access log and log reviews) and hold
    them to the signed checkpoints; exit 1 if anything was tampered with."""
    from hemma.access.audit import verify

    path = checkpoints or get_settings().resolved_checkpoint_file()
    with _session() as session:
        report = verify(session, path)
    newest = report.newest_checkpoint
    against = (f"{report.checkpoints_checked} checkpoint(s) in {path}, the newest of "
               f"{newest.at.isoformat(timespec='seconds')}"
               if newest else f"no checkpoints in {path}")
    if report.ok:
        click.echo(f"audit log intact: {report.checked} entries and {report.reviews_checked} "
                   f"reviews in {report.chains} chain(s) verified, against {against}")
        return
    click.echo(f"AUDIT LOG TAMPERED: {len(report.problems)} problem(s) in "
               f"{report.checked} entries and {report.reviews_checked} reviews in "
               f"{report.chains} chain(s), against {against}", err=True)
    for problem in report.problems:
        click.echo(f"  {problem}", err=True)
    sys.exit(1)


@audit.command("checkpoint")
def audit_checkpoint() -> None:
    """Append a signed checkpoint of where the audit chains end now (the worker writes one
    every HEMMA_AUDIT_CHECKPOINT_SECONDS while the log grows)."""
    from hemma.access.audit import write_checkpoint

    path = get_settings().resolved_checkpoint_file()
    with _session() as session:
        checkpoint = write_checkpoint(session, path)
    click.echo(f"checkpoint written to {path}: the ends of {len(checkpoint.chains)} chain(s)")


@audit.command("archive")
@click.option("--before", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Detach the months that end on or before this first of a month.")
def audit_archive(before) -> None:
    """Detach the access log's old months (PostgreSQL) for the archive: each stays a table of
    its own to dump and drop; the chains are verified from what remains. Never a month
    younger than the legal minimum (HSLF-FS 2016:40: five years). The worker does the same
    daily when HEMMA_RETENTION_AUDIT_DAYS is set."""
    from datetime import timedelta

    from hemma.access.audit import archive_before
    from hemma.config import RETENTION_MINIMUM_DAYS
    from hemma.kit.time import local_today

    day = before.date()
    minimum, law = RETENTION_MINIMUM_DAYS["audit"]
    limit = local_today() - timedelta(days=minimum)
    if day.day != 1:
        raise click.BadParameter("give the first day of a month", param_hint="--before")
    if day > limit:
        raise click.BadParameter(f"the access log is kept at least {minimum} days ({law}): "
                                 f"the latest allowed is {limit.isoformat()}",
                                 param_hint="--before")
    with _session() as session:
        archived = archive_before(session, day)
    if not archived.partitions:
        click.echo("nothing to archive (no month that old, or not PostgreSQL)")
        return
    click.echo(f"detached {', '.join(archived.partitions)}: dump each (pg_dump -t NAME) to "
               f"the archive, then DROP TABLE it; {len(archived.chains)} chain(s) now verified "
               "from their first row still here")


@main.command()
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The archive to write (default: hemma-backup-<UTC time>.tar here).")
def backup(out: Path | None) -> None:
    """Back up the database (pg_dump, or SQLite's online backup), the photos of messages and
    the audit checkpoints into one tar archive with a manifest, while Hemma runs."""
    from hemma.backup import BackupError
    from hemma.backup import backup as make_backup
    from hemma.kit.time import utcnow

    out = out or Path(f"hemma-backup-{utcnow():%Y%m%dT%H%M%SZ}.tar")
    try:
        manifest = make_backup(get_settings(), out)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    photos = sum(1 for name in manifest["parts"] if name.startswith("uploads/"))
    click.echo(f"backup written to {out}: {manifest['database']['backend']} at schema revision "
               f"{manifest['database']['alembic_revision']}, {len(manifest['tables'])} tables, "
               f"{sum(manifest['tables'].values())} rows, {photos} photos")
    if manifest["missing_photos"]:
        click.echo(f"WARNING: {len(manifest['missing_photos'])} photo(s) the database refers "
                   "to were not on disk and are not in the backup", err=True)
    click.echo("It holds patient data: keep it encrypted and apart from the secret key "
               "(HEMMA_SECRET_KEY or <data dir>/secret_key), which it does not hold.")


@main.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True,
              help="Restore over existing data: a SQLite file and the photos are moved aside "
                   "(*.before-restore-<time>), on PostgreSQL what the role owns in the "
                   "database is dropped.")
@click.option("--new-secret", is_flag=True,
              help="Restore although this installation's secret key is not the backup's "
                   "(the audit log then cannot be verified).")
def restore(archive: Path, force: bool, new_secret: bool) -> None:
    """Restore a backup into an empty database (HEMMA_DATABASE_URL) and data dir, after
    checking every part against the manifest. Stop Hemma's processes first."""
    from hemma.backup import BackupError
    from hemma.backup import restore as restore_backup

    try:
        done = restore_backup(get_settings(), archive, force=force, new_secret=new_secret)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    made = done.manifest
    for aside in done.moved_aside:
        click.echo(f"moved aside: {aside}")
    click.echo(f"restored the backup of {made['created_at']}: {len(made['tables'])} tables and "
               f"{done.rows} rows (as the manifest says), {done.photos} photos, audit "
               f"checkpoints in {done.checkpoints}")
    for note in done.notes:
        click.echo(f"NOTE: {note}")
    if done.upgrade_needed:
        click.echo(f"The backup's schema (revision {made['database']['alembic_revision']}) is "
                   "older than this Hemma's: run `hemma db upgrade` before starting Hemma.")
    click.echo("Then check the audit log: `hemma audit verify`.")


@main.group()
def retention() -> None:
    """Retention (gallring) per data class: HEMMA_RETENTION_<CLASS>_DAYS."""


@retention.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would go; change nothing.")
def retention_purge(dry_run: bool) -> None:
    """Purge each data class's rows of patients whose record has had no entry for its
    retention days (the worker does this once a day); one audit entry per class."""
    from hemma.db import Database
    from hemma.jobs.retention import DATA_CLASSES, run
    from hemma.kit.time import utcnow

    database = Database(get_settings().resolved_database_url())
    try:
        outcomes = run(database, utcnow(), dry_run=dry_run)
    finally:
        database.dispose()
    for outcome in outcomes:
        data_class = DATA_CLASSES[outcome.data_class]
        minimum = (f"(at least {data_class.minimum_days} days: {data_class.law})")
        if outcome.skipped:
            click.echo(f"{outcome.data_class}: {outcome.skipped} {minimum}")
            continue
        verb = "would purge" if dry_run else "purged"
        click.echo(f"{outcome.data_class}: {verb} {outcome.rows} rows of {outcome.patients} "
                   f"patients"
                   + (f" and {outcome.photos} photos" if outcome.photos else "")
                   + f", records without an entry since {outcome.cutoff:%Y-%m-%d %H:%M} UTC "
                   f"({outcome.days} days) {minimum}")
        if outcome.orphans:
            click.echo(f"  and {outcome.orphans} photo files no message referred to")
        if outcome.error:
            click.echo(f"  stopped by an error: {outcome.error}", err=True)
    if any(o.error for o in outcomes):
        sys.exit(1)


@main.group()
def users() -> None:
    """Staff accounts."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--given-name", required=True)
@click.option("--family-name", required=True)
@click.option("--profession", required=True)
@click.option("--unit", "unit_name", required=True, help="Unit name")
@click.option("--admin", is_flag=True)
@click.option("--log-reviewer", is_flag=True)
@click.option("--hsa-id", default=None, help="For login with SITHS (e.g. SE2321000222-1234)")
@click.password_option()
def users_create(username, given_name, family_name, profession, unit_name, admin, log_reviewer,
                 hsa_id, password) -> None:
    """Create a staff account (the first administrator, typically)."""
    from sqlalchemy import select

    from hemma.access.auth import MIN_PASSWORD_LENGTH, hash_password
    from hemma.kit.time import utcnow
    from hemma.models import Profession, Staff, Unit

    if profession not in {p.value for p in Profession}:
        raise click.BadParameter(f"one of {', '.join(p.value for p in Profession)}",
                                 param_hint="--profession")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.BadParameter(f"at least {MIN_PASSWORD_LENGTH} characters",
                                 param_hint="--password")
    with _session() as session:
        unit = session.scalar(select(Unit).where(Unit.name == unit_name))
        if unit is None:
            raise click.BadParameter(f"no unit named {unit_name!r}", param_hint="--unit")
        session.add(Staff(username=username.lower(), given_name=given_name,
                          family_name=family_name, profession=profession, unit_id=unit.id,
                          is_admin=admin, is_log_reviewer=log_reviewer, skills=[],
                          hsa_id=hsa_id.upper() if hsa_id else None,
                          password_hash=hash_password(password), created_at=utcnow()))
    click.echo(f"created {username}")


def _break_glass(session) -> None:
    from hemma.access import audit

    audit.trail(session).actor = audit.Actor(username="(hemma users)")


@users.command("password-login")
@click.argument("choice", type=click.Choice(["on", "off", "status"]))
def users_password_login(choice: str) -> None:
    """Allow (on) or forbid (off) password logins, or show how staff log in (status). The
    break glass: when the region's login service is down and passwords are off, `on` lets
    staff in with their passwords again at once (logged)."""
    from hemma.access import audit
    from hemma.access.auth import password_login_choice, passwords_allowed, store_password_login

    settings = get_settings()
    with _session() as session:
        if choice == "status":
            chosen = password_login_choice(session)
            click.echo(f"SITHS (OpenID Connect): "
                       f"{settings.oidc_issuer if settings.oidc_enabled else 'not set up'}")
            click.echo(f"password login: {'on' if passwords_allowed(session) else 'off'} ("
                       + ("no identity provider: always on" if not settings.oidc_enabled
                          else "the installation's default, HEMMA_PASSWORD_LOGIN"
                          if chosen is None else "chosen by an administrator") + ")")
            click.echo(f"authenticator app code with passwords: "
                       f"{'required' if settings.totp_required else 'for those who set one up'}")
            return
        if choice == "off" and not settings.oidc_enabled:
            raise click.ClickException("no identity provider is set up (HEMMA_OIDC_ISSUER, "
                                       "HEMMA_OIDC_CLIENT_ID): passwords stay on")
        _break_glass(session)
        store_password_login(session, choice == "on", by="(hemma users)")
        audit.record(session, None, "admin.password_login", basis="role", detail=choice)
    click.echo(f"password login is {choice}")


@users.command("reset-totp")
@click.argument("username")
def users_reset_totp(username: str) -> None:
    """Forget USERNAME's authenticator app (a lost phone): the next password login sets up a
    new one where codes are required (logged)."""
    from sqlalchemy import select

    from hemma.access import audit, totp
    from hemma.access.auth import end_steps
    from hemma.models import Staff

    with _session() as session:
        staff = session.scalar(select(Staff).where(Staff.username == username.lower()))
        if staff is None:
            raise click.BadParameter(f"no user {username!r}", param_hint="USERNAME")
        _break_glass(session)
        had = totp.remove(session, staff.id)
        end_steps(session, staff.id)
        audit.record(session, None, "admin.staff.totp_reset", basis="role",
                     detail=staff.username)
    click.echo(f"{username}: authenticator app {'reset' if had else 'was not set up'}")


@users.command("set-password")
@click.argument("username")
@click.password_option()
def users_set_password(username: str, password: str) -> None:
    """Give USERNAME a new password (their sessions end; logged): the way back in for an
    administrator who only ever logged in with SITHS."""
    from sqlalchemy import select

    from hemma.access import audit
    from hemma.access.auth import (
        MIN_PASSWORD_LENGTH,
        end_all_sessions,
        end_steps,
        hash_password,
    )
    from hemma.models import Staff

    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.BadParameter(f"at least {MIN_PASSWORD_LENGTH} characters",
                                 param_hint="--password")
    with _session() as session:
        staff = session.scalar(select(Staff).where(Staff.username == username.lower()))
        if staff is None:
            raise click.BadParameter(f"no user {username!r}", param_hint="USERNAME")
        _break_glass(session)
        staff.password_hash = hash_password(password)
        end_all_sessions(session, staff.id)
        end_steps(session, staff.id)
        audit.record(session, None, "admin.staff.update", basis="role",
                     detail=f"{staff.username}: new password")
    click.echo(f"{username}: new password set")


@users.command("token")
@click.argument("username")
@click.option("--name", default="cli", show_default=True)
@click.option("--days", default=365, show_default=True, type=int)
def users_token(username: str, name: str, days: int) -> None:
    """Create an API token (Authorization: Bearer …) acting as USERNAME."""
    from sqlalchemy import select

    from hemma.access.auth import create_api_token
    from hemma.models import Staff

    with _session() as session:
        staff = session.scalar(select(Staff).where(Staff.username == username.lower()))
        if staff is None:
            raise click.BadParameter(f"no user {username!r}", param_hint="USERNAME")
        token = create_api_token(session, staff, name, days)
    click.echo(token)


@main.command("simulate-devices")
@click.option("--base-url", default="http://127.0.0.1:8000/fhir", show_default=True,
              help="Hemma's FHIR base.")
@click.option("--token", envvar="HEMMA_FHIR_TOKEN", required=True,
              help="Bearer token the gateways send as (or HEMMA_FHIR_TOKEN).")
@click.option("--patient", "patients", multiple=True,
              help="A patient's FHIR id or personnummer (12 digits); repeat for more.")
@click.option("--all", "all_patients", is_flag=True,
              help="Every patient the account may read: its unit's.")
@click.option("--interval", default=900.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds between measurement rounds.")
@click.option("--rounds", type=click.IntRange(min=1), default=None,
              help="Stop after this many rounds (default: until stopped).")
@click.option("--once", is_flag=True, help="One round (--rounds 1).")
@click.option("--alarming", type=click.FloatRange(0, 1), is_flag=False, flag_value=1.0,
              default=0.0, show_default=True,
              help="The share of Bundles with one red value (alone: every one).")
@click.option("--seed", type=int, default=None, help="Repeatable values.")
def simulate_devices(base_url: str, token: str, patients: tuple[str, ...], all_patients: bool,
                     interval: float, rounds: int | None, once: bool, alarming: float,
                     seed: int | None) -> None:
    """Post home gateways' transaction Bundles of LOINC-coded vital signs to Hemma's FHIR
    API, for the patients given (id or personnummer) or --all, every --interval seconds;
    each entry a conditional create, so a resend is harmless."""
    from hemma.fhir.simulator import Gateway, SimulatorError, run

    if bool(patients) == all_patients:
        raise click.UsageError("give --patient (one or more) or --all")
    gateway = Gateway(base_url, token)
    try:
        try:
            ids = gateway.all_patients() if all_patients else gateway.patients(patients)
        except SimulatorError as e:
            raise click.ClickException(str(e)) from None
        if not ids:
            raise click.ClickException("no patients to send values for")
        click.echo(f"{len(ids)} patient(s), {'one round' if once else rounds or 'endless'} "
                   f"round(s), every {interval:g} s, alarming {alarming:.0%}")
        try:
            sent = run(gateway, ids, rounds=1 if once else rounds, interval=interval,
                       alarming=alarming, seed=seed, echo=click.echo)
        except KeyboardInterrupt:
            return
    finally:
        gateway.close()
    refused = [s for s in sent if s.refused]
    click.echo(f"{len(sent)} Bundle(s): {sum(s.created for s in sent)} values recorded, "
               f"{sum(s.resent for s in sent)} already recorded, {len(refused)} refused")
    if refused and len(refused) == len(sent):
        sys.exit(1)


@main.group()
def clients() -> None:
    """System clients of the FHIR API (SMART Backend Services: devices, gateways, journals)."""


def _cli_actor(session) -> None:
    from hemma.access import audit

    audit.trail(session).actor = audit.Actor(username="(hemma clients)")


@clients.command("keygen")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the private JWK (mode 0600); it stays with the device.")
@click.option("--public-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the public JWKS here (it is printed in any case).")
@click.option("--alg", type=click.Choice(["ES384", "RS384"]), default="ES384",
              show_default=True)
def clients_keygen(out: Path, public_out: Path | None, alg: str) -> None:
    """Make a key pair for a client: the private JWK to OUT, the public JWKS to stdout."""
    import json
    import os

    from hemma.fhir.smart import keygen

    private, public = keygen(alg)
    # Created with mode 0600 from the start: the private key is never readable by others,
    # not even for a moment.
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{out} exists: a private key is never overwritten") from None
    with os.fdopen(fd, "w") as f:
        json.dump(private, f, indent=2)
    if public_out is not None:
        public_out.write_text(json.dumps(public, indent=2))
    click.echo(json.dumps(public, indent=2))


@clients.command("add")
@click.argument("client_id")
@click.option("--name", required=True, help="What the log calls it, e.g. 'Gateway Lycksele 1'")
@click.option("--user", "username", required=True,
              help="The system account it acts as (profession system, in a unit).")
@click.option("--scope", required=True, help="The most it may get, e.g. 'system/Observation.c'")
@click.option("--jwks", "jwks_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The client's public keys (a JWKS, as `hemma clients keygen` prints).")
@click.option("--create-user", is_flag=True,
              help="Create the system account first (needs --unit).")
@click.option("--unit", "unit_name", default=None, help="The unit of a created account")
def clients_add(client_id, name, username, scope, jwks_path, create_user, unit_name) -> None:
    """Register a system client with its public keys."""
    import json

    from sqlalchemy import select

    from hemma.fhir.smart import ClientError, register_client
    from hemma.kit.time import utcnow
    from hemma.models import Profession, Staff, Unit

    try:
        jwks = json.loads(jwks_path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--jwks") from None
    with _session() as session:
        _cli_actor(session)
        staff = session.scalar(select(Staff).where(Staff.username == username.lower()))
        if create_user:
            if staff is not None:
                raise click.BadParameter(f"{username!r} exists", param_hint="--user")
            unit = session.scalar(select(Unit).where(Unit.name == (unit_name or "")))
            if unit is None:
                raise click.BadParameter(f"no unit named {unit_name!r}", param_hint="--unit")
            # No password: the account is only ever used through its client's tokens.
            staff = Staff(username=username.lower(), given_name=name[:100],
                          family_name=f"(client {client_id})"[:100],
                          profession=Profession.SYSTEM.value, unit_id=unit.id, skills=[],
                          created_at=utcnow())
            session.add(staff)
            session.flush()
        elif staff is None:
            raise click.BadParameter(f"no user {username!r} (or --create-user)",
                                     param_hint="--user")
        try:
            client = register_client(session, client_id=client_id, name=name, staff=staff,
                                     scope=scope, jwks=jwks)
        except ClientError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"registered {client.client_id} as {staff.username}: {client.scope}")


@clients.command("list")
def clients_list() -> None:
    """The registered clients: id, account, scopes, state."""
    from sqlalchemy import select

    from hemma.models import Staff, SystemClient

    with _session() as session:
        rows = session.execute(select(SystemClient, Staff.username).join(
            Staff, Staff.id == SystemClient.staff_id).order_by(SystemClient.client_id)).all()
        for client, username in rows:
            state = f"disabled {client.disabled_at:%Y-%m-%d %H:%M}Z" if client.disabled_at \
                else "active"
            kids = ",".join(k.get("kid", "?") for k in client.jwks.get("keys", []))
            click.echo(f"{client.client_id}\t{client.name}\t{username}\t{client.scope}\t"
                       f"keys {kids}\t{state}")


@clients.command("disable")
@click.argument("client_id")
def clients_disable(client_id: str) -> None:
    """Disable a client: no new tokens, and its current ones stop working."""
    from sqlalchemy import select

    from hemma.fhir.smart import disable_client
    from hemma.models import SystemClient

    with _session() as session:
        _cli_actor(session)
        client = session.scalar(select(SystemClient).where(SystemClient.client_id == client_id))
        if client is None:
            raise click.BadParameter(f"no client {client_id!r}", param_hint="CLIENT_ID")
        disable_client(session, client)
    click.echo(f"disabled {client_id}")


@main.group()
def i18n() -> None:
    """Translation catalogs."""


@i18n.command("update")
def i18n_update() -> None:
    """Extract msgids from code and templates into sv.po and en.po; list what lacks Swedish."""
    from hemma.i18n.catalogs import update

    report = update()
    click.echo(f"catalogs updated; untranslated in sv: {report['sv']}")
    if report["sv"]:
        sys.exit(1)


@main.group()
def bench() -> None:
    """Solve public benchmark instances (the planner measured against the literature)."""


def _one_core() -> None:
    """The benchmarks compare solvers on one core: pin this process to one."""
    import os

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


@bench.command("vrptw")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--seconds", default=3.0, show_default=True, type=float)
@click.option("--iterations", type=int, default=None,
              help="Stop after this many iterations instead (the same result on any machine).")
@click.option("--seed", default=1, show_default=True, type=int)
def bench_vrptw(path: str, seconds: float, iterations: int | None, seed: int) -> None:
    """Solve a VRPLIB VRPTW instance; print {"routes": [[client, …], …], "cost": …} as JSON
    (clients numbered as in the .sol files, distances truncated to one decimal)."""
    import json

    from hemma.planning.literature import read_vrptw
    from hemma.planning.solver import vrptw

    try:
        import pyvrp  # noqa: F401
    except ImportError:
        raise click.ClickException(
            "the classic VRPTW is solved by PyVRP, which Hemma itself does not need: "
            "install the benchmark tools with  pip install -e '.[bench]'") from None
    _one_core()
    solution = vrptw.solve(read_vrptw(path), seconds, seed, iterations=iterations)
    click.echo(json.dumps({"routes": solution.routes, "cost": solution.cost}))


@bench.command("hhcrsp")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--seconds", default=30.0, show_default=True, type=float)
@click.option("--iterations", type=int, default=None,
              help="Stop after this many iterations instead (the same result on any machine).")
@click.option("--seed", default=1, show_default=True, type=int)
def bench_hhcrsp(path: str, seconds: float, iterations: int | None, seed: int) -> None:
    """Solve a home-health-care instance of Mankowska et al. (JSON); print the solution in
    that format: routes of caregiver_id and locations (patient_id, service_id, arrival_time
    = start of service, departure_time), with the costs."""
    import json

    from hemma.planning.literature import hhcrsp_solution, read_hhcrsp
    from hemma.planning.solver.plan import solve

    _one_core()
    problem, _raw = read_hhcrsp(path)
    plan = solve(problem, seconds=None if iterations else seconds, iterations=iterations,
                 seed=seed)
    schedule = plan.schedule
    out = hhcrsp_solution(problem, plan.routes, schedule)
    tardiness = list(schedule.lateness.values())
    out["costs"] = {"distance": schedule.distance, "total_tardiness": sum(tardiness),
                    "max_tardiness": max(tardiness, default=0.0),
                    "cost": schedule.cost / 3}
    click.echo(json.dumps(out))


if __name__ == "__main__":
    main()
