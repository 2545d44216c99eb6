-- Moves an organization's head from `old_head` to `new_head` for the holder of
-- epoch `ep`, or raises SQLSTATE PKFEN ("fenced") when another node took the
-- lease or the head moved: a writer that already knows its head sends the head
-- move, its rows and COMMIT in one round trip, and the error turns that COMMIT
-- into a rollback.
CREATE FUNCTION poolkeeper_advance_head(
    org text, ep bigint, old_head bigint, new_head bigint, hash bytea
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE log_heads SET head = new_head, last_hash = hash
     WHERE organization = org AND epoch = ep AND head = old_head;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'poolkeeper: % is not at head % under epoch %', org, old_head, ep
              USING ERRCODE = 'PKFEN';
    END IF;
END
$$;
