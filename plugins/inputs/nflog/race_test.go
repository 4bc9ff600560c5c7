//go:build race

package nflog

// raceEnabled: the race detector is on, and tests that feed millions of
// packets feed fewer.
const raceEnabled = true
