"""Gateway configuration: a TOML file validated at start-up.

Every section is a pydantic model with ``extra="forbid"``, so an unknown key or a bad value is an
error that names the key (``server.max_recipients: Input should be greater than 0``). Defaults are
embedded: ``gateway serve`` with no file listens on 127.0.0.1:2525, keeps its state under
``./state`` and, with no upstream configured, delivers into a local Maildir outbox.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gateway.errors import GatewayError

DEFAULT_MARKETPLACE_TLDS: tuple[str, ...] = (
    "com", "ca", "com.mx", "com.br", "co.uk", "de", "fr", "it", "es", "nl", "se", "pl", "com.be",
    "com.tr", "ae", "sa", "eg", "in", "co.jp", "com.au", "sg",
)

# Every marketplace whose buyer aliases Amazon relays (marketplace.amazon.<tld>); a tld outside it
# is a typo that would quietly leave that marketplace's mail unchecked.
KNOWN_MARKETPLACE_TLDS: frozenset[str] = frozenset((*DEFAULT_MARKETPLACE_TLDS, "ie", "co.za"))

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]


class ConfigError(GatewayError):
    """The configuration cannot be used; ``errors`` holds one readable line per problem."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        super().__init__(f"{source}: " + "; ".join(errors))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _parse_hostport(value: str, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{what} must be HOST:PORT, got {value!r}")
    host = host.strip("[]")
    if not host:
        raise ValueError(f"{what} needs a host, got {value!r}")
    number = int(port)
    if not 0 <= number <= 65535:
        raise ValueError(f"port out of range in {value!r}")
    return host, number


def _validate_networks(cls: type, value: tuple[str, ...]) -> tuple[str, ...]:
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise ValueError(f"not a network: {item!r} ({exc})") from None
    return value


class ServerConfig(_Section):
    listen: str = "127.0.0.1:2525"
    implicit_tls_listen: str | None = None
    hostname: str = "localhost"
    max_message_size: PositiveInt = 20 * 1024 * 1024
    max_recipients: PositiveInt = 100
    max_sessions: PositiveInt = 200
    command_timeout: PositiveFloat = 300.0
    # Seconds for a whole DATA phase: the transfer plus the checks before the reply. aiosmtpd's
    # command timeout would otherwise cover it, too short for big messages on slow links.
    data_timeout: PositiveFloat = 600.0
    allowed_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    trusted_proxies: tuple[str, ...] = ()
    proxy_protocol_timeout: PositiveFloat = 5.0
    # aiosmtpd holds a message in memory while it is read and checked (about 3x its size at the
    # peak): at most this many bytes of message data are in flight in the listener at once. A session
    # reserves its declared SIZE (or 64 KiB when it declared none) before DATA, and up to
    # max_message_size once more arrives; when the budget is spent it waits up to data_budget_wait
    # seconds (not reading from the client meanwhile), then hears 452 4.3.1 (or 421 4.3.1 mid-DATA).
    data_memory_budget: PositiveInt = 24 * 1024 * 1024
    data_budget_wait: PositiveFloat = 60.0
    # Several gateway processes may share the listening port (SO_REUSEPORT; the kernel spreads new
    # connections over them). Each process needs its own state directory (its own spool).
    reuse_port: bool = False
    # Worker processes that share these listening sockets (gateway/workers.py): an int, or "auto"
    # for one per CPU (os.cpu_count()). 1 serves in the one process. `gateway serve --workers N`
    # overrides it. More than one: a supervisor binds the sockets, starts the workers, and runs
    # delivery, the admin server and the IMAP pollers once for all of them.
    workers: PositiveInt | Literal["auto"] = 1
    # The asyncio event loop: "uvloop" (the `fast` extra) or the standard one ("asyncio"). "auto" is
    # the standard loop for now (docs/spool-and-delivery.md, "Event loop").
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    # A bare LF or CR in message data: "normalize" takes it as a line ending (Postfix 3.9's
    # smtpd_forbid_bare_newline default), "reject" refuses the message (550 5.6.0). Either way
    # only <CRLF>.<CRLF> ends the data.
    bare_line_endings: Literal["normalize", "reject"] = "normalize"
    # Message-ID and Date for messages that arrive without them (Postfix adds them for its own
    # submission clients); the Received header is always added.
    add_missing_headers: bool = True
    # Name the AUTH user in the Received header (Postfix's smtpd_sasl_authenticated_header).
    received_auth_user: bool = False
    # Look up the client's verified reverse-DNS name for the Received header ("unknown" otherwise).
    reverse_dns: bool = True

    @field_validator("listen", "implicit_tls_listen")
    @classmethod
    def _check_listen(cls, value: str | None) -> str | None:
        if value is not None:
            _parse_hostport(value, "listen address")
        return value

    _check_networks = field_validator("allowed_networks", "trusted_proxies")(_validate_networks)

    @property
    def listen_address(self) -> tuple[str, int]:
        return _parse_hostport(self.listen, "listen")

    @property
    def worker_count(self) -> int:
        """How many worker processes ``workers`` asks for ("auto": one per CPU)."""
        if self.workers == "auto":
            return max(1, os.cpu_count() or 1)
        return self.workers

    @property
    def implicit_tls_address(self) -> tuple[str, int] | None:
        if self.implicit_tls_listen is None:
            return None
        return _parse_hostport(self.implicit_tls_listen, "implicit_tls_listen")


class TLSConfig(_Section):
    cert_file: Path | None = None
    key_file: Path | None = None
    # Refuse MAIL until the client did STARTTLS (loopback clients are exempt when false).
    require_starttls: bool = False

    @model_validator(mode="after")
    def _pair(self) -> TLSConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file must be set together")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


class AuthConfig(_Section):
    # A file of "user:argon2-hash" lines, written by `gateway auth add-user`.
    credentials_file: Path | None = None
    # Failed logins within failure_window seconds before a lock: per (client address, user), per
    # client address (a client trying many user names) and over all clients together.
    max_failures: PositiveInt = 5
    max_failures_per_peer: PositiveInt = 20
    max_failures_total: PositiveInt = 1000
    failure_window: PositiveFloat = 300.0


class StateConfig(_Section):
    # This instance's own files: its durable spool, and (without ``database``) the SQLite state.
    directory: Path = Path("state")
    # Shared state for several instances: a PostgreSQL DSN ("postgresql://user@host/dbname" or
    # "host=... dbname=..."; the password from the DSN, PGPASSFILE or PGPASSWORD). Absent: SQLite
    # in ``directory``.
    database: str | None = None
    pool_min_size: Annotated[int, Field(ge=0)] = 1
    pool_max_size: PositiveInt = 10
    # Free space kept on the state file system (like Postfix's queue_minfree): below it new mail
    # gets 452 4.3.1 while delivery goes on, since recording results needs a little room too.
    # 0 turns the reserve (and the ballast file) off: a full disk can then stop delivery.
    min_free_bytes: Annotated[int, Field(ge=0)] = 64 * 1024 * 1024
    # A cap on the spool database's size (None: only the free-space reserve limits it).
    spool_max_bytes: PositiveInt | None = None

    @field_validator("database")
    @classmethod
    def _postgres_dsn(cls, value: str | None) -> str | None:
        """A libpq connection string: a URI (postgresql://user@host/dbname) or key=value pairs."""
        if value is None:
            return None
        message = "database must be a PostgreSQL DSN (postgresql://user@host/dbname or host=... dbname=...)"
        if "://" in value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError(message)
        from psycopg.conninfo import conninfo_to_dict

        try:
            conninfo_to_dict(value)
        except Exception:
            raise ValueError(message) from None
        return value

    @model_validator(mode="after")
    def _pool_sizes(self) -> StateConfig:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("pool_min_size must not exceed pool_max_size")
        return self


class UpstreamConfig(_Section):
    # No host: deliver into the Maildir outbox under the state directory (a quick local trial).
    host: str | None = None
    port: Annotated[int, Field(gt=0, le=65535)] = 25
    tls: Literal["none", "opportunistic", "starttls", "implicit"] = "opportunistic"
    verify_certificate: bool = True
    ca_file: Path | None = None
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    password_file: Path | None = None
    helo_name: str | None = None
    connect_timeout: PositiveFloat = 30.0
    command_timeout: PositiveFloat = 60.0
    # The wait for the reply to DATA and to the final dot: RFC 5321 4.5.3.2.6 suggests 10 minutes,
    # since an upstream may store (and scan) the message first; giving up earlier makes resends.
    data_timeout: PositiveFloat = 600.0
    pool_size: PositiveInt = 4
    # Pooled connections idle longer than this are closed rather than reused (servers drop them).
    pool_idle_timeout: PositiveFloat = 30.0
    maildir: Path | None = None

    @model_validator(mode="after")
    def _credentials(self) -> UpstreamConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("set password or password_file, not both")
        if (self.password is not None or self.password_file is not None) and not self.username:
            raise ValueError("a password needs a username")
        return self

    def resolved_password(self) -> str | None:
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        return self.password


class DeliveryConfig(_Section):
    workers: PositiveInt = 4
    retry_initial: PositiveFloat = 60.0
    retry_max: PositiveFloat = 3600.0
    retry_factor: Annotated[float, Field(ge=1.0)] = 2.0
    give_up_after: PositiveFloat = 5 * 24 * 3600.0
    send_dsn: bool = True
    poll_interval: PositiveFloat = 1.0
    # Finished spool entries (per-recipient results, no message bytes) are kept this long.
    keep_finished: PositiveFloat = 7 * 24 * 3600.0
    # "separate": delivery runs in a child process on the same spool (like Postfix's smtp next to
    # smtpd), so listening and policy get one core and relaying the other. The child polls the
    # spool every poll_interval seconds.
    process: Literal["inline", "separate"] = "inline"
    # An attempt still running after this many seconds (a stalled upstream) stops occupying its
    # worker and pool slot, so the rest of the queue flows past it.
    stall_after: PositiveFloat = 15.0
    # How long a new delivery process waits for the previous one to release the spool's lock.
    lock_wait: Annotated[float, Field(ge=0)] = 60.0


class MarketplaceConfig(_Section):
    domain_prefix: str = "marketplace.amazon."
    tlds: tuple[str, ...] = DEFAULT_MARKETPLACE_TLDS

    @field_validator("tlds")
    @classmethod
    def _lower(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one marketplace tld is needed")
        tlds = tuple(t.lower().strip(".") for t in value)
        unknown = [t for t in tlds if t not in KNOWN_MARKETPLACE_TLDS]
        if unknown:
            raise ValueError(f"not an Amazon marketplace: {', '.join(map(repr, unknown))} "
                             f"(known: {', '.join(sorted(KNOWN_MARKETPLACE_TLDS))})")
        return tlds


class PolicyConfig(_Section):
    enabled: bool = True
    # Rule packs shipped with the gateway; None means the packaged `policies/` folder.
    packs_dir: Path | None = None
    # An admin's own packs: add rules, override a rule by id, or disable it.
    local_packs_dir: Path | None = None
    # Per-rule action overrides: {"links-external" = "reject"}
    actions: dict[str, Literal["reject", "quarantine", "rewrite", "relay", "strip"]] = Field(default_factory=dict)
    disabled: tuple[str, ...] = ()
    critical_keywords: dict[str, str] = Field(default_factory=dict)
    # Amazon may have removed the subject keyword override; keep the behaviour switchable.
    keyword_override: bool = True
    misused_keyword_action: Literal["quarantine", "reject", "rewrite"] = "quarantine"
    # Shadow mode: decide, log and count everything, but relay every message unchanged.
    shadow: bool = False
    evaluation_timeout: PositiveFloat = 10.0
    # "process": evaluations run in worker processes, and one that times out is ended there and
    # then (gateway/evaluation.py); "thread": in this process, where a timed-out one runs on.
    evaluation_isolation: Literal["process", "thread"] = "process"
    # Hosts a message may link to besides Amazon's own and the carriers in the links pack.
    link_allow_domains: tuple[str, ...] = ()
    # Rules with a score instead of an action add up; these sums quarantine or reject.
    score_quarantine: PositiveFloat = 5.0
    score_reject: PositiveFloat = 10.0


class ImapConfig(_Section):
    """A mailbox the seller's Amazon notices are forwarded to, polled for bounce-backs."""

    host: str
    port: Annotated[int, Field(gt=0, le=65535)] | None = None
    """Default: 993 with ``tls = "implicit"``, 143 otherwise."""
    tls: Literal["implicit", "starttls", "none"] = "implicit"
    verify_certificate: bool = True
    ca_file: Path | None = None
    username: str
    password: str | None = Field(default=None, repr=False)
    password_file: Path | None = None
    folder: str = "INBOX"
    # What happens to a message once it is recorded: moved to ``processed_folder`` or flagged
    # with ``processed_flag`` (and left where it is).
    processed_action: Literal["move", "flag"] = "move"
    processed_folder: str = "Processed"
    processed_flag: str = "$GatewayProcessed"
    poll_interval: PositiveFloat = 60.0
    timeout: PositiveFloat = 30.0
    max_messages_per_poll: PositiveInt = 500
    # Whose opt-out registry the notices in this mailbox belong to ("" without [[tenants]]).
    tenant: str = ""

    @model_validator(mode="after")
    def _credentials(self) -> ImapConfig:
        if (self.password is None) == (self.password_file is None):
            raise ValueError("set exactly one of password or password_file")
        if self.processed_action == "flag" and not re.fullmatch(r"(?:\\|\$)?[A-Za-z0-9_.-]+", self.processed_flag):
            raise ValueError(f"processed_flag is not an IMAP keyword: {self.processed_flag!r}")
        return self

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 993 if self.tls == "implicit" else 143

    def resolved_password(self) -> str:
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        assert self.password is not None
        return self.password


class BounceConfig(_Section):
    # Envelope recipients on the main listener whose mail is a forwarded bounce-back to parse.
    addresses: tuple[str, ...] = ()
    # A listener of its own where every message is a bounce-back (same access control as the main one).
    listen: str | None = None
    # How far back a notice that names only the order is matched against relays.
    correlation_days: PositiveInt = 60
    # Mailboxes to poll: [bounces.imap] for one, [[bounces.imap]] for several (one per tenant).
    imap: tuple[ImapConfig, ...] = ()
    # The bounce wording (amazon.toml, markers.toml, reasons.toml, vendors.toml); None: the shipped
    # one (the installed package's copy of policies/bounces). Copy that folder to adapt it.
    wording_dir: Path | None = None

    @field_validator("imap", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, dict) else value

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str | None) -> str | None:
        if value is not None:
            _parse_hostport(value, "bounces.listen")
        return value


class TenantPolicyConfig(_Section):
    """A tenant's changes to the global policy: re-action or disable rules, its own packs."""

    actions: dict[str, Literal["reject", "quarantine", "rewrite", "relay", "strip"]] = Field(default_factory=dict)
    disabled: tuple[str, ...] = ()
    local_packs_dir: Path | None = None
    critical_keywords: dict[str, str] = Field(default_factory=dict)


_TENANT_ID = r"^[a-z0-9][a-z0-9._-]{0,62}$"


class TenantConfig(_Section):
    """One merchant relaying through a shared gateway."""

    id: Annotated[str, Field(pattern=_TENANT_ID)]
    # How a session is mapped to this tenant (first match in [tenancy] match_order wins).
    auth_users: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    sender_domains: tuple[str, ...] = ()
    # The tenant's own upstream; None: the global [upstream].
    upstream: UpstreamConfig | None = None
    # From addresses registered with each marketplace ("de" = [...]); "*" applies to every
    # marketplace. Amazon rejects mail from unregistered addresses, so the gateway does first.
    senders: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    policy: TenantPolicyConfig = Field(default_factory=TenantPolicyConfig)
    # None: follow [policy] shadow.
    shadow: bool | None = None
    # Proactive messages per marketplace and UTC day ("*" for every marketplace). Amazon's published
    # cap is five times the average daily order volume plus 600.
    daily_caps: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)

    _check_networks = field_validator("networks")(_validate_networks)

    @field_validator("sender_domains")
    @classmethod
    def _lower_domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(d.lower().strip(".") for d in value)

    @field_validator("senders")
    @classmethod
    def _lower_senders(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return {k.lower(): tuple(a.lower() for a in v) for k, v in value.items()}


class TenancyConfig(_Section):
    match_order: tuple[Literal["auth", "network", "sender_domain"], ...] = (
        "auth", "network", "sender_domain")


class AdminConfig(_Section):
    """The admin HTTP server: metrics, health, the JSON API and the review pages."""

    # enabled = false (or listen None, from code) turns it off. Keep it on loopback or behind a TLS proxy.
    enabled: bool = True
    listen: str | None = "127.0.0.1:8025"
    # A bearer token for scripts and Prometheus; token_file keeps it out of the config file.
    token: str | None = Field(default=None, repr=False)
    token_file: Path | None = None
    # Users of the credentials file (auth.credentials_file unless set here) who may log in to the pages.
    users: tuple[str, ...] = ()
    credentials_file: Path | None = None
    session_ttl: PositiveFloat = 8 * 3600.0
    # Mark the session cookie Secure (set when a TLS proxy fronts the admin port).
    secure_cookies: bool = False
    # Let /metrics be scraped without a token (it holds counts, no message content).
    public_metrics: bool = False
    # Proxies (addresses or networks) whose X-Forwarded-For names the real client: logins are
    # limited per client, and behind a proxy every client would otherwise look like the proxy.
    trusted_proxies: tuple[str, ...] = ()
    # Failed logins (and bearer-token guesses) allowed in login_window seconds: per (client, user),
    # per client over all user names, and in total over all clients.
    login_failures_per_user: PositiveInt = 5
    login_failures_per_client: PositiveInt = 20
    login_failures_total: PositiveInt = 500
    login_window: PositiveFloat = 300.0

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str | None) -> str | None:
        if value is not None:
            _parse_hostport(value, "admin.listen")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or network: {item!r}") from None
        return value

    @model_validator(mode="after")
    def _one_token(self) -> AdminConfig:
        if self.token is not None and self.token_file is not None:
            raise ValueError("set token or token_file, not both")
        if self.token is not None and len(self.token) < 16:
            raise ValueError("token must be at least 16 characters")
        return self

    @property
    def listen_address(self) -> tuple[str, int] | None:
        if not self.enabled or self.listen is None:
            return None
        return _parse_hostport(self.listen, "admin.listen")

    def resolved_token(self) -> str | None:
        if self.token_file is not None:
            return self.token_file.read_text(encoding="utf-8").strip() or None
        return self.token


class LogConfig(_Section):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class DkimKeyConfig(_Section):
    domain: Annotated[str, Field(min_length=3, pattern=r"^[A-Za-z0-9.-]+$")]
    selector: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")]
    key_file: Path


class DkimConfig(_Section):
    """DKIM signing of relayed mail, per sender (From) domain; see ``gateway dkim keygen``."""

    keys: tuple[DkimKeyConfig, ...] = ()
    # Sign every relayed message whose From domain has a key, or only those the gateway changed
    # (subject rewrite, repair): an unchanged message keeps the seller's own signature intact.
    sign: Literal["always", "changed"] = "always"
    headers: tuple[str, ...] = ()
    """Header fields to sign; empty: RFC 6376's recommended set."""

    @field_validator("keys")
    @classmethod
    def _one_key_per_domain(cls, value: tuple[DkimKeyConfig, ...]) -> tuple[DkimKeyConfig, ...]:
        seen: set[str] = set()
        for key in value:
            domain = key.domain.lower().rstrip(".")
            if domain in seen:
                raise ValueError(f"two keys for {domain}: one signing key per domain")
            seen.add(domain)
        return value


class LearningConfig(_Section):
    """Learning from Amazon's verdicts (gateway/learning.py): what the gateway does after Amazon
    refused a message it relayed, or restricted the seller's proactive messaging."""

    # After a policy notice for a relayed message, hold further messages of its template for review
    # until an admin marks the template fixed (or a rule holds or refuses them by itself). On by
    # default: it only ever holds (never refuses), and only after Amazon itself refused the template.
    hold_templates: bool = True
    # Estimated share of word 3-grams two messages must share to be one template (0.6: the same ERP
    # template filled in for another order scores ~0.7, another template < 0.1).
    template_similarity: Annotated[float, Field(gt=0.0, le=1.0)] = 0.6
    # While Amazon restricts a tenant's proactive messaging, order-critical mail (the subject keyword)
    # is refused like any proactive message; true lets it through (replies always pass).
    restricted_allow_critical: bool = False
    # How long an instance trusts what it read of holds and restrictions before reading again
    # (several instances on one PostgreSQL see another's change within this time).
    state_seconds: Annotated[float, Field(ge=0.0, le=300.0)] = 5.0


class GatewayConfig(_Section):
    server: ServerConfig = Field(default_factory=ServerConfig)
    tls: TLSConfig = Field(default_factory=TLSConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    upstream: UpstreamConfig = Field(default_factory=UpstreamConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    marketplace: MarketplaceConfig = Field(default_factory=MarketplaceConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    bounces: BounceConfig = Field(default_factory=BounceConfig)
    admin: AdminConfig = Field(default_factory=AdminConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    tenancy: TenancyConfig = Field(default_factory=TenancyConfig)
    tenants: tuple[TenantConfig, ...] = ()
    dkim: DkimConfig = Field(default_factory=DkimConfig)
    learning: LearningConfig = Field(default_factory=LearningConfig)

    @model_validator(mode="after")
    def _listeners(self) -> GatewayConfig:
        if self.server.implicit_tls_listen is not None and not self.tls.enabled:
            raise ValueError("server.implicit_tls_listen: needs [tls] cert_file and key_file")
        seen: list[tuple[str, tuple[str, int]]] = []
        for key, address in self.listeners():
            for other_key, other in seen:
                if _same_socket(address, other):
                    raise ValueError(f"{key}: {address[0]}:{address[1]} is also {other_key}; "
                                     f"each listener needs a port of its own")
            seen.append((key, address))
        return self

    def listeners(self) -> list[tuple[str, tuple[str, int]]]:
        """Every address the gateway listens on, with the key that sets it."""
        out = [("server.listen", self.server.listen_address)]
        if self.server.implicit_tls_address is not None:
            out.append(("server.implicit_tls_listen", self.server.implicit_tls_address))
        if self.bounces.listen is not None:
            out.append(("bounces.listen", _parse_hostport(self.bounces.listen, "bounces.listen")))
        if self.admin.listen_address is not None:
            out.append(("admin.listen", self.admin.listen_address))
        return out

    @model_validator(mode="after")
    def _unique_tenants(self) -> GatewayConfig:
        seen: set[str] = set()
        for tenant in self.tenants:
            if tenant.id in seen:
                raise ValueError(f"tenant id {tenant.id!r} is used twice")
            seen.add(tenant.id)
        for mailbox in self.bounces.imap:
            if mailbox.tenant and mailbox.tenant not in seen:
                raise ValueError(f"bounces.imap: no tenant {mailbox.tenant!r} in [[tenants]]")
        return self

    def tenant_ids(self) -> tuple[str, ...]:
        """Every tenant id whose registry may be used: "" (the implicit tenant) and the configured ones."""
        return ("", *(t.id for t in self.tenants))

    @property
    def state_dir(self) -> Path:
        return self.state.directory

    @property
    def outbox_dir(self) -> Path:
        return self.upstream.maildir or self.state.directory / "outbox"


_WILDCARDS = frozenset(("", "0.0.0.0", "::", "*"))


def _same_socket(a: tuple[str, int], b: tuple[str, int]) -> bool:
    """Would binding both fail with EADDRINUSE? Port 0 is a fresh port each time."""
    if a[1] != b[1] or a[1] == 0:
        return False
    return a[0] == b[0] or a[0] in _WILDCARDS or b[0] in _WILDCARDS


def _format_errors(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key")
            continue
        message = str(err["ctx"]["error"]) if err["type"] == "value_error" and "ctx" in err else err["msg"]
        # A check across sections names its key itself.
        lines.append(f"{key}: {message}" if key else message)
    return lines


def config_from_mapping(data: dict[str, Any], source: str = "<config>") -> GatewayConfig:
    """Validate a parsed mapping; relative paths stay relative to the caller's choice of base."""
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, _format_errors(exc)) from None


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Paths in a config file are relative to the file's folder, as admins expect."""
    path_keys = {
        "tls": ("cert_file", "key_file"),
        "auth": ("credentials_file",),
        "state": ("directory",),
        "upstream": ("ca_file", "password_file", "maildir"),
        "policy": ("packs_dir", "local_packs_dir"),
        "admin": ("token_file", "credentials_file"),
    }
    out = _resolve_sections(data, path_keys, base)
    bounces = out.get("bounces")
    if isinstance(bounces, dict):
        # [bounces.imap] is one mailbox or, as [[bounces.imap]], several.
        mailboxes = bounces.get("imap")
        imap_keys: dict[str, tuple[str, ...]] = {"imap": ("ca_file", "password_file")}
        if isinstance(mailboxes, dict):
            bounces = _resolve_sections(bounces, imap_keys, base)
        elif isinstance(mailboxes, list):
            bounces = {**bounces, "imap": [
                _resolve_sections({"imap": m}, imap_keys, base)["imap"] if isinstance(m, dict) else m
                for m in mailboxes]}
        if isinstance(bounces, dict):
            bounces = _resolve_sections({"bounces": bounces}, {"bounces": ("wording_dir",)}, base)["bounces"]
        out["bounces"] = bounces
    tenants = out.get("tenants")
    if isinstance(tenants, list):
        tenant_keys = {"upstream": path_keys["upstream"], "policy": ("local_packs_dir",)}
        out["tenants"] = [_resolve_sections(t, tenant_keys, base) if isinstance(t, dict) else t
                          for t in tenants]
    dkim = out.get("dkim")
    if isinstance(dkim, dict) and isinstance(dkim.get("keys"), list):
        out["dkim"] = {**dkim, "keys": [
            _resolve_sections({"key": k}, {"key": ("key_file",)}, base)["key"] if isinstance(k, dict) else k
            for k in dkim["keys"]]}
    return out


def _resolve_sections(data: dict[str, Any], path_keys: dict[str, tuple[str, ...]],
                      base: Path) -> dict[str, Any]:
    out = dict(data)
    for section, keys in path_keys.items():
        sect = out.get(section)
        if not isinstance(sect, dict):
            continue
        sect = dict(sect)
        for key in keys:
            value = sect.get(key)
            if isinstance(value, str) and value and not Path(value).is_absolute():
                sect[key] = str(base / value)
        out[section] = sect
    return out


def load_config(path: Path | None) -> GatewayConfig:
    """Read and validate a TOML file; ``None`` gives the embedded defaults."""
    if path is None:
        return GatewayConfig()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror or exc}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None
    return config_from_mapping(_resolve_paths(data, path.parent.resolve()), str(path))
