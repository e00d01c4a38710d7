//go:build linux

package reactor

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestWritevAllocatesNothing: a gathered write goes through the loop's own
// iovec array and msghdr.
func TestWritevAllocatesNothing(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	c := &conn{fd: int32(fds[0]), loop: &eventLoop{}, flags: fWritable}
	hdr, body := make([]byte, 16), make([]byte, 1000)
	bufs := [][]byte{hdr, body}
	sink := make([]byte, 2048)
	allocs := testing.AllocsPerRun(100, func() {
		if n, err := c.Writev(bufs); err != nil || n != len(hdr)+len(body) {
			t.Fatalf("Writev: %d, %v", n, err)
		}
		unix.Read(fds[1], sink)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per Writev, want 0", allocs)
	}
}
