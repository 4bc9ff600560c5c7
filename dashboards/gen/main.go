// Command gen writes the project's Grafana dashboards (package dashboards)
// as JSON files into the current directory, or into -dir. It is run by
// "go generate ./dashboards/".
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nflogr/telegraf-nflog/dashboards"
)

func main() {
	dir := flag.String("dir", ".", "directory to write the dashboards into")
	flag.Parse()
	for _, src := range dashboards.Sources {
		b, err := dashboards.JSON(src)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gen: %v\n", err)
			os.Exit(1)
		}
		path := filepath.Join(*dir, src.File())
		if err := os.WriteFile(path, b, 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "gen: %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("wrote %s\n", path)
	}
}
