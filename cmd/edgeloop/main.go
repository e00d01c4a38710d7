package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/edgeloop/edgeloop/internal/benchkit"
)

const usage = `edgeloop: a reactor framework on raw epoll/kqueue, and its demo services.

Usage:
  edgeloop serve [flags]     run the services (see edgeloop serve --help)
  edgeloop backends          list the backends available on this OS
  edgeloop bench [flags]     compare the backends against a C floor (see edgeloop bench --help)
  edgeloop help              show this text

`

func main() {
	if benchkit.ChildMain() { // re-executed by edgeloop bench as a server
		return
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "bench":
		return benchCmd(args[1:], stdout, stderr)
	case "backends":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "edgeloop backends: unexpected argument %q\n", args[1])
			return 2
		}
		return backends(stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "edgeloop: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// printFlags prints fs's flags the way this command's docs spell them,
// with two dashes (Go's flag package takes one or two).
func printFlags(fs *flag.FlagSet) {
	var b strings.Builder
	out := fs.Output()
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(out)
	fmt.Fprint(out, strings.ReplaceAll("\n"+b.String(), "\n  -", "\n  --")[1:])
}
