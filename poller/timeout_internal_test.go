package poller

import (
	"math"
	"testing"
	"time"
)

func TestTimeoutMillis(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    time.Duration
		want int
	}{
		{"NegativeBlocks", -time.Second, -1},
		{"MinusOneNanosecondBlocks", -1, -1},
		{"ZeroPolls", 0, 0},
		{"OneNanosecondRoundsUp", 1, 1},
		{"500MicrosecondsRoundsUp", 500 * time.Microsecond, 1},
		{"OneMillisecond", time.Millisecond, 1},
		{"1500MicrosecondsRoundsUp", 1500 * time.Microsecond, 2},
		{"TwoSeconds", 2 * time.Second, 2000},
		{"LargestMillisecondCount", (1<<31 - 1) * time.Millisecond, 1<<31 - 1},
		{"BeyondInt32Clamps", (1 << 31) * time.Millisecond, 1<<31 - 1},
		{"MaxDurationDoesNotOverflow", math.MaxInt64, 1<<31 - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := timeoutMillis(tc.d); got != tc.want {
				t.Fatalf("timeoutMillis(%v) = %d, want %d", tc.d, got, tc.want)
			}
		})
	}
}
