package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The files of an in-place fleet: two that inject changes (modes 0600 and
// 0644), one it leaves alone, one it refuses, one of comments only.
var fleet = []struct {
	name string
	mode fs.FileMode
	text string
}{
	{"api.yaml", 0o600, "# the API\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n      containers:\n      - name: api # keep me\n        image: example/api:1\n"},
	{"bad.yaml", 0o644, "apiVersion: v1\nkind: Pod\nmetadata: {name: good}\nspec: {containers: [{name: a, image: b}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n  - name: a\n    image: b\n    ports: [{containerPort: eighty}]\n"},
	{"notes.yaml", 0o644, "# only a comment\n"},
	{"svc.yaml", 0o644, "apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec: {ports: [{port: 80}]}\n"},
	{"web.json", 0o640, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[{"name":"web","image":"example/web:1"}]}}`},
}

func writeFleet(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range fleet {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, []byte(f.text), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	return dir
}

// TestInPlace runs inject and remove in place on a directory and on named
// files, and checks every file's text and mode, the report and the exit
// status.
func TestInPlace(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    func(dir string) []string
		code    int
		changed []string // files whose text must change; all others stay byte for byte
		report  []string // the per-file lines of standard error, in order
	}{{
		name:    "directory",
		args:    func(dir string) []string { return []string{"inject", "--instance", inst, "--in-place", "-f", dir} },
		code:    1,
		changed: []string{"api.yaml", "web.json"},
		report:  []string{"api.yaml: changed", "bad.yaml: failed (1 error); the file was not touched", "notes.yaml: unchanged", "svc.yaml: unchanged", "web.json: changed"},
	}, {
		name: "named files",
		args: func(dir string) []string {
			return []string{"inject", "--instance", inst, "--in-place", "-f", filepath.Join(dir, "svc.yaml"), "-f", filepath.Join(dir, "web.json")}
		},
		code:    0,
		changed: []string{"web.json"},
		report:  []string{"svc.yaml: unchanged", "web.json: changed"},
	}, {
		name: "a file named twice is done once",
		args: func(dir string) []string {
			return []string{"inject", "--instance", inst, "--in-place", "-f", filepath.Join(dir, "api.yaml"), "-f", dir}
		},
		code:    1,
		changed: []string{"api.yaml", "web.json"},
		report:  []string{"api.yaml: changed", "bad.yaml: failed (1 error); the file was not touched", "notes.yaml: unchanged", "svc.yaml: unchanged", "web.json: changed"},
	}, {
		name: "a named file of only comments is an error, as on standard output",
		args: func(dir string) []string {
			return []string{"inject", "--instance", inst, "--in-place", "-f", filepath.Join(dir, "notes.yaml"), "-f", filepath.Join(dir, "svc.yaml")}
		},
		code:   1,
		report: []string{"notes.yaml: failed (1 error); the file was not touched", "svc.yaml: unchanged"},
	}, {
		name: "a missing file fails, the others are done",
		args: func(dir string) []string {
			return []string{"inject", "--instance", inst, "--in-place", "-f", filepath.Join(dir, "nope.yaml"), "-f", filepath.Join(dir, "svc.yaml")}
		},
		code:   1,
		report: []string{"svc.yaml: unchanged"},
	}, {
		name: "remove without a proxy changes nothing",
		args: func(dir string) []string {
			return []string{"remove", "--in-place", "-f", filepath.Join(dir, "api.yaml")}
		},
		code:    0,
		changed: nil,
		report:  []string{"api.yaml: unchanged"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFleet(t)
			got := runCLI("", tc.args(dir)...)
			if got.code != tc.code {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", got.code, tc.code, got.stderr)
			}
			if got.stdout != "" {
				t.Errorf("in-place run wrote to standard output:\n%s", got.stdout)
			}
			var report []string
			for _, m := range regexp.MustCompile(`(?m)^cloudsqlproxy \w+: .*/([^/:]+: (?:changed|unchanged|failed.*))$`).FindAllStringSubmatch(got.stderr, -1) {
				report = append(report, m[1])
			}
			if diff := cmp.Diff(tc.report, report); diff != "" {
				t.Errorf("report (-want +got):\n%s\nstderr:\n%s", diff, got.stderr)
			}
			checkFleet(t, dir, tc.changed)
		})
	}
}

// checkFleet checks that exactly the files of changed changed, that no file
// changed its mode, and that no temporary file was left behind.
func checkFleet(t *testing.T, dir string, changed []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(fleet) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the directory holds %q, want only the fleet's %d files", names, len(fleet))
	}
	for _, f := range fleet {
		p := filepath.Join(dir, f.name)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != f.mode {
			t.Errorf("%s: mode %v, want %v", f.name, info.Mode().Perm(), f.mode)
		}
		want := slices.Contains(changed, f.name)
		if got := string(data) != f.text; got != want {
			t.Errorf("%s: changed = %v, want %v; text:\n%s", f.name, got, want, data)
		}
	}
}

// TestInPlaceResult checks that what a file becomes is what the standard
// output run gives for it, and that remove in place gives its text back.
func TestInPlaceResult(t *testing.T) {
	dir := writeFleet(t)
	for _, name := range []string{"api.yaml", "web.json"} {
		p := filepath.Join(dir, name)
		stdout := runCLI("", "inject", "--instance", inst, "-f", p)
		if got := runCLI("", "inject", "--instance", inst, "--in-place", "-f", p); got.code != 0 {
			t.Fatalf("%s: inject --in-place: exit %d\n%s", name, got.code, got.stderr)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(stdout.stdout, string(data)); diff != "" {
			t.Errorf("%s: in place differs from standard output (-stdout +file):\n%s", name, diff)
		}
		if got := runCLI("", "remove", "--in-place", "-f", p); got.code != 0 || !strings.Contains(got.stderr, name+": changed") {
			t.Fatalf("%s: remove --in-place: exit %d\n%s", name, got.code, got.stderr)
		}
	}
	checkFleet(t, dir, nil)
}

func TestInPlaceUsage(t *testing.T) {
	for _, args := range [][]string{
		{"inject", "--instance", inst, "--in-place", "-f", "-"},
		{"remove", "--in-place", "-f", "testdata/mixed.yaml", "-f", "-"},
	} {
		got := runCLI("", args...)
		if got.code != exitUsage || !strings.Contains(got.stderr, "--in-place rewrites files: it cannot take -f -") {
			t.Errorf("%q: exit %d, stderr:\n%s", args, got.code, got.stderr)
		}
	}
}

// TestInPlaceFollowsSymlinks: a file named through a symbolic link is
// written where the link points, and the link stays a link.
func TestInPlaceFollowsSymlinks(t *testing.T) {
	dir := writeFleet(t)
	links := t.TempDir()
	link := filepath.Join(links, "web.json")
	if err := os.Symlink(filepath.Join(dir, "web.json"), link); err != nil {
		t.Skip(err)
	}
	if got := runCLI("", "inject", "--instance", inst, "--in-place", "-f", link); got.code != 0 {
		t.Fatalf("exit %d\n%s", got.code, got.stderr)
	}
	info, err := os.Lstat(link)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the link became a %v file", info.Mode())
	}
	checkFleet(t, dir, []string{"web.json"})
}
