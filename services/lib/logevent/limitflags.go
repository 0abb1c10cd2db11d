package logevent

import "logpipe/lib/envflag"

// ServiceLimits are the limits ingest and the consumer apply unless
// configured otherwise: DefaultLimits with each payload bounded like one
// ingested event (1,000,000 bytes).
var ServiceLimits = Limits{
	MaxPayloadBytes:     1_000_000,
	MaxStringLen:        DefaultLimits.MaxStringLen,
	MaxMetadataKeys:     DefaultLimits.MaxMetadataKeys,
	MaxMetadataValueLen: DefaultLimits.MaxMetadataValueLen,
}

// RegisterLimitFlags defines the validation limits on fs and fills l with
// them. Ingest (which answers for an event) and the consumer (which
// validates it again before writing) both call it, so they read the same
// flags and environment variables and the consumer never rejects an event
// ingest accepted.
func RegisterLimitFlags(fs *envflag.Set, l *Limits) {
	d := ServiceLimits
	fs.Int(&l.MaxPayloadBytes, "max-payload-bytes", "LOGPIPE_MAX_PAYLOAD_BYTES", d.MaxPayloadBytes, "bound on each of request.body, response.body and the headers of an event, bytes")
	fs.Int(&l.MaxStringLen, "max-string-bytes", "LOGPIPE_MAX_STRING_BYTES", d.MaxStringLen, "bound on every scalar string column of an event, bytes")
	fs.Int(&l.MaxMetadataKeys, "max-metadata-keys", "LOGPIPE_MAX_METADATA_KEYS", d.MaxMetadataKeys, "bound on metadata pairs per event")
	fs.Int(&l.MaxMetadataValueLen, "max-metadata-value-chars", "LOGPIPE_MAX_METADATA_VALUE_CHARS", d.MaxMetadataValueLen, "bound on each metadata value, characters")
}
