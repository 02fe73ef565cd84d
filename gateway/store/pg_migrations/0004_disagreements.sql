-- Learning from Amazon's verdicts: what was relayed as judged (subject, verdict, hits, pack
-- versions, template fingerprint), the disagreements found when Amazon refuses a relayed message
-- for a policy reason, and tenants whose proactive messaging Amazon restricted. JSON is kept as
-- text (read whole, never queried inside), as on SQLite. Additive: instances on schema 3 keep
-- working; they record no relayed messages, so a disagreement about their relays has the relay
-- record's fields only.

CREATE TABLE relayed_messages (
    tenant text NOT NULL DEFAULT '',
    queue_id text NOT NULL DEFAULT '',
    message_id text NOT NULL,
    subject text NOT NULL,
    action text NOT NULL,
    hits text NOT NULL,
    packs text NOT NULL,
    fingerprint text NOT NULL,
    order_ids text NOT NULL,
    aliases text NOT NULL,
    sent_at double precision NOT NULL,
    PRIMARY KEY (tenant, queue_id)
);
CREATE INDEX relayed_messages_sent_at ON relayed_messages (sent_at);

-- A disagreement refers to the relayed message it is about (tenant, queue_id; '' for none) and
-- keeps it from pruning. As first shipped, this migration gave disagreements a copy of the
-- relayed message's columns instead; 0005 folds databases created that way.
CREATE TABLE disagreements (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at double precision NOT NULL,
    tenant text NOT NULL DEFAULT '',
    queue_id text NOT NULL DEFAULT '',
    notice_id bigint,
    notice_date double precision NOT NULL,
    reason text NOT NULL,
    matched_by text NOT NULL,
    alias text NOT NULL,
    marketplace text,
    order_id text,
    hit_packs text NOT NULL,
    template text NOT NULL CHECK (template IN ('held', 'fixed', 'none')),
    fixed_by text NOT NULL DEFAULT '',
    fixed_at double precision,
    fixed_reason text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX disagreements_notice ON disagreements (tenant, notice_id, queue_id);
CREATE INDEX disagreements_held ON disagreements (tenant, template);
CREATE INDEX disagreements_at ON disagreements (at);

CREATE TABLE tenant_restrictions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant text NOT NULL DEFAULT '',
    since double precision NOT NULL,
    reason text NOT NULL,
    notice_id bigint,
    marketplace text,
    recorded_at double precision NOT NULL,
    cleared_at double precision,
    cleared_by text NOT NULL DEFAULT '',
    clear_reason text NOT NULL DEFAULT ''
);
CREATE INDEX tenant_restrictions_tenant ON tenant_restrictions (tenant, cleared_at);
