package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/edgeloop/edgeloop/protocols/auth"
)

// authFlags are serve's --auth-key-file and --auth.
type authFlags struct {
	keyFile  *string
	services *string
}

// addAuthFlags registers serve's authentication flags on fs.
func addAuthFlags(fs *flag.FlagSet) authFlags {
	return authFlags{
		keyFile: fs.String("auth-key-file", "", fmt.Sprintf("authenticate every peer of the stream services (those --auth names) with\n"+
			"the HMAC-SHA256 challenge-response of protocols/auth, keyed by `FILE`'s\n"+
			"contents with one trailing newline removed: the server sends 32 random\n"+
			"bytes, the client answers HMAC-SHA256(key, them) within %v, or is\n"+
			"closed. UDP is never authenticated. Refused (exit 2): a file that cannot\n"+
			"be read, an empty key, or a file readable or writable by group or\n"+
			"others (mode & 0077 != 0: chmod 600 it).", auth.DefaultTimeout)),
		services: fs.String("auth", "", "the `SERVICES`, a comma-separated list, that --auth-key-file protects;\n"+
			"the default is every stream service that runs. Refused (exit 2):\n"+
			"without --auth-key-file, a name that is no service, one with no stream\n"+
			"service (sntp), or one that does not run."),
	}
}

// wrap puts the handshake in front of the stream services in run that the
// flags name. It returns an error, for exit 2, for a bad flag or key file.
func (a authFlags) wrap(run []listening) error {
	if *a.keyFile == "" {
		if *a.services != "" {
			return errors.New("--auth needs --auth-key-file")
		}
		return nil
	}
	key, err := readKeyFile(*a.keyFile)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	if *a.services != "" {
		running := map[string]bool{}
		for _, r := range run {
			running[r.name] = running[r.name] || r.stream()
		}
		for _, name := range strings.Split(*a.services, ",") {
			name = strings.TrimSpace(name)
			s, ok := serviceNamed(name)
			switch {
			case !ok:
				return fmt.Errorf("--auth %q: no such service", name)
			case s.factory == nil:
				return fmt.Errorf("--auth %q: %s has no stream service to authenticate (UDP never is)", name, name)
			case !running[name]:
				return fmt.Errorf("--auth %q: %s does not run over TCP or a Unix socket", name, name)
			}
			want[name] = true
		}
	}
	wrapped := 0
	for i := range run {
		r := &run[i]
		if !r.stream() || (len(want) > 0 && !want[r.name]) {
			continue
		}
		wrapped++
		f, err := auth.Wrap(key, r.factory)
		if err != nil {
			return fmt.Errorf("--auth-key-file: %v", err)
		}
		r.factory = f // r.packet, UDP, stays as it was
	}
	if wrapped == 0 {
		return errors.New("--auth-key-file: no stream service runs to authenticate (UDP never is)")
	}
	return nil
}

// stream reports whether r serves a stream service (TCP or a Unix
// socket): a udp:// endpoint serves only the service's datagrams.
func (r listening) stream() bool { return r.factory != nil && r.ep.scheme != "udp" }

// serviceNamed returns the service called name.
func serviceNamed(name string) (service, bool) {
	for _, s := range services {
		if s.name == name {
			return s, true
		}
	}
	return service{}, false
}

// maxKeyFile bounds the key file: a key is a secret of some bytes, and a
// path given by mistake (a log, a device) must not be read whole.
const maxKeyFile = 64 << 10

// readKeyFile returns the key in path: its contents with one trailing
// newline removed. It refuses a file that group or others may read or
// write, as ssh refuses such a private key, and checks the mode of the
// file it opened, not of whatever the path names a moment later.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--auth-key-file: %v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("--auth-key-file: %v", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("--auth-key-file %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("--auth-key-file %s: mode %04o lets group or others at the key: chmod 600 it", path, perm)
	}
	key, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("--auth-key-file: %v", err)
	}
	if len(key) > maxKeyFile {
		return nil, fmt.Errorf("--auth-key-file %s: over %d bytes, too large for a key", path, maxKeyFile)
	}
	key = bytes.TrimSuffix(key, []byte("\n"))
	if len(key) == 0 {
		return nil, fmt.Errorf("--auth-key-file %s: the key is empty", path)
	}
	return key, nil
}
