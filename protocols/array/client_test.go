package array_test

import (
	"testing"

	"github.com/edgeloop/edgeloop/backend"
	"github.com/edgeloop/edgeloop/protocols/array"
)

// TestClient256MiB: the Go client helper sends a 256 MiB []float64 from its
// own memory and receives the reply into a buffer it provides, byte-exact,
// on every backend; the reply reads back as []float64 without a copy.
func TestClient256MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("256 MiB per backend; -short skips it")
	}
	src := make([]float64, 32<<20) // 256 MiB
	for i := range src {
		src[i] = float64(i) * 0.5
	}
	dst := make([]byte, 256<<20)
	for _, b := range backend.Names() {
		t.Run("backend="+b, func(t *testing.T) {
			clear(dst)
			nc := dial(t, serve(t, b, &array.Service{}))
			errc := make(chan error, 1)
			go func() { errc <- array.WriteArray(nc, []int{4096, 8192}, src) }()
			h, data, err := array.ReadArrayInto(nc, dst, array.Limits{MaxData: 1 << 30})
			if err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if len(h.Shape) != 2 || h.Shape[0] != 4096 || h.Shape[1] != 8192 {
				t.Fatalf("shape %v, want [4096 8192]", h.Shape)
			}
			got, err := array.Float64s(data, h)
			if err != nil {
				t.Fatal(err)
			}
			for i := range src {
				if got[i] != src[i] {
					t.Fatalf("element %d is %v, want %v", i, got[i], src[i])
				}
			}
		})
	}
}

// TestClientGetsTheErrorLine: a refused array comes back to the client
// helper as the server's error.
func TestClientGetsTheErrorLine(t *testing.T) {
	nc := dial(t, serve(t, "epoll", &array.Service{Limits: array.Limits{MaxData: 1024}}))
	go array.WriteArray(nc, nil, make([]float64, 1000))
	_, _, err := array.ReadArrayInto(nc, make([]byte, 8000), array.Limits{})
	if err == nil {
		t.Fatal("no error for an array over the server's limit")
	}
	t.Log(err)
}
