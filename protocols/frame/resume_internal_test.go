package frame

import "testing"

// TestDelimitedResumesSearch: told that data's first bytes were searched
// before without finding the delimiter, Delimited searches only what came
// after, less the delimiter's length (a delimiter may straddle the two).
// A peer that sends a long line a byte at a time so costs a search of each
// byte once, not of the whole line per byte. The data here breaks the
// promise on purpose, with a delimiter early on: a search from the start
// would find it.
func TestDelimitedResumesSearch(t *testing.T) {
	f := Delimited([]byte("\r\n"), 64)
	data := []byte("a\r\nbcdefgh\r")
	if adv, _, _ := f.next(data, false, 0); adv != 3 {
		t.Fatalf("from the start: advance %d, want 3", adv)
	}
	if adv, msg, err := f.next(data, false, 8); adv != 0 || msg != nil || err != nil {
		t.Fatalf("resumed at 8: got %d %q %v, want no message: the search went back to the start", adv, msg, err)
	}
	// A delimiter that straddles what was seen and what is new is found.
	data = append(data, '\n')
	if adv, _, _ := f.next(data, false, 11); adv != len(data) {
		t.Fatalf("resumed at 11 with the delimiter across it: advance %d, want %d", adv, len(data))
	}
}
