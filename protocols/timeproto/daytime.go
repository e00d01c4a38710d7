package timeproto

import "time"

// AppendDaytime appends t as RFC 867 daytime text followed by "\r\n". The
// text is the format of C's asctime and Python's time.ctime, with the day of
// the month space-padded to two characters: "Tue Nov 24 18:44:07 2026" and
// "Wed Nov  4 18:44:07 2026". t is formatted in its own location
// (t.Location()); pass time.Now() for local time, time.Now().UTC() for UTC.
// Years outside 1 to 9999 are written as Go's time package writes them.
func AppendDaytime(dst []byte, t time.Time) []byte {
	// time.ANSIC is asctime's layout: "Mon Jan _2 15:04:05 2006".
	return append(t.AppendFormat(dst, time.ANSIC), '\r', '\n')
}
