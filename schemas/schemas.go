// Package schemas embeds the project's machine-readable contracts so that every
// binary carries the exact files that are reviewed in the repository:
// the ClickHouse migrations (single-node and cluster variants), the JSON Schema of
// the log event with its examples, and the OpenAPI document of the HTTP APIs.
package schemas

import "embed"

// FS holds clickhouse/, event/ and openapi/ as they are in the repository.
//
//go:embed clickhouse event openapi
var FS embed.FS
