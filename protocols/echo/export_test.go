package echo

// Buffered returns the length of h's output buffer, the part already sent
// included: what the connection holds in memory for its output. Call it on
// h's loop goroutine.
func Buffered(h *Handler) int { return h.Outbox.Buffered() }

// Sent returns how much of h's output buffer has been sent: the offset of
// the unsent tail. Call it on h's loop goroutine.
func Sent(h *Handler) int { return h.Outbox.Buffered() - h.Outbox.Pending() }

// Capacity returns the capacity of h's output buffer: what it costs in
// memory, whatever it holds. Call it on h's loop goroutine.
func Capacity(h *Handler) int { return h.Outbox.Held() }
