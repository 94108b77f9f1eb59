package main

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/podspec/cloudsqlproxy/internal/flagtab"
)

// TestFlagTableDrift: every proxy flag that an option of the library sets
// has a flag of the command in proxyFlags (flagtable.go), or a reason in
// notOffered; and every flag there sets one of the library's.
func TestFlagTableDrift(t *testing.T) {
	lib := map[string]bool{}
	for _, f := range flagtab.Flags {
		lib[f.Proxy] = true
	}
	offered := map[string]bool{}
	names := map[string]bool{}
	var unknown, twice []string
	for _, pf := range proxyFlags {
		if !lib[pf.proxy] {
			unknown = append(unknown, pf.proxy)
		}
		if offered[pf.proxy] || names[pf.name] {
			twice = append(twice, pf.name)
		}
		offered[pf.proxy], names[pf.name] = true, true
		if pf.section == "" || pf.usage == "" {
			t.Errorf("--%s has no help section or text", pf.name)
		}
	}
	var missing, both []string
	for _, f := range flagtab.Flags {
		switch _, skip := notOffered[f.Proxy]; {
		case skip && offered[f.Proxy]:
			both = append(both, f.Proxy)
		case !skip && !offered[f.Proxy]:
			missing = append(missing, f.Proxy)
		}
	}
	for proxy := range notOffered {
		if !lib[proxy] {
			unknown = append(unknown, proxy)
		}
	}
	sort.Strings(unknown)
	for _, c := range []struct {
		what string
		got  []string
	}{
		{"proxy flags of the library without a flag of the command: give each an entry in proxyFlags (flagtable.go), or a reason in notOffered", missing},
		{"proxy flags both offered and in notOffered", both},
		{"proxy flags that no option of the library sets (flagtable.go's proxyFlags or notOffered)", unknown},
		{"flags of the command given twice in proxyFlags", twice},
	} {
		if diff := cmp.Diff([]string(nil), c.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.what, diff)
		}
	}
}
