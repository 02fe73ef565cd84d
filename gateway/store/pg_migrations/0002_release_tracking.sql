-- Release tracking: which instance claimed a release, when, and the queue id its spool gave the
-- message. A release claimed but never spooled (the instance died between the two steps, or the
-- claim's commit acknowledgement was lost) is found by that instance and spooled again.
-- Additive: instances still on schema 1 keep working and leave the columns empty.
ALTER TABLE quarantine ADD COLUMN claimed_by text;
ALTER TABLE quarantine ADD COLUMN claimed_at double precision;
ALTER TABLE quarantine ADD COLUMN queue_id text;
CREATE INDEX quarantine_unspooled ON quarantine (claimed_by, claimed_at)
    WHERE status = 'released' AND queue_id IS NULL;
