module logpipe/consumer

go 1.26.8

require (
	logpipe/lib v0.0.0
	logpipe/schemas v0.0.0
)

replace logpipe/lib => ../lib

replace logpipe/schemas => ../../schemas
