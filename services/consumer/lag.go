package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"logpipe/consumer/pipeline"
)

// groupLag measures the consumer group's lag from Kafka itself: per
// partition, the high-water mark minus the group's committed offset (the log
// start when nothing is committed). It does not depend on this process
// fetching or writing anything, so it keeps telling the truth while
// ClickHouse is away and the backlog grows.
type groupLag struct {
	client *kafka.Client
	group  string
	topics []string
}

// measure returns the lag of every partition of the topics.
func (g *groupLag) measure(ctx context.Context) (map[string]map[int]int64, error) {
	meta, err := g.client.Metadata(ctx, &kafka.MetadataRequest{Topics: g.topics})
	if err != nil {
		return nil, fmt.Errorf("read topic metadata: %w", err)
	}
	list := map[string][]kafka.OffsetRequest{}
	parts := map[string][]int{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("read metadata of topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			list[t.Name] = append(list[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
			parts[t.Name] = append(parts[t.Name], p.ID)
		}
	}
	offs, err := g.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: list})
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	committed, err := g.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: g.group, Topics: parts})
	if err != nil {
		return nil, fmt.Errorf("fetch committed offsets of group %s: %w", g.group, err)
	}
	if committed.Error != nil {
		return nil, fmt.Errorf("fetch committed offsets of group %s: %w", g.group, committed.Error)
	}
	done := map[string]map[int]int64{}
	for t, ps := range committed.Topics {
		done[t] = map[int]int64{}
		for _, p := range ps {
			if p.Error == nil {
				done[t][p.Partition] = p.CommittedOffset
			}
		}
	}
	out := map[string]map[int]int64{}
	for t, ps := range offs.Topics {
		out[t] = map[int]int64{}
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("list offsets of %s/%d: %w", t, p.Partition, p.Error)
			}
			from, ok := done[t][p.Partition]
			if !ok || from < p.FirstOffset {
				from = p.FirstOffset // nothing committed (or committed below what is kept)
			}
			out[t][p.Partition] = max(p.LastOffset-from, 0)
		}
	}
	return out, nil
}

// watchLag sets the lag gauge from Kafka every interval until ctx ends. While
// Kafka itself does not answer, the gauge keeps its last values.
func watchLag(ctx context.Context, g *groupLag, m *pipeline.Metrics, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		mctx, cancel := context.WithTimeout(ctx, max(interval, 5*time.Second))
		lag, err := g.measure(mctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			log.Warn("consumer lag unavailable", "err", err)
		case err == nil:
			failing = false
			for topic, ps := range lag {
				for p, n := range ps {
					m.SetLag(topic, p, n)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
