-- Delivery machinery every service shares: transactional outbox, inbox, and event counters.

CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    topic       text        NOT NULL,
    key         bytea,
    value       bytea       NOT NULL,
    headers     jsonb       NOT NULL,
    event_id    text        NOT NULL,
    event_type  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL;

CREATE TABLE inbox (
    source      text        NOT NULL,
    id          text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, id)
);

-- Counted in the same transaction as the effect, so a restart never resets or repeats them.
CREATE TABLE event_counts (
    kind   text   NOT NULL,          -- processed | rejected
    label  text   NOT NULL,          -- the event type, or the rejection reason
    count  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, label)
);

CREATE TABLE event_lag (
    le     double precision PRIMARY KEY,  -- histogram bucket upper bound, 'Infinity' for +Inf
    count  bigint           NOT NULL DEFAULT 0,
    sum    double precision NOT NULL DEFAULT 0
);
