package nflog

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Hook numbers mean different hooks per family; HookName names them as nft
// does in "type filter hook NAME" for that family.
func TestHookNameDependsOnTheFamily(t *testing.T) {
	inet := []string{"prerouting", "input", "forward", "output", "postrouting", "ingress", "hook6"}
	want := map[Family][]string{
		FamilyIPv4:   inet,
		FamilyIPv6:   inet,
		FamilyInet:   inet,
		FamilyUnspec: inet,
		FamilyBridge: {"prerouting", "input", "forward", "output", "postrouting", "brouting", "hook6"},
		FamilyNetdev: {"ingress", "egress", "hook2", "hook3", "hook4", "hook5", "hook6"},
		FamilyARP:    {"input", "output", "forward", "hook3", "hook4", "hook5", "hook6"},
	}
	for f, names := range want {
		for h, name := range names {
			require.Equal(t, name, HookName(f, Hook(h)), "family %v, hook %d", f, h)
		}
	}
	require.Equal(t, "hook255", HookName(FamilyNetdev, 255))

	// String has no family: it names the inet hooks, as the constants do.
	for h, name := range inet {
		require.Equal(t, name, Hook(h).String(), "hook %d", h)
	}
	require.Equal(t, "prerouting", HookPrerouting.String())
	require.Equal(t, "ingress", HookIngress.String())
}
