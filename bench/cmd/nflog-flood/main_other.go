//go:build !linux

// Command nflog-flood is Linux-only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "nflog-flood: Linux only")
	os.Exit(1)
}
