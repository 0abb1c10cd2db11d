// Package e2e holds the end-to-end tests: the three real service binaries,
// the real nginx base URL, ClickHouse and Kafka, driven over HTTP and with the
// product's official SDK (npm portkey-ai), as a user would.
package e2e
