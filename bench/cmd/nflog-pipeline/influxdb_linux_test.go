//go:build linux

package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// influxCount reads InfluxDB 1.x's answer to SELECT count(...): the count,
// 0 for no series, and an error for an error in the answer.
func TestInfluxCount(t *testing.T) {
	answers := map[string]string{
		"nflog": `{"results":[{"statement_id":0,"series":[{"name":"nflog","columns":["time","count"],"values":[["1970-01-01T00:00:00Z",738181]]}]}]}`,
		"empty": `{"results":[{"statement_id":0}]}`,
		"bad":   `{"results":[{"statement_id":0,"error":"database not found: nflog"}]}`,
	}
	var query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.Query().Get("q")
		if r.URL.Query().Get("db") != influxDatabase {
			http.Error(w, "no db", http.StatusBadRequest)
			return
		}
		for m, a := range answers {
			if query == `SELECT count("len") FROM "`+m+`"` {
				w.Write([]byte(a))
				return
			}
		}
		http.Error(w, "unexpected query "+query, http.StatusBadRequest)
	}))
	defer srv.Close()

	if n, err := influxCount(srv.URL, "nflog", "len"); err != nil || n != 738181 {
		t.Fatalf("nflog: %d, %v (query %s)", n, err, query)
	}
	if n, err := influxCount(srv.URL, "empty", "len"); err != nil || n != 0 {
		t.Fatalf("empty: %d, %v", n, err)
	}
	if _, err := influxCount(srv.URL, "bad", "len"); err == nil {
		t.Fatal("bad: no error for an error in the answer")
	}
}
