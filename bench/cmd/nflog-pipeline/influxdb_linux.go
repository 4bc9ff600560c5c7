//go:build linux

package main

// The database leg (-influxdb): each trial starts an InfluxDB 1.x (Debian's
// influxd) on the root namespace's loopback, every pipeline's Telegraf
// writes its points to it through outputs.influxdb besides the points
// file, influxd's CPU counts in the pipeline's sum, and the points stored
// are counted at the end.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nflogr/telegraf-nflog/bench/internal/rig"
	"github.com/nflogr/telegraf-nflog/testutil"
)

const (
	influxAlias    = "influx"
	influxDatabase = "nflog"
)

// findInfluxd resolves -influxdb: a path, or "auto" for influxd on PATH,
// installing Debian's influxdb when it is missing.
func (h *harness) findInfluxd() error {
	if h.o.influxd != "auto" {
		if _, err := os.Stat(h.o.influxd); err != nil {
			return fmt.Errorf("-influxdb: %w", err)
		}
		h.influxd = h.o.influxd
		return nil
	}
	if p, err := exec.LookPath("influxd"); err == nil {
		h.influxd = p
		return nil
	}
	h.logf("installing influxdb (apt-get)")
	if err := rig.AptInstall("influxdb"); err != nil {
		return fmt.Errorf("-influxdb auto needs influxd (Debian's influxdb): %w", err)
	}
	p, err := exec.LookPath("influxd")
	if err != nil {
		return fmt.Errorf("-influxdb auto: influxdb installed but %w", err)
	}
	h.influxd = p
	return nil
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startInfluxd starts influxd with its data in dir, pinned like the rest
// of the pipeline, and returns it with its base URL once it answers /ping.
func (h *harness) startInfluxd(dir string) (*child, string, error) {
	httpPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	rpcPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	data := filepath.Join(dir, "influxdb")
	conf := filepath.Join(dir, "influxdb.conf")
	err = os.WriteFile(conf, []byte(testutil.InfluxdConfig(data, rpcPort, httpPort, false)), 0o644)
	if err != nil {
		return nil, "", err
	}
	c, err := h.start("influxd", dir, h.influxd, "-config", conf)
	if err != nil {
		return nil, "", err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	client := http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(base + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return c, base, nil
			}
		}
		if c.exited() || time.Now().After(deadline) {
			c.kill()
			<-c.done
			b, _ := os.ReadFile(c.log)
			return nil, "", fmt.Errorf("influxd did not answer /ping within 30s: %s", tail(string(b), 500))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// influxOutputConf is the outputs.influxdb block: the points the points
// file gets, with Telegraf's defaults otherwise.
func influxOutputConf(base string, pointNames []string) string {
	q := make([]string, len(pointNames))
	for i, n := range pointNames {
		q[i] = fmt.Sprintf("%q", n)
	}
	return fmt.Sprintf(`
## The database (-influxdb).
[[outputs.influxdb]]
  alias = %q
  urls = [%q]
  database = %q
  namepass = [%s]
`, influxAlias, base, influxDatabase, strings.Join(q, ", "))
}

// influxCount runs SELECT count(field) FROM measurement: the points
// stored. Points of one series with the same timestamp are one point in
// InfluxDB, so this can be less than the points written.
func influxCount(base, measurement, field string) (uint64, error) {
	q := fmt.Sprintf(`SELECT count(%q) FROM %q`, field, measurement)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Get(base + "/query?db=" + influxDatabase + "&q=" + url.QueryEscape(q))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Results []struct {
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
			Error string `json:"error"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, fmt.Errorf("%s: %w", q, err)
	}
	if len(r.Results) != 1 {
		return 0, fmt.Errorf("%s: %d results", q, len(r.Results))
	}
	if r.Results[0].Error != "" {
		return 0, fmt.Errorf("%s: %s", q, r.Results[0].Error)
	}
	if len(r.Results[0].Series) == 0 {
		return 0, nil // nothing stored
	}
	v := r.Results[0].Series[0].Values
	if len(v) != 1 || len(v[0]) != 2 {
		return 0, fmt.Errorf("%s: unexpected values %v", q, v)
	}
	n, ok := v[0][1].(float64)
	if !ok {
		return 0, fmt.Errorf("%s: count %v is not a number", q, v[0][1])
	}
	return uint64(n), nil
}

// waitInflux waits until the influxdb output has written or dropped the
// points the points file holds, or made no progress for -quiet; it returns
// the output's figures.
func (h *harness) waitInflux(statsPath string, points uint64) stats {
	var last stats
	lastChange := time.Now()
	for {
		b, _ := os.ReadFile(statsPath)
		st := parseStats(b, influxAlias)
		if st.written+st.losses.OutputDropped >= points {
			return st
		}
		if st.written != last.written || st.losses.OutputDropped != last.losses.OutputDropped {
			lastChange = time.Now()
		}
		last = st
		if time.Since(lastChange) > h.o.quiet {
			return st
		}
		time.Sleep(250 * time.Millisecond)
	}
}
