package spacesaving_test

import (
	"fmt"

	"github.com/nflogr/telegraf-nflog/plugins/inputs/nflog/spacesaving"
)

// The top 2 sources by packets, with their bytes, and everything else folded
// into "other", from a summary of 3 counters: 10.0.0.4 takes over the counter
// of 10.0.0.3 (1 packet), so its count may be 1 too high.
func Example() {
	s := spacesaving.New[string](3)
	for _, p := range []struct {
		src   string
		bytes uint64
	}{
		{"10.0.0.1", 60}, {"10.0.0.2", 1500}, {"10.0.0.1", 60}, {"10.0.0.3", 40},
		{"10.0.0.2", 1500}, {"10.0.0.1", 60}, {"10.0.0.4", 576}, {"10.0.0.4", 576},
		{"10.0.0.4", 576}, {"10.0.0.4", 576},
	} {
		s.Add(p.src, 1, p.bytes)
	}
	packets, bytes := s.Totals()
	for i, e := range s.Top(2, nil) {
		fmt.Printf("#%d %s: %d packets (at most %d too many), %d bytes\n", i+1, e.Key, e.Count, e.Error, e.Aux)
		packets -= e.Count
		bytes -= e.Aux
	}
	fmt.Printf("other: %d packets, %d bytes\n", packets, bytes)
	// Output:
	// #1 10.0.0.4: 5 packets (at most 1 too many), 2344 bytes
	// #2 10.0.0.1: 3 packets (at most 0 too many), 180 bytes
	// other: 2 packets, 3000 bytes
}
