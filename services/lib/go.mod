module logpipe/lib

go 1.26.8

require (
	github.com/google/uuid v1.6.0
	logpipe/schemas v0.0.0
)

require (
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3 // indirect
	golang.org/x/text v0.14.0 // indirect
)

replace logpipe/schemas => ../../schemas
