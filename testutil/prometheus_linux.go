//go:build linux

package testutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// PrometheusConfig is what [StartPrometheus] writes into the server's
// prometheus.yml.
type PrometheusConfig struct {
	// Job is the job label of the targets; "telegraf" when empty.
	Job string
	// Targets are the "host:port" endpoints to scrape (path /metrics),
	// addresses as seen from inside the namespace.
	Targets []string
	// ScrapeInterval is the scrape and rule evaluation interval; 1s when
	// zero.
	ScrapeInterval time.Duration
	// RuleFiles are rule files to load (absolute paths).
	RuleFiles []string
}

// PrometheusServer is a prometheus process started by [StartPrometheus].
type PrometheusServer struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:40123, reachable
	// only from inside its namespace: use API or HTTPClient.
	URL string
	// API queries the server (client_golang's v1 API), through connections
	// opened inside the namespace.
	API v1.API

	ns      *NetNS
	client  *http.Client
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
}

const (
	promStartTimeout = 30 * time.Second
	promStopTimeout  = 10 * time.Second
)

// StartPrometheus starts a real Prometheus server ("prometheus" from
// Debian's package of the same name) inside ns, listening on 127.0.0.1 at a
// free port, with a configuration generated from cfg and its storage in a
// temporary directory. It returns once the server answers /-/ready. The
// server is stopped in cleanup (SIGTERM, SIGKILL after 10 s), and its log
// is printed if the test failed.
func StartPrometheus(tb testing.TB, ns *NetNS, cfg PrometheusConfig) *PrometheusServer {
	tb.Helper()
	RequireTools(tb, "prometheus")
	if cfg.Job == "" {
		cfg.Job = "telegraf"
	}
	if cfg.ScrapeInterval == 0 {
		cfg.ScrapeInterval = time.Second
	}
	dir := tb.TempDir()
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(prometheusYAML(cfg)), 0o644); err != nil {
		tb.Fatal(err)
	}
	port, err := freeTCPPort(ns)
	if err != nil {
		tb.Fatalf("StartPrometheus: finding a free port in %s: %v", ns.name, err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	p := &PrometheusServer{
		URL:     "http://" + addr,
		ns:      ns,
		client:  nsHTTPClient(ns),
		done:    make(chan struct{}),
		logPath: filepath.Join(dir, "prometheus.log"),
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer logFile.Close()
	p.cmd = exec.Command("ip", "netns", "exec", ns.name, "prometheus",
		"--config.file="+confPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=info")
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	// Its own process group, so that cleanup kills "ip netns exec" and
	// prometheus together.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("StartPrometheus: %v", err)
	}
	go func() {
		_ = p.cmd.Wait() // the exit status shows in the log
		close(p.done)
	}()
	tb.Cleanup(func() {
		p.stop(tb)
		if tb.Failed() {
			b, _ := os.ReadFile(p.logPath)
			tb.Logf("---- prometheus log ----\n%s\n---- prometheus.yml ----\n%s", b, prometheusYAML(cfg))
		}
	})

	c, err := api.NewClient(api.Config{Address: p.URL, Client: p.client})
	if err != nil {
		tb.Fatal(err)
	}
	p.API = v1.NewAPI(c)

	deadline := time.Now().Add(promStartTimeout)
	for {
		err := p.ready()
		if err == nil {
			return p
		}
		if p.exited() {
			b, _ := os.ReadFile(p.logPath)
			tb.Fatalf("StartPrometheus: prometheus exited at start:\n%s", b)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("StartPrometheus: not ready within %v: %v", promStartTimeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// prometheusYAML is the server's configuration: one job scraping the
// targets, honouring the timestamps they export (the default, spelled out
// because Telegraf's export_timestamp depends on it).
func prometheusYAML(cfg PrometheusConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n",
		cfg.ScrapeInterval, cfg.ScrapeInterval, cfg.ScrapeInterval)
	if len(cfg.RuleFiles) > 0 {
		b.WriteString("rule_files:\n")
		for _, f := range cfg.RuleFiles {
			fmt.Fprintf(&b, "  - %q\n", f)
		}
	}
	fmt.Fprintf(&b, "scrape_configs:\n  - job_name: %q\n    honor_timestamps: true\n    static_configs:\n      - targets: [", cfg.Job)
	for i, t := range cfg.Targets {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", t)
	}
	b.WriteString("]\n")
	return b.String()
}

func (p *PrometheusServer) ready() error {
	resp, err := p.client.Get(p.URL + "/-/ready")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

func (p *PrometheusServer) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// HTTPClient returns a client whose connections are opened inside the
// server's namespace.
func (p *PrometheusServer) HTTPClient() *http.Client { return p.client }

// WaitTargetsUp waits until Prometheus has scraped every configured target
// successfully (health "up"), and fails the test after timeout with the
// targets' last errors.
func (p *PrometheusServer) WaitTargetsUp(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := p.API.Targets(ctx)
		cancel()
		var state []string
		up := err == nil && len(res.Active) > 0
		if err != nil {
			state = append(state, err.Error())
		}
		for _, t := range res.Active {
			state = append(state, fmt.Sprintf("%s: %s %s", t.ScrapeURL, t.Health, t.LastError))
			up = up && t.Health == v1.HealthGood
		}
		if up {
			return
		}
		if p.exited() {
			tb.Fatal("WaitTargetsUp: prometheus exited")
		}
		if time.Now().After(deadline) {
			tb.Fatalf("WaitTargetsUp: targets not up within %v:\n%s", timeout, strings.Join(state, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop ends the server: SIGTERM, and SIGKILL to its process group if it
// has not exited within promStopTimeout.
func (p *PrometheusServer) stop(tb testing.TB) {
	pgid := p.cmd.Process.Pid
	if !p.exited() {
		_ = syscall.Kill(pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(promStopTimeout):
			tb.Errorf("prometheus did not stop within %v of SIGTERM; killing it", promStopTimeout)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
	}
	// Anything left in the group (there should be nothing).
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// freeTCPPort returns a TCP port that is free on 127.0.0.1 inside ns. In a
// namespace made by NewNetNS only the test's own processes listen, so the
// port stays free until the server binds it.
func freeTCPPort(ns *NetNS) (int, error) {
	var port int
	err := ns.Do(func() error {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		port = l.Addr().(*net.TCPAddr).Port
		return l.Close()
	})
	return port, err
}

// nsHTTPClient returns an HTTP client whose connections are opened inside
// ns (a socket keeps the namespace it was created in).
func nsHTTPClient(ns *NetNS) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() error {
			var err error
			c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true, Proxy: nil},
	}
}
