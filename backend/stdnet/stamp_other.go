//go:build !linux

package stdnet

import (
	"net"
	"time"
)

// oobSpace is 0: no receive timestamps outside Linux.
const oobSpace = 0

// enableTimestamps does nothing outside Linux: Datagram.Received is zero.
func enableTimestamps(*net.UDPConn) error { return nil }

// timestamp returns the zero time outside Linux.
func timestamp([]byte) time.Time { return time.Time{} }
