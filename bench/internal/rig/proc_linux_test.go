//go:build linux

package rig

import (
	"os"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// A comm with a space and a parenthesis; utime 250, stime 31 ticks.
	s := "4242 (tele graf) x) S 17 4242 4242 0 -1 4194560 1000 0 0 0 250 31 7 9 20 0 12 0 100 0 0\n"
	st, err := parseProcStat(s)
	if err != nil {
		t.Fatal(err)
	}
	if st.Comm != "tele graf) x" || st.PPid != 17 || st.User != 2500*time.Millisecond || st.Sys != 310*time.Millisecond {
		t.Errorf("parsed %+v", st)
	}
	if _, err := parseProcStat("4242 (short) S 1 2"); err == nil {
		t.Error("a short line parsed")
	}
	self, err := ReadProcStat(os.Getpid())
	if err != nil || self.PPid != os.Getppid() {
		t.Errorf("own stat: %+v, %v", self, err)
	}
}
