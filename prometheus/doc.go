// Package prometheus holds the Prometheus recording and alerting rules for
// telegraf-nflog (nflog.rules.yml) and their promtool unit tests
// (nflog.rules.test.yml). It has no Go API; its test runs promtool.
package prometheus
