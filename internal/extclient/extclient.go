// Package extclient finds the external clients that tests drive servers
// with (rdate, socat, nc, numpy): programs nobody here wrote. Outside CI a
// test whose client is missing skips and says how to install it; in CI
// (CI=true), where .ci/run installs them all, a missing client fails.
package extclient

import (
	"os"
	"os/exec"
	"testing"
)

// packages names the Debian package of each client.
var packages = map[string]string{
	"rdate": "rdate",
	"socat": "socat",
	"nc":    "netcat-openbsd",
}

// Need returns the path of the program name, or skips t (fails it in CI).
func Need(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	pkg := packages[name]
	if pkg == "" {
		pkg = name
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; .ci/run should install it (apt-get install %s)", name, pkg)
	}
	t.Skipf("%s is not installed (apt-get install %s); CI runs this test", name, pkg)
	return ""
}
