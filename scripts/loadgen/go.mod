module logpipe/loadgen

go 1.26.8

require logpipe/lib v0.0.0

require github.com/google/uuid v1.6.0 // indirect

replace logpipe/lib => ../../services/lib

replace logpipe/schemas => ../../schemas
