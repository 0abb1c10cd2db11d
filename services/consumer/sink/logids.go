package sink

import (
	"context"
	"fmt"
	"strings"

	"logpipe/lib/logevent"
)

// A log is identified by (organisation, workspace, id), whatever the id. The
// logs table collapses copies of a log that share its whole ordering key
// (organisation_id, workspace_id, created_at, id) and partition (retention
// tier, day). Ingest makes created_at deterministic for a UUIDv7 id (its
// time) and for an event that carries created_at; an event with any other id
// and no created_at is stamped with its arrival time, so a retried POST would
// carry another created_at and never collapse. canonicalise closes that
// hole: every event whose id carries no time takes the created_at and
// retention tier its id was first written with, which log_ids records before
// the logs themselves are written (so a crash between the two is harmless:
// the redelivery finds the record). One Kafka partition holds every copy of
// an id (the message key is the id) and is consumed by one consumer at a
// time, so two consumers never race to record the same id.

// lookupChunk bounds the ids of one log_ids lookup query.
const lookupChunk = 2000

type tenantID struct{ org, ws, id string }

type firstSeen struct {
	at   logevent.Millis
	tier uint16
}

// canonicalise rewrites, in place, the created_at and retention tier of every
// event whose id carries no time to those of the id's first copy — recorded
// in log_ids, or else the first copy in this batch, which it records.
func (s *ClickHouse) canonicalise(ctx context.Context, events []logevent.Event) error {
	groups := map[tenantID][]int{}
	var keys []tenantID
	for i := range events {
		e := &events[i]
		if _, ok := logevent.IDTime(e.ID); ok {
			continue
		}
		k := tenantID{e.OrganisationID, e.WorkspaceID, e.ID}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	if len(keys) == 0 {
		return nil
	}
	known, err := s.lookupIDs(ctx, keys)
	if err != nil {
		return err
	}
	var fresh []tenantID
	for _, k := range keys {
		idx := groups[k]
		f, ok := known[k]
		if !ok {
			first := &events[idx[0]]
			f = firstSeen{at: first.CreatedAt, tier: first.RetentionDays}
			fresh = append(fresh, k)
			known[k] = f
		}
		for _, i := range idx {
			events[i].CreatedAt, events[i].RetentionDays = f.at, f.tier
		}
	}
	return s.recordIDs(ctx, fresh, known)
}

// lookupIDs returns the first sightings log_ids holds for keys.
func (s *ClickHouse) lookupIDs(ctx context.Context, keys []tenantID) (map[tenantID]firstSeen, error) {
	out := make(map[tenantID]firstSeen, len(keys))
	for len(keys) > 0 {
		n := min(len(keys), lookupChunk)
		chunk := keys[:n]
		keys = keys[n:]
		// One OR term per tenant, each with the tenant's ids, so the primary
		// key (organisation_id, workspace_id, id) narrows every term.
		byTenant := map[[2]string][]string{}
		var order [][2]string
		for _, k := range chunk {
			t := [2]string{k.org, k.ws}
			if _, ok := byTenant[t]; !ok {
				order = append(order, t)
			}
			byTenant[t] = append(byTenant[t], k.id)
		}
		var terms []string
		var args []any
		for _, t := range order {
			ids := byTenant[t]
			terms = append(terms, "(organisation_id = ? AND workspace_id = ? AND id IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+"))")
			args = append(args, t[0], t[1])
			for _, id := range ids {
				args = append(args, id)
			}
		}
		q := "SELECT organisation_id, workspace_id, id, min(created_at), argMin(retention_days, created_at) FROM " +
			logevent.LogIDsTable + " WHERE " + strings.Join(terms, " OR ") + " GROUP BY organisation_id, workspace_id, id"
		rows, err := s.conn.Query(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("look up %d log ids: %w", n, err)
		}
		for rows.Next() {
			var k tenantID
			var at uint64
			var tier uint16
			if err := rows.Scan(&k.org, &k.ws, &k.id, &at, &tier); err != nil {
				rows.Close()
				return nil, fmt.Errorf("look up log ids: %w", err)
			}
			out[k] = firstSeen{at: logevent.Millis(at), tier: tier}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("look up log ids: %w", err)
		}
	}
	return out, nil
}

// recordIDs writes the first sightings of keys into log_ids.
func (s *ClickHouse) recordIDs(ctx context.Context, keys []tenantID, seen map[tenantID]firstSeen) error {
	if len(keys) == 0 {
		return nil
	}
	b, err := s.conn.PrepareBatch(syncCtx(ctx), "INSERT INTO "+logevent.LogIDsTable+" (organisation_id, workspace_id, id, created_at, retention_days)")
	if err != nil {
		return fmt.Errorf("prepare insert into %s: %w", logevent.LogIDsTable, err)
	}
	for _, k := range keys {
		f := seen[k]
		if err := b.Append(k.org, k.ws, k.id, uint64(f.at), f.tier); err != nil {
			_ = b.Abort()
			return fmt.Errorf("append log id %s: %w", k.id, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", len(keys), logevent.LogIDsTable, err)
	}
	return nil
}
