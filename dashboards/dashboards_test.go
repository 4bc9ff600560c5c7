package dashboards

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestCommittedJSON fails when a committed dashboard is not what the
// generator makes: the JSON files are generated, not edited.
func TestCommittedJSON(t *testing.T) {
	for _, src := range Sources {
		want, err := JSON(src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(src.File())
		if err != nil {
			t.Fatalf("%v (run go generate ./dashboards/)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the generator makes: edit the generator "+
				"(dashboards/*.go), not the JSON, and run go generate ./dashboards/\n%s",
				src.File(), firstDiff(got, want))
		}
	}
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + itoa(i+1) + ":\n  committed: " + gl + "\n  generated: " + wl
		}
	}
	return ""
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestDashboardShape checks what makes a dashboard importable anywhere:
// the current schema, a datasource variable of the right type, and no
// datasource referred to other than through that variable.
func TestDashboardShape(t *testing.T) {
	for _, src := range Sources {
		t.Run(string(src), func(t *testing.T) {
			b, err := JSON(src)
			if err != nil {
				t.Fatal(err)
			}
			var d struct {
				SchemaVersion int `json:"schemaVersion"`
				Templating    struct {
					List []struct {
						Type, Name, Query string
					} `json:"list"`
				} `json:"templating"`
				Panels []struct {
					ID      int               `json:"id"`
					Type    string            `json:"type"`
					Title   string            `json:"title"`
					Targets []json.RawMessage `json:"targets"`
				} `json:"panels"`
			}
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatal(err)
			}
			// 42 is the schema of the SDK release pinned in go.mod
			// (Grafana 12).
			if d.SchemaVersion < 42 {
				t.Errorf("schemaVersion %d, want the current one (42 or later)", d.SchemaVersion)
			}
			if len(d.Templating.List) != 1 || d.Templating.List[0].Type != "datasource" ||
				d.Templating.List[0].Name != DatasourceVariable || d.Templating.List[0].Query != string(src) {
				t.Errorf("templating = %+v, want one datasource variable %q of type %s",
					d.Templating.List, DatasourceVariable, src)
			}
			ids := map[int]bool{}
			panels := 0
			for _, p := range d.Panels {
				if ids[p.ID] {
					t.Errorf("panel id %d used twice", p.ID)
				}
				ids[p.ID] = true
				if p.Type == "row" {
					continue
				}
				panels++
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
			}
			if panels < 10 {
				t.Errorf("%d panels, want the whole layout", panels)
			}
			var refs int
			walkDatasources(t, b, func(ds map[string]any) {
				refs++
				if ds["uid"] != "${"+DatasourceVariable+"}" || ds["type"] != string(src) {
					t.Errorf("datasource reference %v: want type %q and uid ${%s} (no hard-coded datasource)",
						ds, src, DatasourceVariable)
				}
			})
			if refs == 0 {
				t.Error("no datasource references found")
			}
		})
	}
}

// walkDatasources calls fn with every object under a "datasource" key.
func walkDatasources(t *testing.T, b []byte, fn func(map[string]any)) {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if k == "datasource" {
					ds, ok := c.(map[string]any)
					if !ok {
						t.Errorf("datasource %v is not an object (a name would pick a datasource by name)", c)
						continue
					}
					fn(ds)
					continue
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(v)
}
