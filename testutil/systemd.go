package testutil

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
)

// Unit is a systemd unit file read for tests: each section's directives
// with their values in order (a key given twice has two values). The
// machines the tests run on have no running systemd, so tests reproduce
// what a unit grants (user, capabilities, no_new_privs, mounts) with
// setpriv and unshare; these helpers derive those from the unit itself,
// so that the test follows the file.
type Unit map[string]map[string][]string

// ReadUnit parses the unit file at path: comments (# and ;) and blank
// lines skipped, no line continuations (the project's units have none).
func ReadUnit(tb testing.TB, path string) Unit {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatalf("reading unit: %v", err)
	}
	defer f.Close()
	u := Unit{}
	section := ""
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		case strings.HasSuffix(line, `\`):
			tb.Fatalf("%s:%d: line continuations are not supported here", path, n)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				tb.Fatalf("%s:%d: not a directive in a section: %q", path, n, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	if err := s.Err(); err != nil {
		tb.Fatalf("reading unit %s: %v", path, err)
	}
	return u
}

// Service returns the values of a [Service] directive.
func (u Unit) Service(key string) []string { return u["Service"][key] }

// Capabilities returns the capabilities a [Service] list directive
// (AmbientCapabilities=, CapabilityBoundingSet=) names, over all its lines,
// as setpriv spells them ("net_admin"). An empty assignment resets the
// list, as in systemd; an inverted list ("~CAP_...") is an error, since
// setpriv would need every other capability spelled out.
func (u Unit) Capabilities(key string) ([]string, error) {
	var caps []string
	for _, v := range u.Service(key) {
		if v == "" {
			caps = nil
			continue
		}
		if strings.HasPrefix(v, "~") {
			return nil, fmt.Errorf("%s=%s: inverted lists are not supported", key, v)
		}
		for _, c := range strings.Fields(v) {
			name, ok := strings.CutPrefix(strings.ToUpper(c), "CAP_")
			if !ok {
				return nil, fmt.Errorf("%s=: %q is not a capability name", key, c)
			}
			caps = append(caps, strings.ToLower(name))
		}
	}
	return caps, nil
}

// SetprivArgs returns the setpriv options that give a process what the
// unit grants: the uid and gid (the unit's User= and Group=, looked up by
// the caller), no supplementary groups, the ambient and inheritable sets of
// AmbientCapabilities=, the bounding set of CapabilityBoundingSet= and
// no_new_privs for NoNewPrivileges=yes.
func (u Unit) SetprivArgs(uid, gid string) ([]string, error) {
	ambient, err := u.Capabilities("AmbientCapabilities")
	if err != nil {
		return nil, err
	}
	bounding, err := u.Capabilities("CapabilityBoundingSet")
	if err != nil {
		return nil, err
	}
	if u.Service("CapabilityBoundingSet") == nil {
		return nil, fmt.Errorf("no CapabilityBoundingSet=: the bounding set would be everything")
	}
	set := func(caps []string) string {
		s := "-all"
		for _, c := range caps {
			s += ",+" + c
		}
		return s
	}
	args := []string{"--reuid=" + uid, "--regid=" + gid, "--clear-groups",
		"--inh-caps=" + set(ambient), "--ambient-caps=" + set(ambient), "--bounding-set=" + set(bounding)}
	if nnp := u.Service("NoNewPrivileges"); len(nnp) > 0 && nnp[len(nnp)-1] == "yes" {
		args = append(args, "--no-new-privs")
	}
	return args, nil
}

// ExecStart returns the command line of the unit's one ExecStart=, split
// on white space, without systemd's prefixes ("-", "@", ":", "+", "!").
// Quotes and specifiers are errors: the project's units use neither.
func (u Unit) ExecStart() ([]string, error) {
	lines := u.Service("ExecStart")
	if len(lines) != 1 {
		return nil, fmt.Errorf("%d ExecStart= lines, want one", len(lines))
	}
	cmd := strings.TrimLeft(lines[0], "-@:+!")
	if strings.ContainsAny(cmd, `"'%$\`) {
		return nil, fmt.Errorf("ExecStart=%s: quotes, specifiers and variables are not supported here", lines[0])
	}
	argv := strings.Fields(cmd)
	if len(argv) == 0 {
		return nil, fmt.Errorf("ExecStart= is empty")
	}
	return argv, nil
}
