package fdpass

import "errors"

var (
	// ErrTruncated is returned by Recv when the kernel cut the control
	// message short (MSG_CTRUNC): more descriptors were sent than maxFiles
	// makes room for. The ones that did arrive are closed.
	ErrTruncated = errors.New("fdpass: control message truncated (MSG_CTRUNC): more descriptors sent than room to receive them")
	// ErrNoData is returned by Send for descriptors with no data byte to
	// carry them, and by Recv for descriptors that arrived with none (they
	// are closed): on a stream socket a zero-byte read means EOF.
	ErrNoData = errors.New("fdpass: descriptors need at least one data byte")
	// ErrNoWorkers is logged by a Dispatcher, and passed to HandleClose of
	// the handed-off connection, when every worker has failed.
	ErrNoWorkers = errors.New("fdpass: no worker left to hand the connection to")
)
