// Package proxysrc reads what the Cloud SQL Auth Proxy v2 source says about
// its command line: the flags a release's root command registers, and the
// first release of each flag, parameter and subcommand since 2.0.0. The
// library's tests check its flag table and version gates against them, and
// the bump tool (internal/tools/bumpproxy) uses them to list what a new
// release adds.
package proxysrc

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Module is the proxy's Go module path.
const Module = "github.com/GoogleCloudPlatform/cloud-sql-proxy/v2"

// Flag is one flag of the proxy's root command.
type Flag struct {
	Name  string
	Short byte // the one-letter shorthand, 0 when there is none
	Value bool // takes a value; false for a boolean flag
}

// flagCall matches a flag registration in cmd/root.go in the shapes every
// 2.x release used: pflags.StringVar(&c.conf.X, "name", ...),
// localFlags.BoolVarP(&x, "name", "i", ...), globalFlags.StringVar(&x,
// httpAddressFlag, ...) and rootCmd.PersistentFlags().BoolVar(...).
var flagCall = regexp.MustCompile(`(?m)^\s*([\w.()]+?)\.(String|Bool|Int|Int64|Uint|Uint64|Duration|StringSlice|Float64)(Var)?(P)?\(\s*(?:&[\w.]+,\s*)?("[\w-]+"|\w+Flag)(?:,\s*"(\w)")?`)

// flagConst matches the constants some releases name flags with.
var flagConst = regexp.MustCompile(`(\w+Flag)\s*=\s*"([\w-]+)"`)

// subcommandFlags are the receivers of the wait and shutdown subcommands'
// own flags, which the root command does not take.
var subcommandFlags = map[string]bool{"waitFlags": true, "shutdownFlags": true}

// RootFlags returns the flags cmd/root.go registers on the root command,
// sorted by name.
func RootFlags(rootGo []byte) []Flag {
	consts := map[string]string{}
	for _, m := range flagConst.FindAllSubmatch(rootGo, -1) {
		consts[string(m[1])] = string(m[2])
	}
	var flags []Flag
	for _, m := range flagCall.FindAllSubmatch(rootGo, -1) {
		if subcommandFlags[string(m[1])] {
			continue
		}
		name := string(m[5])
		if name[0] == '"' {
			name = name[1 : len(name)-1]
		} else {
			name = consts[name]
		}
		f := Flag{Name: name, Value: string(m[2]) != "Bool"}
		if len(m[6]) > 0 {
			f.Short = m[6][0]
		}
		flags = append(flags, f)
	}
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	return flags
}

// SourceDir returns the directory of the proxy module at version (such as
// "2.28.0") in the Go module cache, downloading it through the module proxy
// when download is true.
func SourceDir(version string, download bool) (string, error) {
	mod := Module + "@v" + strings.TrimPrefix(version, "v")
	if download {
		out, err := exec.Command("go", "mod", "download", "-json", mod).Output()
		if err != nil {
			return "", fmt.Errorf("go mod download %s: %v", mod, err)
		}
		var dir string
		for _, line := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), `"Dir": `); ok {
				dir = strings.Trim(strings.TrimSuffix(v, ","), `"`)
			}
		}
		if dir == "" {
			return "", fmt.Errorf("go mod download %s: no directory in %s", mod, out)
		}
		return dir, nil
	}
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			return "", fmt.Errorf("go env GOMODCACHE: %v", err)
		}
		cache = strings.TrimSpace(string(out))
	}
	dir := filepath.Join(cache, "github.com/!google!cloud!platform/cloud-sql-proxy", "v2@v"+strings.TrimPrefix(version, "v"))
	if _, err := os.Stat(dir); err != nil {
		return "", err
	}
	return dir, nil
}

//go:embed releases.txt
var releases []byte

// Kinds of entries in the release table.
const (
	KindFlag       = "flag"       // a flag of the root command
	KindParam      = "param"      // a per-instance query parameter
	KindSubcommand = "subcommand" // a subcommand of the root command
)

// Introduced is one entry of the release table.
type Introduced struct {
	Kind, Name string
	Release    string // the first 2.x release that has it, such as "2.9.0"
}

// Releases returns the release table: every flag, parameter and subcommand
// of the proxy v2 with the first release that has it, in the file's order.
func Releases() ([]Introduced, error) {
	return ParseReleases(releases)
}

// ParseReleases reads a release table: "kind name release" lines, with
// blank lines and "#" comments.
func ParseReleases(b []byte) ([]Introduced, error) {
	var out []Introduced
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || (f[0] != KindFlag && f[0] != KindParam && f[0] != KindSubcommand) {
			return nil, fmt.Errorf("releases.txt:%d: want \"flag|param|subcommand NAME RELEASE\", got %q", n, line)
		}
		out = append(out, Introduced{Kind: f[0], Name: f[1], Release: f[2]})
	}
	return out, sc.Err()
}

// paramRead matches the reading of a per-instance query parameter:
// q["port"], q.Get("port") or parseBoolOpt(q, "psc").
var paramRead = regexp.MustCompile(`\bq\["([\w-]+)"\]|\bq\.Get\("([\w-]+)"\)|parseBoolOpt\(q, "([\w-]+)"\)`)

// Params returns the per-instance query parameters cmd/root.go reads,
// sorted.
func Params(rootGo []byte) []string {
	seen := map[string]bool{}
	for _, m := range paramRead.FindAllSubmatch(rootGo, -1) {
		seen[string(bytes.Join(m[1:], nil))] = true
	}
	return sortedKeys(seen)
}

// subcommandUse matches a cobra command's Use line; the root command's has
// spaces and is left out.
var subcommandUse = regexp.MustCompile(`(?m)^\s*Use:\s*"([\w-]+)"`)

// Subcommands returns the subcommands cmd/root.go defines, sorted.
func Subcommands(rootGo []byte) []string {
	seen := map[string]bool{}
	for _, m := range subcommandUse.FindAllSubmatch(rootGo, -1) {
		seen[string(m[1])] = true
	}
	return sortedKeys(seen)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
