package rig

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestExit(t *testing.T) {
	e := NewExit()
	if e.Exited() || e.Wait(time.Millisecond) {
		t.Fatal("an open Exit reports the process reaped")
	}
	close(e)
	if !e.Exited() || !e.Wait(time.Second) {
		t.Fatal("a closed Exit does not report the process reaped")
	}
}

func TestWriteJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	if err := WriteJSON(path, map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]int
	if err := json.Unmarshal(b, &got); err != nil || got["a"] != 1 || b[len(b)-1] != '\n' {
		t.Fatalf("wrote %q (%v)", b, err)
	}
}
