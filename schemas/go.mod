module logpipe/schemas

go 1.26.8
