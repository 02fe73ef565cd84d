-- The gateway's shared state on PostgreSQL: the same tables as the SQLite backend, plus the bytes
-- that SQLite keeps as files (quarantined messages, notice evidence) so that every instance can
-- read them. Times are epoch seconds (double precision), as in SQLite.

CREATE TABLE relays (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant text NOT NULL DEFAULT '',
    queue_id text NOT NULL,
    message_id text NOT NULL,
    alias text NOT NULL,
    marketplace text NOT NULL,
    order_ids text NOT NULL,
    tags text NOT NULL,
    sent_at double precision NOT NULL
);
CREATE INDEX relays_message_id ON relays (message_id);
CREATE INDEX relays_alias ON relays (alias);

-- The primary key leads with order_id: it is the index relays_by_order uses.
CREATE TABLE relay_orders (
    order_id text NOT NULL,
    marketplace text NOT NULL,
    relay_id bigint NOT NULL REFERENCES relays (id) ON DELETE CASCADE,
    PRIMARY KEY (order_id, marketplace, relay_id)
);
CREATE INDEX relay_orders_relay_id ON relay_orders (relay_id);

CREATE TABLE order_counters (
    tenant text NOT NULL DEFAULT '',
    order_id text NOT NULL,
    counter text NOT NULL,
    count integer NOT NULL,
    PRIMARY KEY (tenant, order_id, counter)
);

CREATE TABLE daily_sends (
    tenant text NOT NULL,
    marketplace text NOT NULL,
    day text NOT NULL,
    count integer NOT NULL CHECK (count >= 0),
    PRIMARY KEY (tenant, marketplace, day)
);

CREATE TABLE aliases (
    tenant text NOT NULL DEFAULT '',
    alias text NOT NULL,
    status text NOT NULL CHECK (status IN ('optout', 'dead')),
    marketplace text,
    order_id text,
    first_seen double precision NOT NULL,
    last_seen double precision NOT NULL,
    evidence text NOT NULL,
    source text NOT NULL,
    PRIMARY KEY (tenant, alias)
);
CREATE INDEX aliases_last_seen ON aliases (last_seen);

CREATE TABLE quarantine (
    id text PRIMARY KEY,
    tenant text NOT NULL DEFAULT '',
    held_at double precision NOT NULL,
    peer text NOT NULL,
    mail_from text NOT NULL,
    rcpt_tos text[] NOT NULL,
    message_id text NOT NULL,
    subject text NOT NULL,
    marketplace text,
    verdict json NOT NULL,
    size integer NOT NULL,
    status text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'released', 'deleted'))
);
CREATE INDEX quarantine_status_held_at ON quarantine (status, held_at);

-- The bytes apart from the metadata: listing the quarantine never reads them, and dropping them
-- after a release or delete keeps the record.
CREATE TABLE quarantine_messages (
    id text PRIMARY KEY REFERENCES quarantine (id) ON DELETE CASCADE,
    data bytea NOT NULL
);

CREATE TABLE audit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at double precision NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    object text NOT NULL,
    reason text NOT NULL
);

CREATE TABLE decisions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at double precision NOT NULL,
    tenant text NOT NULL DEFAULT '',
    shadow boolean NOT NULL DEFAULT false,
    ref text NOT NULL,
    message_id text NOT NULL,
    peer text NOT NULL,
    mail_from text NOT NULL,
    rcpt_tos text[] NOT NULL,
    marketplace text,
    action text NOT NULL,
    rules text NOT NULL
);
CREATE INDEX decisions_at ON decisions (at);

CREATE TABLE bounce_notices (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at double precision NOT NULL,
    tenant text NOT NULL DEFAULT '',
    kind text NOT NULL,
    order_id text,
    marketplace text,
    alias text,
    matched_by text,
    source text NOT NULL,
    report json NOT NULL,
    resolved boolean NOT NULL DEFAULT false,
    evidence text,
    sha256 text
);
-- One recording per notice: two instances importing the same bytes race on this index.
CREATE UNIQUE INDEX bounce_notices_sha256 ON bounce_notices (tenant, sha256);
CREATE INDEX bounce_notices_alias ON bounce_notices (tenant, alias);
CREATE INDEX bounce_notices_unmatched ON bounce_notices (at) WHERE alias IS NULL AND NOT resolved;

-- Raw notice bytes, content-addressed.
CREATE TABLE evidence (
    sha256 text PRIMARY KEY,
    data bytea NOT NULL,
    stored_at double precision NOT NULL
);
