package prometheus

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/nflogr/telegraf-nflog/testutil"
)

const (
	rulesFile = "nflog.rules.yml"
	testsFile = "nflog.rules.test.yml"
)

// promtool runs promtool with args in this directory and fails the test
// with its output when it fails.
func promtool(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "promtool", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestRulesCheck runs "promtool check rules": the file parses, every
// expression is valid PromQL, names are valid.
func TestRulesCheck(t *testing.T) {
	testutil.RequireTools(t, "promtool")
	t.Log(promtool(t, "check", "rules", rulesFile))
}

// TestRulesUnit runs the unit tests of the rules with "promtool test rules".
func TestRulesUnit(t *testing.T) {
	testutil.RequireTools(t, "promtool")
	t.Log(promtool(t, "test", "rules", testsFile))
}

// TestEveryRuleTested makes sure that every alert has a unit test in which
// it fires and one in which it does not, and every recording rule one that
// checks its samples: a rule added without a test fails here.
func TestEveryRuleTested(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Record string `yaml:"record"`
				Alert  string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	var tests struct {
		Tests []struct {
			PromQLExprTest []struct {
				Expr       string `yaml:"expr"`
				ExpSamples []any  `yaml:"exp_samples"`
			} `yaml:"promql_expr_test"`
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	for file, v := range map[string]any{rulesFile: &rules, testsFile: &tests} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	var checked []string
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
		for _, e := range tc.PromQLExprTest {
			if len(e.ExpSamples) > 0 {
				checked = append(checked, e.Expr)
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			switch {
			case r.Alert != "":
				if !fires[r.Alert] || !silent[r.Alert] {
					t.Errorf("alert %s needs a test in %s where it fires (fires: %v) and one where it does not (silent: %v)",
						r.Alert, testsFile, fires[r.Alert], silent[r.Alert])
				}
			case !slices.Contains(checked, r.Record):
				t.Errorf("recording rule %s has no promql_expr_test with exp_samples in %s", r.Record, testsFile)
			}
		}
	}
	if n == 0 {
		t.Fatalf("no rules found in %s", rulesFile)
	}
}
