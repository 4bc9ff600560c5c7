//go:build !linux

// Command nflog-bench is Linux-only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "nflog-bench: Linux only")
	os.Exit(1)
}
