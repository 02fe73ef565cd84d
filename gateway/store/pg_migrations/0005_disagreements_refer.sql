-- A disagreement refers to the relayed message it is about (relayed_messages, by tenant and
-- queue id) instead of holding a copy of its columns. 0004 as first shipped created that copy:
-- on such a database the copy moves into relayed_messages where the message has no row there
-- (a relay recorded before relayed messages were kept), and the copied columns get defaults.
-- Expand only (gateway/store/migrate.py): instances still on the previous release keep writing
-- and reading the copy meanwhile; this release neither writes nor reads it, a later one drops
-- it. A database created by 0004 as it is now has no copy: nothing to do.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
               AND table_name = 'disagreements' AND column_name = 'subject') THEN
        INSERT INTO relayed_messages (tenant, queue_id, message_id, subject, action, hits, packs, fingerprint,
                                      order_ids, aliases, sent_at)
            SELECT tenant, queue_id, message_id, subject, action, hits, packs, fingerprint, '', alias, sent_at
            FROM disagreements WHERE queue_id <> '' ORDER BY id
            ON CONFLICT (tenant, queue_id) DO NOTHING;
        ALTER TABLE disagreements
            ALTER COLUMN message_id SET DEFAULT '', ALTER COLUMN subject SET DEFAULT '',
            ALTER COLUMN action SET DEFAULT '', ALTER COLUMN hits SET DEFAULT '[]',
            ALTER COLUMN packs SET DEFAULT '{}', ALTER COLUMN fingerprint SET DEFAULT '',
            ALTER COLUMN sent_at SET DEFAULT 0;
    END IF;
END
$$;
