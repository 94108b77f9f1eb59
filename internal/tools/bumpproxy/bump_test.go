package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podspec/cloudsqlproxy"
	"github.com/podspec/cloudsqlproxy/internal/proxysrc"
)

func TestSetDefaultVersion(t *testing.T) {
	src := "const (\n\t// DefaultVersion is ...\n\tDefaultVersion = \"2.28.0\"\n\tDefaultImage = \"x:\" + DefaultVersion\n)\n"
	out, old, err := setDefaultVersion([]byte(src), "2.29.1")
	if err != nil {
		t.Fatal(err)
	}
	want := "const (\n\t// DefaultVersion is ...\n\tDefaultVersion = \"2.29.1\"\n\tDefaultImage = \"x:\" + DefaultVersion\n)\n"
	if diff := cmp.Diff(want, string(out)); diff != "" || old != "2.28.0" {
		t.Errorf("old %q; (-want +got):\n%s", old, diff)
	}
	out, old, err = setDefaultVersion([]byte("// Release is ...\nconst Release = \"2.28.0\"\n"), "2.29.1")
	if err != nil || old != "2.28.0" || string(out) != "// Release is ...\nconst Release = \"2.29.1\"\n" {
		t.Errorf("Release: %q %q %v", out, old, err)
	}
	if _, _, err := setDefaultVersion([]byte("const V = \"2.28.0\"\n"), "2.29.0"); err == nil {
		t.Error("no error without a DefaultVersion constant")
	}
}

func TestBumpDocs(t *testing.T) {
	in := "| image | `proxy:2.28.0` (`DefaultImage`) |\n" +
		"Proven against v2.28.0 (the default image's version)\n" +
		"| proxy | **v2.28.0** (the library's `DefaultVersion`) |\n" +
		"v2.28.0 flushes its traces one batch at a time (measured)\n"
	want := "| image | `proxy:2.29.0` (`DefaultImage`) |\n" +
		"Proven against v2.29.0 (the default image's version)\n" +
		"| proxy | **v2.29.0** (the library's `DefaultVersion`) |\n" +
		"v2.28.0 flushes its traces one batch at a time (measured)\n"
	got, n := bumpDocs(in, "2.28.0", "2.29.0")
	if diff := cmp.Diff(want, got); diff != "" || n != 3 {
		t.Errorf("%d lines; (-want +got):\n%s", n, diff)
	}
}

func TestBumpImages(t *testing.T) {
	in := "// gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.28.0-alpine\nImage: \"eu.gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1\"\n"
	got, n := bumpImages(in, "2.28.0", "2.29.0")
	want := "// gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.29.0-alpine\nImage: \"eu.gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1\"\n"
	if diff := cmp.Diff(want, got); diff != "" || n != 1 {
		t.Errorf("%d; (-want +got):\n%s", n, diff)
	}
}

func TestAdditionsAndRemovals(t *testing.T) {
	rel := []proxysrc.Introduced{
		{Kind: proxysrc.KindFlag, Name: "token", Release: "2.0.0"},
		{Kind: proxysrc.KindFlag, Name: "quiet", Release: "2.0.0"},
		{Kind: proxysrc.KindParam, Name: "port", Release: "2.0.0"},
		{Kind: proxysrc.KindSubcommand, Name: "wait", Release: "2.8.0"},
	}
	rootGo := []byte(`
	localFlags.StringVar(&c.conf.Token, "token", "", "...")
	localFlags.BoolVar(&c.conf.X, "brand-new", false, "...")
		Use:   "wait",
			p, pok := q["port"]
			ic.X, err = parseBoolOpt(q, "new-param")
`)
	want := []proxysrc.Introduced{
		{Kind: proxysrc.KindFlag, Name: "brand-new", Release: "2.29.0"},
		{Kind: proxysrc.KindParam, Name: "new-param", Release: "2.29.0"},
	}
	release := entriesOf(rootGo, "2.29.0")
	if diff := cmp.Diff(want, additions(rel, release)); diff != "" {
		t.Errorf("additions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]proxysrc.Introduced{rel[1]}, removals(rel, release)); diff != "" {
		t.Errorf("removals (-want +got):\n%s", diff)
	}
	if got := releaseLines(want); got != "flag brand-new 2.29.0\nparam new-param 2.29.0\n" {
		t.Errorf("releaseLines: %q", got)
	}
}

// TestNewestReleaseIsInTheTable runs the tool's reading on the source of
// the release the library defaults to, when the module cache has it: the
// table must already hold everything it has.
func TestNewestReleaseIsInTheTable(t *testing.T) {
	dir, err := proxysrc.SourceDir(cloudsqlproxy.DefaultVersion, false)
	if err != nil {
		t.Skipf("no proxy source in the module cache: %v", err)
	}
	rootGo, err := os.ReadFile(filepath.Join(dir, "cmd", "root.go"))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := proxysrc.Releases()
	if err != nil {
		t.Fatal(err)
	}
	release := entriesOf(rootGo, "?")
	if add := additions(rel, release); len(add) > 0 {
		t.Errorf("releases.txt lacks:\n%s", releaseLines(add))
	}
	if gone := removals(rel, release); len(gone) > 0 {
		t.Errorf("the release no longer has:\n%s", releaseLines(gone))
	}
}
