// Package feedback is the contract of feedback events: what ingest publishes
// on the feedback topic and the consumer writes to the feedback table. A PUT
// of an existing feedback id is a new version of it (a later UpdatedAt).
package feedback

import (
	"encoding/json"
	"fmt"

	"logpipe/lib/logevent"
)

// Table is the ClickHouse table of feedback.
const Table = "feedback"

// Limits of a feedback value and weight.
const (
	MinValue = -10
	MaxValue = 10
)

// Feedback is one piece of feedback on the logs of a trace.
type Feedback struct {
	// ID is the feedback id (UUIDv7 text when ingest assigns it).
	ID             string `json:"id"`
	OrganisationID string `json:"organisation_id"`
	WorkspaceID    string `json:"workspace_id"`
	// TraceID links the feedback to the logs of that trace.
	TraceID string `json:"trace_id"`
	// Value is an integer from -10 to 10.
	Value int8 `json:"value"`
	// Weight is from 0 to 1 (default 1); weighted feedback is Value × Weight.
	Weight float64 `json:"weight"`
	// CreatedAt is when the feedback was first given; UpdatedAt the version.
	CreatedAt     logevent.Millis `json:"created_at"`
	UpdatedAt     logevent.Millis `json:"updated_at"`
	RetentionDays uint16          `json:"retention_days"`
	MetadataKey   []string        `json:"metadata.key"`
	MetadataValue []string        `json:"metadata.value"`
}

// Columns are the feedback table's columns, in Row order.
var Columns = []string{"id", "organisation_id", "workspace_id", "trace_id", "value", "weight",
	"created_at", "updated_at", "retention_days", "`metadata.key`", "`metadata.value`"}

// InsertSQL is the batch INSERT naming every column.
func InsertSQL() string {
	s := "INSERT INTO " + Table + " ("
	for i, c := range Columns {
		if i > 0 {
			s += ", "
		}
		s += c
	}
	return s + ")"
}

// Row returns f's values in Columns order.
func (f *Feedback) Row() []any {
	mk, mv := f.MetadataKey, f.MetadataValue
	if mk == nil {
		mk = []string{}
	}
	if mv == nil {
		mv = []string{}
	}
	return []any{f.ID, f.OrganisationID, f.WorkspaceID, f.TraceID, f.Value, f.Weight,
		uint64(f.CreatedAt), uint64(f.UpdatedAt), f.RetentionDays, mk, mv}
}

// Validate returns every problem of f, or nil.
func (f *Feedback) Validate() []logevent.FieldError {
	var errs []logevent.FieldError
	add := func(field, reason string) { errs = append(errs, logevent.FieldError{Field: field, Reason: reason}) }
	if !logevent.IDPattern.MatchString(f.ID) {
		add("id", "must be 1-64 characters of letters, digits, '_', '.', ':' or '-'")
	}
	if f.OrganisationID == "" {
		add("organisation_id", "is required")
	}
	if f.WorkspaceID == "" {
		add("workspace_id", "is required")
	}
	if f.Value < MinValue || f.Value > MaxValue {
		add("value", fmt.Sprintf("must be an integer from %d to %d", MinValue, MaxValue))
	}
	if !(f.Weight >= 0 && f.Weight <= 1) {
		add("weight", "must be a number from 0 to 1")
	}
	if len(f.MetadataKey) != len(f.MetadataValue) {
		add("metadata.value", "must have one value per key")
	}
	for i, k := range f.MetadataKey {
		if !logevent.MetadataKeyPattern.MatchString(k) {
			add(fmt.Sprintf("metadata.key[%d]", i), fmt.Sprintf("%q must match %s", k, logevent.MetadataKeyPattern))
		}
	}
	return errs
}

// Encode returns f's wire form on Kafka (JSON).
func Encode(f *Feedback) ([]byte, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encode feedback %s: %w", f.ID, err)
	}
	return b, nil
}

// Decode parses f's wire form.
func Decode(b []byte) (Feedback, error) {
	var f Feedback
	if err := json.Unmarshal(b, &f); err != nil {
		return Feedback{}, fmt.Errorf("decode feedback: %w", err)
	}
	return f, nil
}
