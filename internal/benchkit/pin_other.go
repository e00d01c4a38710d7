//go:build !linux

package benchkit

import "errors"

// pin is not implemented off Linux: the figures are then unpinned.
func pin(int, []int) error { return errors.New("benchkit: CPU pinning needs Linux") }
