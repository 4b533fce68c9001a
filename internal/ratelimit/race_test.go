//go:build race

package ratelimit

// raceEnabled: the race detector multiplies memory and time, so the memory
// measurement is skipped under it.
const raceEnabled = true
