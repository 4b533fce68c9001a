//go:build !unix

package servertest

import "time"

// CPUTime is not measured here (0): cpu-ns/op then reads 0.
func CPUTime() time.Duration { return 0 }
