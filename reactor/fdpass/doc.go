// Package fdpass passes open descriptors between processes over Unix
// stream sockets (SCM_RIGHTS), and builds on that a worker hand-off: an
// acceptor process accepts connections and hands each to one of several
// worker processes, each serving them on its own reactor.Loop.
//
// Send and Recv are the primitives, over unix.Sendmsg and unix.Recvmsg.
// Recv installs descriptors close-on-exec (MSG_CMSG_CLOEXEC on Linux and
// the BSDs; on macOS just after the receive, see Recv) and refuses a
// control message the kernel cut short (MSG_CTRUNC) rather than lose
// descriptors silently, closing those that did arrive.
//
// The hand-off: the acceptor listens with a Dispatcher's Factory, which
// takes each connection off its loop without closing it (reactor.Detach)
// and queues it, without blocking, for the next worker, round robin,
// passing over a worker whose queue is full; one goroutine per worker
// sends its queue. A worker runs Serve, which receives them and serves
// each on its Loop (Loop.Adopt). The socket moves whole: input the client
// sent that the acceptor has not read goes with it. A worker that stops
// reading (SIGSTOP) holds only its own queue; the others go on being fed.
// A worker that dies, or stops reading for SendTimeout, is dropped at the
// first send that fails, and the connections queued for it go to the
// others; with none left, connections are closed and the failure logged.
// Connections a worker had received die with it.
//
// Usage, in the acceptor (workers are the acceptor's ends of one socket
// pair per worker, the other end passed to each worker process, say as
// exec.Cmd.ExtraFiles):
//
//	d := fdpass.NewDispatcher(workers, logger)
//	addr, err := l.Listen("tcp", ":7007", d.Factory)
//
// and in each worker:
//
//	f := os.NewFile(3, "acceptor")
//	c, err := net.FileConn(f) // a *net.UnixConn
//	err = fdpass.Serve(l, c.(*net.UnixConn), echo.New)
//
// Linux and the BSDs, macOS included; the acceptor's Loop must be one that
// can Detach (the native loop, or the net backend), and the workers' one
// that can Adopt (the same).
package fdpass
