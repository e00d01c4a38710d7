package poller

import "unsafe"

// nativeBigEndian reports the byte order eventfd and EVFILT_USER counters use.
var nativeBigEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 0 // reads the first byte of a live local
}()
