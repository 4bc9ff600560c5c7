//go:build !linux

// Command nflog-pipeline is Linux-only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "nflog-pipeline: Linux only")
	os.Exit(1)
}
