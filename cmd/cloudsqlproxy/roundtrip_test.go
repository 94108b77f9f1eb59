package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// inputFiles are every manifest the tests have: testdata's, the splicer's
// edge cases and the examples (not their outputs).
func inputFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"testdata/*.yaml", "testdata/*.json", "testdata/splice/*", "../../examples/*.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if !strings.HasSuffix(f, ".injected.yaml") {
				files = append(files, f)
			}
		}
	}
	sort.Strings(files)
	return files
}

// flagSets are the ways the round trip runs inject: they add containers,
// env vars, mounts and volumes, in every mode.
var flagSets = [][]string{
	{"--instance", inst},
	{"--instance", inst, "--host-env", "DB_HOST", "--port-env", "DB_PORT"},
	{"--instance", inst, "--unix-socket", "/cloudsql", "--socket-env", "DB_SOCKET"},
	{"--instance", inst, "--legacy-sidecar", "--job-timeout", "10m", "--host-env", "DB_HOST", "--include-helm-tests"},
	append([]string{"--job-timeout", "15m"}, allFlags...),
}

// failingInputs are the inputs inject refuses, on purpose.
var failingInputs = map[string]bool{
	"testdata/blank.yaml": true, "testdata/empty.yaml": true, "testdata/errors.yaml": true,
	"testdata/malformed.yaml": true, "testdata/pod-level-resources.yaml": true,
}

// TestRemoveGivesBackTheBytes runs inject and then remove, with the same
// flags, on every input: the result must be the input, byte for byte. And
// inject itself must only add lines, except inside flow collections, whose
// lines it edits.
func TestRemoveGivesBackTheBytes(t *testing.T) {
	tripped := 0
	for _, f := range inputFiles(t) {
		in, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, flags := range flagSets {
			injected := runCLI(string(in), append(append([]string{"inject"}, flags...), "-f", "-")...)
			if injected.code != 0 {
				if !failingInputs[filepath.ToSlash(f)] {
					t.Errorf("%s, flags #%d: inject: exit %d\n%s", f, i, injected.code, injected.stderr)
				}
				continue
			}
			if strings.Contains(injected.stderr, "cannot be edited in place") {
				t.Errorf("%s, flags #%d: a document was written anew:\n%s", f, i, injected.stderr)
			}
			removed := runCLI(injected.stdout, append(append([]string{"remove"}, flags...), "-f", "-")...)
			if removed.code != 0 {
				t.Errorf("%s, flags #%d: remove: exit %d\n%s", f, i, removed.code, removed.stderr)
				continue
			}
			if diff := cmp.Diff(string(in), removed.stdout); diff != "" {
				t.Errorf("%s, flags #%d: remove(inject(x)) != x (-x +got):\n%s", f, i, diff)
			}
			for _, l := range droppedLines(string(in), injected.stdout) {
				// Lines inside flow collections are edited, and so is a
				// list item's first line when an entry goes in before its
				// first key (its key then moves to a line of its own).
				moved := strings.Replace(l, "- ", "  ", 1)
				if !strings.ContainsAny(l, "[{") && !strings.Contains(injected.stdout, "\n"+strings.TrimRight(moved, "\r\n")) {
					t.Errorf("%s, flags #%d: inject changed the line %q", f, i, l)
				}
			}
			tripped++
		}
	}
	if tripped < 50 {
		t.Errorf("only %d round trips ran", tripped)
	}
}

// droppedLines are the lines of a that a longest common subsequence of
// lines with b leaves out.
func droppedLines(a, b string) []string {
	x := strings.Split(a, "\n")
	var out []string
	for _, i := range droppedIndexes(a, b) {
		out = append(out, x[i])
	}
	return out
}

// droppedIndexes are the indexes (0-based line numbers) of the lines that
// droppedLines gives.
func droppedIndexes(a, b string) []int {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	lcs := make([][]int32, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			switch {
			case x[i] == y[j]:
				lcs[i][j] = lcs[i+1][j+1] + 1
			case lcs[i+1][j] >= lcs[i][j+1]:
				lcs[i][j] = lcs[i+1][j]
			default:
				lcs[i][j] = lcs[i][j+1]
			}
		}
	}
	var out []int
	for i, j := 0, 0; i < len(x); {
		switch {
		case j < len(y) && x[i] == y[j]:
			i, j = i+1, j+1
		case j < len(y) && lcs[i][j+1] >= lcs[i+1][j]:
			j++
		default:
			out = append(out, i)
			i++
		}
	}
	return out
}
