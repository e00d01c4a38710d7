module github.com/edgeloop/edgeloop

go 1.26.8

require (
	github.com/valyala/bytebufferpool v1.0.0
	golang.org/x/sys v0.50.0
)
