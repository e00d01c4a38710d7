package fdpass

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Send writes data to c with files' descriptors attached (SCM_RIGHTS). The
// descriptors travel with the first byte of data, which must not be empty
// when files are given (ErrNoData); the rest of data follows as ordinary
// bytes if the socket takes it in several writes. The receiver gets its own
// descriptors for the same open files; the caller still owns files and
// closes them when it no longer needs them (a socket handed to another
// process stays open until both have closed theirs).
//
// Send blocks, as c's Write does, and honours c's write deadline. It reads
// the descriptors without making them blocking (os.File.Fd would).
func Send(c *net.UnixConn, data []byte, files ...*os.File) error {
	if len(files) > 0 && len(data) == 0 {
		return ErrNoData
	}
	fds := make([]int, 0, len(files))
	for _, f := range files {
		rc, err := f.SyscallConn()
		if err != nil {
			return err
		}
		if err := rc.Control(func(fd uintptr) { fds = append(fds, int(fd)) }); err != nil {
			return err
		}
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	for len(data) > 0 {
		var n int
		var serr error
		err := rc.Write(func(fd uintptr) bool {
			n, serr = unix.SendmsgN(int(fd), data, oob, nil, 0)
			return serr != unix.EAGAIN && serr != unix.EINTR
		})
		if err == nil && serr != nil {
			err = os.NewSyscallError("sendmsg", serr)
		}
		if err != nil {
			return fmt.Errorf("fdpass: send: %w", err)
		}
		data, oob = data[n:], nil // the descriptors went with the first byte
	}
	runtime.KeepAlive(files) // the numbers in oob stay theirs until sent
	return nil
}

// Recv reads up to len(buf) bytes from c into buf, and the descriptors
// that came with them, at most maxFiles, as *os.Files the caller owns.
// It returns io.EOF when the peer has closed and nothing came.
//
// Each descriptor is close-on-exec as it is installed (MSG_CMSG_CLOEXEC;
// on macOS, which lacks it, it is set just after, so a child forked by
// another goroutine in between can inherit it). A control message cut
// short (MSG_CTRUNC: more descriptors were sent than maxFiles makes room
// for; the kernel may round the room up) is an error, ErrTruncated, as is
// a message with descriptors and no data (ErrNoData); either way the
// descriptors that did arrive are closed, so that none leaks. A stream
// socket keeps each message's descriptors with its first byte, so one
// Recv never returns two senders' descriptors as one.
//
// Recv blocks, as c's Read does, and honours c's read deadline.
func Recv(c *net.UnixConn, buf []byte, maxFiles int) (n int, files []*os.File, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, nil, err
	}
	var oob []byte
	if maxFiles > 0 {
		oob = make([]byte, unix.CmsgSpace(maxFiles*4))
	}
	var oobn, flags int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), buf, oob, recvFlags)
		return rerr != unix.EAGAIN && rerr != unix.EINTR
	})
	if err == nil && rerr != nil {
		err = os.NewSyscallError("recvmsg", rerr)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("fdpass: receive: %w", err)
	}
	fds, perr := parseRights(oob[:oobn])
	switch {
	case flags&unix.MSG_CTRUNC != 0:
		perr = ErrTruncated
	case perr == nil && len(fds) > 0 && n == 0:
		perr = ErrNoData
	}
	if perr == nil && cloexecAfter {
		for _, fd := range fds {
			unix.CloseOnExec(fd)
		}
	}
	if perr != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return 0, nil, fmt.Errorf("fdpass: receive: %w", perr)
	}
	if n == 0 && len(buf) > 0 {
		return 0, nil, io.EOF
	}
	for _, fd := range fds {
		files = append(files, os.NewFile(uintptr(fd), "fdpass"))
	}
	return n, files, nil
}

// parseRights returns the descriptors of every SCM_RIGHTS message in oob.
// On an error it still returns the ones it found, for the caller to close.
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, os.NewSyscallError("parse control message", err)
	}
	var fds []int
	var first error
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			continue // credentials and the like: not ours to act on
		}
		got, err := unix.ParseUnixRights(&msgs[i])
		fds = append(fds, got...)
		if err != nil && first == nil {
			first = os.NewSyscallError("parse rights", err)
		}
	}
	return fds, first
}

// isClosed reports whether err means the Unix socket is gone for good.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}
