package testutil

import (
	"fmt"
	"path/filepath"
)

// InfluxdConfig is the configuration of an InfluxDB 1.x (Debian's influxd)
// that a test or benchmark starts itself: its data under dataDir, its RPC
// and HTTP ports on loopback, no reporting to InfluxData, no internal
// monitoring database, and HTTP request logging only when logRequests is
// set (a line per write batch).
func InfluxdConfig(dataDir string, rpcPort, httpPort int, logRequests bool) string {
	return fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"

[meta]
  dir = %q

[data]
  dir = %q
  wal-dir = %q
  index-version = "inmem"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:%d"
  auth-enabled = false
  log-enabled = %v
  pprof-enabled = false
`, rpcPort, filepath.Join(dataDir, "meta"), filepath.Join(dataDir, "data"), filepath.Join(dataDir, "wal"), httpPort, logRequests)
}
