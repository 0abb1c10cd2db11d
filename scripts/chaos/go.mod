module logpipe/chaos

go 1.26.8
