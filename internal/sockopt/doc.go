// Package sockopt reads socket state that the reactor and the backends
// both need and package unix has no one call for: how many bytes the
// kernel still holds to send (Unsent), per OS.
package sockopt
