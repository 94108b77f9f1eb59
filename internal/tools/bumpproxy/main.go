// Command bumpproxy moves the library to a new Cloud SQL Auth Proxy release.
// Run it from the repository's root:
//
//	go run ./internal/tools/bumpproxy 2.29.0
//
// It downloads the release's source through the Go module proxy, appends
// the flags, query parameters and subcommands it adds to
// internal/proxysrc/releases.txt, sets DefaultVersion (and the release
// internal/proxycmd reads flags of), updates the
// READMEs' lines that name the default version and the image the examples
// print, regenerates the golden files, and runs the tests that compare the
// flag tables with the release. Their failures say what to add; the tool
// exits 1 until they pass. It changes only files under the repository.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/podspec/cloudsqlproxy/internal/proxysrc"
)

var versionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)

func main() {
	if len(os.Args) != 2 || !versionRE.MatchString(strings.TrimPrefix(os.Args[1], "v")) {
		fmt.Fprintln(os.Stderr, "usage: go run ./internal/tools/bumpproxy X.Y.Z   (from the repository's root)")
		os.Exit(2)
	}
	if err := bump(strings.TrimPrefix(os.Args[1], "v")); err != nil {
		fmt.Fprintln(os.Stderr, "bumpproxy:", err)
		os.Exit(1)
	}
}

func bump(version string) error {
	if _, err := os.Stat("internal/proxysrc/releases.txt"); err != nil {
		return errors.New("run it from the repository's root")
	}
	dir, err := proxysrc.SourceDir(version, true)
	if err != nil {
		return err
	}
	rootGo, err := os.ReadFile(filepath.Join(dir, "cmd", "root.go"))
	if err != nil {
		return err
	}
	old, err := updateSources(version, rootGo)
	if err != nil {
		return err
	}
	steps := [][]string{
		{"go", "test", "-count=1", "-run", "Golden|TestFuzzSeedCorpora", ".", "-update", "-update-fuzz-seeds"},
		{"go", "test", "-count=1", "./cmd/cloudsqlproxy", "-update"},
	}
	for _, s := range steps {
		fmt.Println("$", strings.Join(s, " "))
		if err := run(s); err != nil {
			return fmt.Errorf("regenerating the golden files: %v", err)
		}
	}
	check := []string{"go", "test", "-count=1", "-run", "TestV2FlagTable|TestFlagReleases|TestDocumentation|Example", "."}
	fmt.Println("$", strings.Join(check, " "))
	if err := run(check); err != nil {
		return fmt.Errorf("the flag tables do not match proxy %s yet: make the changes the tests name above, then run the tool again", version)
	}
	fmt.Printf(`
DefaultVersion %s -> %s. Review the diff (git diff), then prove it against the real binary:
  bash e2e/build-real-systems.sh proxy
  bash .ci/run
`, old, version)
	return nil
}

// updateSources changes the repository's sources for version and returns
// the version the library had.
func updateSources(version string, rootGo []byte) (string, error) {
	rel, err := proxysrc.Releases()
	if err != nil {
		return "", err
	}
	release := entriesOf(rootGo, version)
	if gone := removals(rel, release); len(gone) > 0 {
		return "", fmt.Errorf("proxy %s no longer has:\n%sthe version gates assume nothing is removed: decide what images older and newer than %s need first", version, releaseLines(gone), version)
	}
	if add := additions(rel, release); len(add) > 0 {
		fmt.Printf("proxy %s adds:\n%s", version, releaseLines(add))
		if err := appendFile("internal/proxysrc/releases.txt", releaseLines(add)); err != nil {
			return "", err
		}
	}
	var old string
	for _, f := range []string{"proxy.go", "internal/proxycmd/v2.go"} {
		src, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		out, was, err := setDefaultVersion(src, version)
		if err != nil {
			return "", fmt.Errorf("%s: %v", f, err)
		}
		if old != "" && was != old {
			return "", fmt.Errorf("%s names release %s, proxy.go %s: make them equal first", f, was, old)
		}
		old = was
		if err := os.WriteFile(f, out, 0o644); err != nil {
			return "", err
		}
	}
	for _, f := range []string{"README.md", "e2e/README.md"} {
		if err := rewrite(f, func(s string) (string, int) { return bumpDocs(s, old, version) }); err != nil {
			return "", err
		}
	}
	return old, rewrite("example_test.go", func(s string) (string, int) { return bumpImages(s, old, version) })
}

func rewrite(file string, change func(string) (string, int)) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	out, n := change(string(b))
	fmt.Printf("%s: %d lines\n", file, n)
	return os.WriteFile(file, []byte(out), 0o644)
}

func appendFile(file, text string) error {
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func run(argv []string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}
