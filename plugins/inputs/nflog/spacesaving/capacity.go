package spacesaving

// DefaultCapacity returns the number of counters for a summary that reports
// its top k keys: max(16·k, 100).
//
// Space-Saving guarantees that every key weighing more than N/capacity (N
// the total weight) is monitored, and that each count is at most that much
// too high; ranking the true top k correctly in a real stream takes more than
// a few times k counters. Measured on streams like TestAccuracyOnZipfStream's
// (1,000,000 packets, Zipf-distributed over 100,000 keys; 5 to 10 seeds each),
// the smallest capacity that reported the true top k in Top(k) every time was
// about 8·k for a skew of s = 1.1 and 10·k for s = 1.01 (a flatter stream is
// harder: more weight sits in the tail that over-counts the replaced
// counters), for k from 3 to 50; 4·k failed every time. 16·k leaves a
// margin; the floor of 100 costs about 10 KiB. A larger capacity costs
// memory linearly but time per Add only logarithmically.
func DefaultCapacity(k int) int {
	return max(16*k, 100)
}
