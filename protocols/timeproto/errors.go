package timeproto

import "errors"

var (
	// ErrShortPacket is returned for an NTP packet shorter than SNTPPacketLen.
	ErrShortPacket = errors.New("timeproto: ntp packet shorter than 48 bytes")
	// ErrVersion is returned for an NTP packet whose version is not 1 to 4.
	ErrVersion = errors.New("timeproto: ntp version not 1-4")
	// ErrNotRequest is returned by SNTPReply for a packet whose mode is not 3
	// (client).
	ErrNotRequest = errors.New("timeproto: ntp packet is not a client request (mode 3)")
	// ErrNotReply is returned by ParseSNTPReply for a packet whose mode is not
	// 4 (server).
	ErrNotReply = errors.New("timeproto: ntp packet is not a server reply (mode 4)")
	// ErrStratum is returned by SNTPReply for an SNTPConfig whose Stratum is
	// above 15.
	ErrStratum = errors.New("timeproto: sntp config stratum above 15")
)
