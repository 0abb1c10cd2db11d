module logpipe/loadgen

go 1.26.8

require (
	github.com/segmentio/kafka-go v0.4.51
	logpipe/lib v0.0.0
)

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/klauspost/compress v1.20.1 // indirect
	github.com/pierrec/lz4/v4 v4.1.27 // indirect
)

replace logpipe/lib => ../../services/lib

replace logpipe/schemas => ../../schemas
