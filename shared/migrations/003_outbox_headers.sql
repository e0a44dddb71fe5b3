-- Outbox headers kept as the relay hands them to the producer, not as JSON: one bytea per row,
-- each header's name and value (UTF-8) in order, all joined by NUL bytes (name NUL value NUL
-- name NUL value ...). The relay splits it with one bytes.split where it decoded a JSON
-- document per row. No name or value holds a NUL (jsonb could not store one either; outbox.add
-- refuses it). Existing rows are converted, sent or not.

CREATE FUNCTION pg_temp.packed_headers(headers jsonb) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(string_agg(convert_to(h ->> 0, 'UTF8') || '\x00'::bytea
                               || convert_to(h ->> 1, 'UTF8'), '\x00'::bytea ORDER BY i),
                    ''::bytea)
    FROM jsonb_array_elements(headers) WITH ORDINALITY AS e(h, i)
$$;

ALTER TABLE outbox ALTER COLUMN headers TYPE bytea USING pg_temp.packed_headers(headers);

DROP FUNCTION pg_temp.packed_headers(jsonb);
