//go:build !linux

// Command nflog-consumer is Linux-only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "nflog-consumer: Linux only")
	os.Exit(1)
}
