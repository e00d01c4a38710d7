package auth_test

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/edgeloop/edgeloop/protocols/auth"
)

// TestMACRFC4231 checks MAC against the HMAC-SHA256 test vectors of RFC
// 4231, section 4, test cases 1 to 7. Case 5's output is truncated to 128
// bits, as the RFC's is.
func TestMACRFC4231(t *testing.T) {
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	key131 := bytes.Repeat([]byte{0xaa}, 131)
	tests := []struct {
		name      string
		key, data []byte
		want      string // hex; shorter than 32 bytes for a truncated output
	}{
		{"case 1", bytes.Repeat([]byte{0x0b}, 20), []byte("Hi There"),
			"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{"case 2 key shorter than the output", []byte("Jefe"), []byte("what do ya want for nothing?"),
			"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"case 3", bytes.Repeat([]byte{0xaa}, 20), bytes.Repeat([]byte{0xdd}, 50),
			"773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
		{"case 4", unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), bytes.Repeat([]byte{0xcd}, 50),
			"82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
		{"case 5 truncated to 128 bits", bytes.Repeat([]byte{0x0c}, 20), []byte("Test With Truncation"),
			"a3b6167473100ee06e0c796c2955552b"},
		{"case 6 key larger than the block", key131, []byte("Test Using Larger Than Block-Size Key - Hash Key First"),
			"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
		{"case 7 key and data larger than the block", key131,
			[]byte("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."),
			"9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(tc.want)
			got := auth.MAC(tc.key, tc.data)
			if !bytes.Equal(got[:len(want)], want) {
				t.Errorf("MAC = %x, want %x", got[:len(want)], want)
			}
		})
	}
}
