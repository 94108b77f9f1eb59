package yamledit

import (
	"testing"
)

func TestLeadingComments(t *testing.T) {
	for in, want := range map[string]string{
		"# a\n\n# b\nkind: X\n# c\n": "# a\n\n# b\n",
		"kind: X\n# c\n":             "",
		"  # indented\nkind: X\n":    "  # indented\n",
		"# only\n":                   "# only\n",
		`{"kind": "X"}`:              "",
	} {
		if got := string(leadingComments([]byte(in))); got != want {
			t.Errorf("leadingComments(%q) = %q, want %q", in, got, want)
		}
	}
}
