//go:build linux

package reactor

import (
	"fmt"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BenchmarkReadPath compares the two ways a socket read can enter the
// kernel, for the sizes a handler reads: the raw system call (no
// entersyscall/exitsyscall) and the runtime's (unix.Read), each into a
// freshly allocated buffer, as an array is received, so that page faults
// are part of the read. Its figures choose rawReadMax.
//
//	go test -run '^$' -bench ReadPath ./reactor
func BenchmarkReadPath(b *testing.B) {
	for _, size := range []int{64, 64 << 10, 1 << 20} {
		for _, path := range []string{"raw", "runtime"} {
			b.Run(fmt.Sprintf("size=%d/path=%s", size, path), func(b *testing.B) {
				fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
				if err != nil {
					b.Fatal(err)
				}
				defer unix.Close(fds[0])
				defer unix.Close(fds[1])
				unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
				unix.SetsockoptInt(fds[1], unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
				src := make([]byte, size)
				b.SetBytes(int64(size))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					if _, err := unix.Write(fds[0], src); err != nil {
						b.Fatal(err)
					}
					dst := make([]byte, size) // fresh pages, as an array's
					b.StartTimer()
					for got := 0; got < size; {
						var n int
						if path == "raw" {
							r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fds[1]), uintptr(unsafe.Pointer(&dst[got])), uintptr(size-got))
							n, err = int(r), error(nil)
							if e != 0 {
								err = e
							}
						} else {
							n, err = unix.Read(fds[1], dst[got:])
						}
						if err != nil {
							b.Fatal(err)
						}
						got += n
					}
				}
			})
		}
	}
}
