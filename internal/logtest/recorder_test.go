package logtest_test

import (
	"log/slog"
	"sync"
	"testing"

	"github.com/edgeloop/edgeloop/internal/logtest"
)

// TestRecorderKeepsRecords: every record is kept at every level, with its
// message and attributes, also when logged from many goroutines at once.
func TestRecorderKeepsRecords(t *testing.T) {
	logs := &logtest.Recorder{}
	log := slog.New(logs)
	log.Debug("first", "n", 1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				log.Info("many")
				logs.Count()
			}
		}()
	}
	wg.Wait()
	if n := logs.Count(); n != 801 {
		t.Fatalf("Count() = %d after 801 records, want 801", n)
	}
	r := logs.Records()[0]
	if r.Level != slog.LevelDebug || r.Msg != "first" || r.Attrs["n"] != int64(1) {
		t.Errorf("first record %+v, want DEBUG \"first\" n=1", r)
	}
}
