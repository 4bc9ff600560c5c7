package spacesaving

// DefaultCapacity returns the number of counters a summary reporting the top
// k keys keeps by default: max(10·k, 100). (placeholder; chosen by the
// accuracy test)
func DefaultCapacity(k int) int {
	return max(10*k, 100)
}
