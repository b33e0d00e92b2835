"""The one settings class. Every knob is an environment variable prefixed HEMMA_."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The least each data class must be kept, in days, and the rule that says so. Ten years are
# at most 3,653 days (three leap days), five years 1,827.
RETENTION_MINIMUM_DAYS: dict[str, tuple[int, str]] = {
    # Values and messages about the patient's health are journalhandlingar.
    "observations": (3653, "Patientdatalagen (2008:355) 3 kap. 17 §: a record is kept at "
                           "least ten years after its last entry"),
    "messages": (3653, "Patientdatalagen (2008:355) 3 kap. 17 §: a record is kept at least "
                       "ten years after its last entry"),
    # The access log.
    "audit": (1827, "HSLF-FS 2016:40 4 kap. 9 § 7: access logs are kept at least five years"),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEMMA_", extra="ignore")

    # Where the embedded SQLite database and the generated secret live when nothing else is set.
    data_dir: Path = Path("data")
    # SQLite by default so a fresh clone runs; PostgreSQL in production
    # (postgresql+psycopg://user:password@host:5432/db).
    database_url: str = ""

    # Signs nothing the client can forge (sessions are server-side), but keys the audit chain
    # HMAC. Generated once into data_dir when not given, so a demo needs no setup.
    secret_key: str = ""

    # Sessions: Patientdatalagen expects that an unattended terminal does not stay open.
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    cookie_secure: bool = True

    # Failed-login throttling, counted in the database so that it holds across app instances.
    login_max_failures_per_user: int = 5
    login_max_failures_per_address: int = 20
    login_failure_window_minutes: int = 15

    # Staff login through the region's identity provider (SITHS eID reaches web applications
    # this way): OpenID Connect, authorization code flow with PKCE. Empty issuer: off. The
    # issuer's /.well-known/openid-configuration names everything else. Without a client
    # secret Hemma is a public client (PKCE alone). The staff account is found by the HSA-id
    # in `oidc_hsa_claim` (Inera's IdP calls its tjänste-id claim `employeeHsaId`); nobody is
    # created on the way in.
    oidc_issuer: str = Field(default="", max_length=500)
    oidc_client_id: str = Field(default="", max_length=255)
    oidc_client_secret: str = ""
    oidc_hsa_claim: str = Field(default="employeeHsaId", min_length=1, max_length=100)
    oidc_scopes: str = Field(default="openid", max_length=500)
    # The callback registered at the identity provider, e.g.
    # https://hemma.region.example.se/login/oidc/callback; empty: this request's own address
    # (right unless a proxy in front rewrites scheme or host).
    oidc_redirect_url: str = Field(default="", max_length=500)
    # How far the provider's clock and ours may disagree (exp, iat of the ID token).
    oidc_clock_skew_seconds: int = Field(default=60, ge=0, le=600)
    oidc_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # Passwords: the demo and installations without an identity provider need them. This is
    # the default until an administrator decides on the admin page (stored in the database,
    # at once for every instance); without an identity provider they are always on, so an
    # installation can never lock itself out (`hemma users password-login on` is the break
    # glass).
    password_login: bool = True
    # HSLF-FS 2016:40 asks for strong authentication: in production a password login takes a
    # one-time code from an authenticator app too (TOTP). Off for the demo.
    totp_required: bool = False
    # The name an authenticator app shows beside the code.
    totp_issuer: str = Field(default="Hemma", min_length=1, max_length=60)

    # Emergency access (nödåtkomst) lasts this long before the user must give a new reason.
    emergency_access_minutes: int = 120
    # A discharged patient stays visible to the care team this long, for the discharge summary
    # and follow-up of readmissions; then the care relationships end by themselves.
    care_relation_grace_days: int = 7
    # Lag (2017:612): the notice to the municipality (inskrivningsmeddelande) within this many
    # hours of knowing the patient will need it after discharge, and the call to the SIP
    # meeting within this many Swedish calendar days of the notice. The county's local
    # agreement may set other figures.
    sip_notice_hours: int = Field(default=24, ge=1, le=24 * 14)
    sip_call_days: int = Field(default=3, ge=1, le=30)

    # Messages from the patient: the team answers within this many minutes of daytime
    # (Swedish wall-clock hours from start to end, every day unless weekends are left out);
    # a message sent outside daytime starts its clock at the next daytime start. A message
    # that passes its goal unanswered is escalated once to the unit's staff on duty
    # (hemma.messaging.deadlines).
    # Follow-up: what an inpatient day costs, the saving each day at home stands for (Region
    # Dalarna's cost of a vårddygn in 2024, 8 483 kr; shown beside the figure with its
    # source), and the smallest count shown outside a unit's own care team (smaller counts
    # are suppressed, "<5").
    followup_bed_day_cost: float = Field(default=8483.0, ge=0, le=1_000_000)
    followup_bed_day_cost_source: str = Field(default="Region Dalarna 2024", max_length=200)
    followup_small_numbers: int = Field(default=5, ge=1, le=100)
    # The key of the research extract's pseudonyms (a keyed hash of the personnummer). Keep it
    # apart from the database; unset, a key derived from the secret key is used.
    research_key: str = ""

    message_answer_minutes: int = Field(default=120, ge=1, le=7 * 24 * 60)
    message_day_start: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    message_day_end: str = Field(default="17:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    message_weekends: bool = True
    # Longest message text, and the largest photo accepted with a message (checked while
    # the upload is read; the photo is decoded, re-encoded without EXIF and stored under
    # data_dir/uploads, outside the web root).
    message_max_chars: int = Field(default=4000, ge=100, le=20000)
    message_photo_max_bytes: int = Field(default=8_000_000, ge=10_000, le=20_000_000)

    # Only trust X-Forwarded-For from a reverse proxy we run ourselves.
    trust_forwarded_for: bool = False
    # Requests with bodies larger than this are refused before parsing.
    max_body_bytes: int = 1_000_000
    # A single observation waits this many seconds at most for the ingest thread to record
    # it; then the sender gets a 503 and sends it again (a resend is never stored twice).
    ingest_timeout_seconds: float = 10.0
    # Requests of one app process between arriving and starting their answer (the rest wait
    # in the event loop, where waiting costs nothing; a stream counts only until it starts).
    # A process runs Python on one core at a time: with more requests at once, each of them,
    # and the log lines and rows they hold, waits longer for its turn (the morning's
    # benchmark: 20 at once, staff pages p50 15 s; 6, 2.5 s). Below the database pool's
    # connections (hemma.db.make_engine: 42), since a request may hold two.
    admitted_at_once: int = Field(default=8, ge=1, le=20)

    # NEWS2 combines values measured within this many minutes into one score.
    news2_window_minutes: int = 60
    # Values older than this (a device catching up) are stored and shown, but raise no alert.
    alert_max_age_hours: int = 12
    # Minutes without acknowledgement before each escalation step, per severity:
    # step 1 goes to the unit's physician on call, step 2 to every clinician of the unit.
    escalation: dict[str, list[int]] = {
        "critical": [5, 10], "high": [15, 15], "medium": [60, 60], "low": []}
    # The patient's login code lasts this long unless revoked; a patient stays logged in on
    # their own phone this long (re-typing a code daily is a barrier for an 85-year-old).
    patient_code_days: int = 30
    patient_session_days: int = 7
    # A road-routing service's table API (OSRM) for the planner's travel times; without it,
    # straight lines with a road factor and rural speeds (hemma.planning.travel).
    osrm_url: str | None = None
    # A geocoding service's search API (Nominatim, or one that answers like it) to place
    # patients' and staff's addresses on the map; without it, or when it does not answer, the
    # bundled table of Swedish postal codes gives the locality's centre (hemma.geo).
    geocoder_url: str | None = None
    # The planner's search time: a whole day, and a re-plan around an urgent visit or a visit
    # moved by hand (the planner waits for it). With `planning_iterations` set, the search
    # makes that many moves instead, the same on any machine (tests).
    planning_seconds: float = 2.5
    replan_seconds: float = 0.4
    planning_iterations: int | None = None
    # Run an outbox worker inside each app process (`hemma serve`, `make demo`). On by default
    # so that alerts go out even where nobody started `hemma worker`; production turns it off
    # (`hemma serve --no-worker`) and runs `hemma worker` processes beside the app instead.
    run_worker: bool = True
    # A worker holds the outbox messages it claimed this long. A worker that dies (killed,
    # the machine lost) holds them no longer than this: then another worker delivers them.
    # It is also how soon a failed delivery is tried again. Longer than the slowest delivery
    # of a batch (an SMTP server's timeout), and far longer than the clocks of the workers'
    # machines drift apart (they compare their own clocks with it).
    outbox_lease_seconds: int = Field(default=30, ge=1, le=3600)

    # Where the worker (and `hemma audit checkpoint`) appends signed checkpoints of the end of
    # the audit chains, and how often. Entries added since the newest checkpoint could be cut
    # off the end unnoticed: the interval bounds that. Put the file where the database's
    # administrators cannot write (another disk, an append-only mount); default: the data dir.
    audit_checkpoint_file: Path | None = None
    audit_checkpoint_seconds: int = Field(default=60, ge=1, le=3600)

    default_language: str = Field(default="sv", pattern="^(sv|en)$")

    # Notices to patients and relatives that a message waits for them (hemma.notifications):
    # by e-mail through this SMTP server (when host and sender are set) or by SMS through an
    # HTTP provider (when its URL is set: the JSON body {"from", "to", "message"} is POSTed
    # with `Authorization: Bearer <sms_token>`). With neither, notices are only written to
    # the log ("would send to …"), as in the demo.
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_sender: str = ""  # the From address, e.g. "Hemma <noreply@region.example.se>"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True  # off only for a relay on the same machine
    sms_url: str = ""
    sms_token: str = ""
    sms_sender: str = "Hemma"  # what the phone shows as the sender (provider's rules apply)
    # The address a notice asks people to log in at, e.g. "https://hemma.example.se/p";
    # empty: the notice carries no link.
    public_url: str = ""
    # FHIR subscriptions (rest-hook): the endpoints Hemma may call, as a comma-separated
    # list of URL prefixes ("https://journal.region.example.se/hemma-hook,"). A subscription
    # to any other endpoint is refused: patient events go only where an administrator said.
    fhir_subscription_endpoints: str = ""

    # `hemma backup` and `hemma restore` on PostgreSQL run pg_dump and pg_restore of the
    # server's own major version: from this directory when set, else Debian's
    # /usr/lib/postgresql/<major>/bin, else the PATH.
    pg_bin_dir: Path | None = None

    # Retention (gallring) per data class, in days counted from the last entry into the
    # patient's record (hemma.jobs.retention): 0 keeps the class for ever (the default: in
    # public care only the archive authority's decision, gallringsbeslut, allows a purge).
    # A figure below the class's legal minimum (RETENTION_MINIMUM_DAYS) is refused at start.
    retention_observations_days: int = Field(default=0, ge=0, le=365 * 200)
    retention_messages_days: int = Field(default=0, ge=0, le=365 * 200)
    retention_audit_days: int = Field(default=0, ge=0, le=365 * 200)

    @model_validator(mode="after")
    def _retention_at_least_the_law(self) -> Settings:
        for data_class, (minimum, law) in RETENTION_MINIMUM_DAYS.items():
            days = getattr(self, f"retention_{data_class}_days")
            if 0 < days < minimum:
                # An operator's error, in English like the rest of the settings' errors.
                said = (f"HEMMA_RETENTION_{data_class.upper()}_DAYS={days} is below the legal "
                        f"minimum of {minimum} days ({law}): set at least {minimum}, or 0 to "
                        "keep them for ever")
                raise ValueError(said)
        return self

    # Operations. Logs are JSON lines on standard error at this level (hemma.kit.logs).
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    # /metrics (Prometheus) answers only `Authorization: Bearer <metrics_token>`; unset, the
    # route does not exist (404). Give the scraper a long random token.
    metrics_token: str = ""
    # Where `hemma serve` and `hemma worker` on one host keep prometheus-client's
    # multiprocess files (PROMETHEUS_MULTIPROC_DIR); default: <data dir>/metrics.
    metrics_dir: Path | None = None
    # /ready wants a worker heartbeat at most this old: a worker beats after every round
    # (about every second when idle), and the longest round (the follow-up figures of the
    # last 35 days, once a day) takes far less.
    worker_fresh_seconds: int = Field(default=120, ge=5, le=3600)

    @model_validator(mode="after")
    def _daytime_runs_forward(self) -> Settings:
        if self.message_day_end <= self.message_day_start:
            raise ValueError("HEMMA_MESSAGE_DAY_END must be after HEMMA_MESSAGE_DAY_START")
        if "02" in (self.message_day_start[:2], self.message_day_end[:2]):
            # The hour the clocks skip in spring and repeat in autumn has no one moment.
            raise ValueError("Daytime cannot start or end between 02:00 and 02:59")
        return self

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / 'hemma.sqlite3').resolve()}"

    def resolved_checkpoint_file(self) -> Path:
        return self.audit_checkpoint_file or self.data_dir / "audit-checkpoints.jsonl"

    def resolved_metrics_dir(self) -> Path:
        return (self.metrics_dir or self.data_dir / "metrics").resolve()

    def resolved_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


_current: Settings | None = None


def configure(settings: Settings | None) -> None:
    """Make `settings` this process's settings: `create_app` does, with the app's own (a
    test's). None: read them afresh from the environment when next asked."""
    global _current
    _current = settings


def get_settings() -> Settings:
    """The one way every layer reads its settings (routes, services, jobs, commands)."""
    global _current
    if _current is None:
        _current = Settings()
    return _current
