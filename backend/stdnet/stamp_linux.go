//go:build linux

package stdnet

import (
	"net"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// oobSpace is the control space for one SO_TIMESTAMPNS message.
var oobSpace = unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))

// enableTimestamps asks the kernel to stamp each datagram on arrival, as
// the native loop does, so that Datagram.Received is the kernel's time.
func enableTimestamps(uc *net.UDPConn) error {
	rc, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return os.NewSyscallError("setsockopt", serr)
	}
	return nil
}

// timestamp reads the SO_TIMESTAMPNS control message recvmsg wrote into
// oob, or returns the zero time if there is none.
func timestamp(oob []byte) time.Time {
	if len(oob) < unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))) {
		return time.Time{}
	}
	// Sound: oob is the endpoint's buffer from make, which the allocator
	// aligns for any type, and the kernel wrote a Cmsghdr at its start and
	// its data (a Timespec) at CmsgLen(0), within len(oob) as checked.
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	if h.Level != unix.SOL_SOCKET || h.Type != unix.SO_TIMESTAMPNS {
		return time.Time{}
	}
	ts := (*unix.Timespec)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
	return time.Unix(ts.Unix())
}
