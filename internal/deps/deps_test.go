// Package deps_test checks that the core stays free of the comparison
// backends: reactor, poller and every protocol import only the standard
// library, golang.org/x/sys and bytebufferpool (and this module's own
// packages that keep the same rule), and importing reactor starts no
// goroutine.
package deps_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// allowed are the module paths a core package may depend on, besides the
// standard library and this module.
var allowed = []string{"golang.org/x/sys", "github.com/valyala/bytebufferpool"}

const module = "github.com/edgeloop/edgeloop"

func TestCoreDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}",
		module+"/reactor", module+"/poller", module+"/protocols/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var bad []string
	for _, p := range strings.Fields(string(out)) {
		ok := false
		for _, a := range append(allowed, module) {
			if p == a || strings.HasPrefix(p, a+"/") {
				ok = true
			}
		}
		// The module's own comparison backends are as foreign as gnet.
		for _, b := range []string{module + "/backend", module + "/poller/gnetpoll", module + "/internal/benchkit", module + "/internal/conformance"} {
			if p == b || strings.HasPrefix(p, b+"/") {
				ok = false
			}
		}
		if !ok {
			bad = append(bad, p)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("the core depends on %q; allowed: the standard library, %q and the core's own packages", bad, allowed)
	}
}

// TestImportStartsNoGoroutine builds a program that imports reactor, poller
// and every protocol and counts its goroutines first thing in main: only
// main's own may run. gnet's ants pool, for one, starts tickers at init.
func TestImportStartsNoGoroutine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	dir := t.TempDir()
	src := `package main

import (
	"fmt"
	"runtime"

	_ "github.com/edgeloop/edgeloop/poller"
	_ "github.com/edgeloop/edgeloop/protocols/echo"
	_ "github.com/edgeloop/edgeloop/reactor"
)

func main() { fmt.Println(runtime.NumGoroutine()) }
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// Build inside the module, so that its go.mod resolves the imports.
	bin := filepath.Join(dir, "prog")
	build := exec.Command("go", "build", "-o", bin, filepath.Join(dir, "main.go"))
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.TrimSpace(string(out)); n != "1" {
		t.Fatalf("a program importing the core runs %s goroutines before main, want 1 (main's)", n)
	}
}
