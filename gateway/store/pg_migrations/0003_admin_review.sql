-- Admin review at volume: the quarantine list is read a page at a time, searched by exact keys
-- (recipient alias, sender and its @domain, rule, order id) and by subject words, and the audit
-- trail by object. Additive: instances on schema 2 keep working; the messages they hold meanwhile
-- are found by the status/tenant/time filters but not by the keys until held again.

CREATE TABLE quarantine_keys (
    key text NOT NULL,
    held_at double precision NOT NULL,
    qid text NOT NULL REFERENCES quarantine (id) ON DELETE CASCADE,
    PRIMARY KEY (key, held_at, qid)
);
CREATE INDEX quarantine_keys_qid ON quarantine_keys (qid);

CREATE TABLE quarantine_search (
    qid text PRIMARY KEY REFERENCES quarantine (id) ON DELETE CASCADE,
    words tsvector NOT NULL
);
CREATE INDEX quarantine_search_words ON quarantine_search USING gin (words);

CREATE INDEX quarantine_held ON quarantine (held_at, id);
CREATE INDEX quarantine_status_held_id ON quarantine (status, held_at, id);
CREATE INDEX quarantine_tenant_status_held ON quarantine (tenant, status, held_at, id);
CREATE INDEX audit_object ON audit (object, id);
CREATE INDEX audit_at ON audit (at);
-- Message tracking: one message's decisions, quarantine record and relays by id or Message-ID.
CREATE INDEX quarantine_message_id ON quarantine (message_id);
CREATE INDEX decisions_ref ON decisions (ref);
CREATE INDEX decisions_message_id ON decisions (message_id);
CREATE INDEX relays_queue_id ON relays (queue_id);

-- What is held already, from the stored fields (order ids from the subject only).
INSERT INTO quarantine_keys (key, held_at, qid)
SELECT DISTINCT k.key, q.held_at, q.id
FROM quarantine q
CROSS JOIN LATERAL (
    SELECT 'to:' || lower(btrim(r)) FROM unnest(q.rcpt_tos) AS r WHERE btrim(r) <> ''
    UNION SELECT 'from:' || lower(btrim(q.mail_from, '<> ')) WHERE btrim(q.mail_from, '<> ') <> ''
    UNION SELECT 'from:@' || lower(split_part(btrim(q.mail_from, '<> '), '@', 2))
        WHERE position('@' IN q.mail_from) > 0
    UNION SELECT 'rule:' || (h ->> 'rule')
        FROM json_array_elements(CASE WHEN json_typeof(q.verdict -> 'hits') = 'array'
                                      THEN q.verdict -> 'hits' ELSE '[]'::json END) AS h
        WHERE coalesce(h ->> 'rule', '') <> ''
    UNION SELECT 'order:' || m[1] FROM regexp_matches(q.subject, '(?<![0-9-])([0-9]{3}-[0-9]{7}-[0-9]{7})(?![0-9-])', 'g') AS m
) AS k (key)
ON CONFLICT DO NOTHING;

INSERT INTO quarantine_search (qid, words)
SELECT id, to_tsvector('simple', subject) FROM quarantine
ON CONFLICT DO NOTHING;
