package timeproto_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeloop/edgeloop/protocols/timeproto"
)

func TestAppendDaytime(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
		want string
	}{
		{"two-digit day", utc(2026, 11, 24, 18, 44, 7, 0), "Tue Nov 24 18:44:07 2026\r\n"},
		{"single-digit day padded", utc(2026, 11, 4, 18, 44, 7, 0), "Wed Nov  4 18:44:07 2026\r\n"},
		{"unix epoch", utc(1970, 1, 1, 0, 0, 0, 0), "Thu Jan  1 00:00:00 1970\r\n"},
		{"fraction truncated", utc(1999, 12, 31, 23, 59, 59, 999999999), "Fri Dec 31 23:59:59 1999\r\n"},
		{"leap day", utc(2000, 2, 29, 12, 0, 0, 0), "Tue Feb 29 12:00:00 2000\r\n"},
		{"own location", time.Date(2026, 11, 4, 1, 2, 3, 0, time.FixedZone("UTC-5", -5*3600)), "Wed Nov  4 01:02:03 2026\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(timeproto.AppendDaytime([]byte("x"), tc.t))
			if want := "x" + tc.want; got != want {
				t.Errorf("AppendDaytime(\"x\", %v) = %q, want %q", tc.t, got, want)
			}
		})
	}

	t.Run("python ctime", func(t *testing.T) {
		python, err := exec.LookPath("python3")
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true but python3 is missing: %v", err)
			}
			t.Skipf("python3 not found, cannot cross-check with time.ctime: %v", err)
		}
		for _, tc := range []time.Time{
			utc(1970, 1, 1, 0, 0, 0, 0),
			utc(2026, 11, 24, 18, 44, 7, 0),
			utc(2026, 11, 4, 18, 44, 7, 0),
			utc(2000, 2, 29, 9, 5, 1, 0),
			utc(1999, 12, 31, 23, 59, 59, 999999999),
			utc(2036, 2, 7, 6, 28, 16, 0),
		} {
			sec := strconv.FormatInt(tc.Unix(), 10)
			t.Run(sec, func(t *testing.T) {
				t.Parallel() // each python3 start takes a noticeable fraction of a second
				cmd := exec.Command(python, "-c", "import time; print(time.ctime("+sec+"))")
				cmd.Env = append(os.Environ(), "TZ=UTC")
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%v: %v", cmd, err)
				}
				want := strings.TrimSuffix(string(out), "\n")
				got := strings.TrimSuffix(string(timeproto.AppendDaytime(nil, tc.UTC())), "\r\n")
				if got != want {
					t.Errorf("AppendDaytime(%v) = %q, Python's time.ctime(%s) = %q", tc, got, sec, want)
				}
			})
		}
	})
}
