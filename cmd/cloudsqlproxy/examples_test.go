package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// repoRoot is where the README's commands run from.
const repoRoot = "../.."

// exampleCommand is one line of examples/README.md:
// "go run ./cmd/cloudsqlproxy ARGS > OUTPUT".
type exampleCommand struct {
	line   string
	args   []string // relative to the repository's root
	output string
}

var exampleLineRE = regexp.MustCompile(`(?m)^go run \./cmd/cloudsqlproxy (.+) > (examples/\S+)$`)

func exampleCommands(t *testing.T) []exampleCommand {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "examples", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []exampleCommand
	for _, m := range exampleLineRE.FindAllStringSubmatch(string(readme), -1) {
		cmds = append(cmds, exampleCommand{line: m[0], args: strings.Fields(m[1]), output: m[2]})
	}
	if len(cmds) == 0 {
		t.Fatal("examples/README.md lists no command")
	}
	return cmds
}

// fromRoot rewrites the -f paths of args, which are relative to the
// repository's root, for a test running in this package's directory.
func fromRoot(args []string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if i > 0 && (out[i-1] == "-f" || out[i-1] == "--filename") && out[i] != "-" {
			out[i] = filepath.Join(repoRoot, out[i])
		}
	}
	return out
}

// TestExamples runs the commands of examples/README.md and compares their
// output with the golden files they write; -update rewrites those.
func TestExamples(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range exampleCommands(t) {
		t.Run(filepath.Base(c.output), func(t *testing.T) {
			got := runCLI("", fromRoot(c.args)...)
			if got.code != 0 || got.stderr != "" {
				t.Fatalf("%s\nexit %d, stderr:\n%s", c.line, got.code, got.stderr)
			}
			checkGolden(t, filepath.Join(repoRoot, c.output), got.stdout)
			again := runCLI(got.stdout, replaceInputs(c.args)...)
			if again.stdout != got.stdout {
				t.Errorf("inject changes %s", c.output)
			}
			removed := runCLI(got.stdout, append([]string{"remove"}, replaceInputs(c.args)[1:]...)...)
			if removed.code != 0 {
				t.Fatalf("remove: exit %d\n%s", removed.code, removed.stderr)
			}
			if diff := cmp.Diff(decodeAll(t, inputOf(t, fromRoot(c.args))), decodeAll(t, splitOutput(t, removed.stdout))); diff != "" {
				t.Errorf("remove does not give back the example (-example +got):\n%s", diff)
			}
		})
		for i, a := range c.args {
			if a == "-f" {
				covered[c.args[i+1]] = true
			}
		}
	}
	inputs, err := filepath.Glob(filepath.Join(repoRoot, "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		rel, _ := filepath.Rel(repoRoot, in)
		if !strings.HasSuffix(in, ".injected.yaml") && !covered[filepath.ToSlash(rel)] {
			t.Errorf("%s has no command in examples/README.md", rel)
		}
	}
}

// TestBinary builds the real command once and runs it the way users do:
// the first example command from the repository's root, standard input,
// and the three exit codes.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := filepath.Join(t.TempDir(), "cloudsqlproxy")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	first := exampleCommands(t)[0]
	want, err := os.ReadFile(filepath.Join(repoRoot, first.output))
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join(repoRoot, "examples", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name      string
		args      []string
		stdin     []byte
		code      int
		stdout    []byte // nil: not compared
		stderrHas string
	}{
		{name: "README command", args: first.args, stdout: want},
		{name: "stdin", args: []string{"inject", "--instance", "my-project:us-central1:db", "-f", "-"}, stdin: example, stdout: want},
		{name: "version", args: []string{"version"}},
		{name: "help", args: []string{"--help"}},
		{name: "input error", args: []string{"inject", "--instance", "my-project:us-central1:db", "-f", "-"}, stdin: []byte("a: [\n"), code: 1, stdout: []byte{}, stderrHas: "invalid YAML"},
		{name: "config error", args: []string{"inject", "--instance", "nope", "-f", "examples/deployment.yaml"}, code: 1, stdout: []byte{}, stderrHas: "--instance #1"},
		{name: "usage error", args: []string{"inject", "--nope"}, code: 2, stdout: []byte{}, stderrHas: "--nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Dir = repoRoot
			cmd.Stdin = bytes.NewReader(tc.stdin)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if tc.stdout != nil {
				if diff := cmp.Diff(string(tc.stdout), stdout.String()); diff != "" {
					t.Errorf("stdout (-want +got):\n%s", diff)
				}
			}
			if !strings.Contains(stderr.String(), tc.stderrHas) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.stderrHas)
			}
		})
	}
}
