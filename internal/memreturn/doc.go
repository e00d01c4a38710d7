// Package memreturn hands memory the server no longer uses back to the
// operating system while the server is quiet.
//
// Go returns freed heap pages to the OS only after a garbage collection has
// found them free, and collections are paced by allocation: a server whose
// slow peers held megabytes of output and then left allocates nothing more,
// so nothing collects their buffers and its resident memory stays at the
// peak (the runtime forces a collection only every two minutes, and returns
// pages gradually after that). Handlers that drop a large buffer say so with
// Released, at the cost of one atomic add; a timer started once per
// process (Start) reads runtime/metrics on a timer and, when the memory it could
// return is large against what the process holds, calls
// debug.FreeOSMemory: one collection and the return of every free page.
// Between such moments it costs one metrics read per tick.
//
// Usage:
//
//	stop := memreturn.Start(memreturn.DefaultInterval)
//	defer stop()
//	...
//	memreturn.Released(cap(buf)) // in a handler, as it drops buf
package memreturn
