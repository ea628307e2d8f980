-- Each host numbers its events itself: with several hosts on one database, events are kept
-- per host, so that one host's event no longer replaces another's under the same number.
-- Events from before this migration (one host) keep the host '' and are read by every host.
-- Forward-only: never edit a migration once merged.
ALTER TABLE event ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE event DROP CONSTRAINT event_pkey;
ALTER TABLE event ADD PRIMARY KEY (host, seq);
