package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/podspec/cloudsqlproxy/cmd/cloudsqlproxy/internal/yamledit"
)

// outputFlags choose where the result goes.
type outputFlags struct {
	inPlace bool
}

// registerOutputFlags adds the flags to fs, next to the ones flags.register
// adds.
func registerOutputFlags(fs *flag.FlagSet) *outputFlags {
	o := &outputFlags{}
	fs.BoolVar(&o.inPlace, "in-place", false, "")
	return o
}

// check finds the usage errors of the output flags given the -f arguments.
func (o *outputFlags) check(files []string) error {
	if !o.inPlace {
		return nil
	}
	for _, p := range files {
		if p == "-" {
			return errors.New("--in-place rewrites files: it cannot take -f - (standard input)")
		}
	}
	return nil
}

// outputHelp documents them in the "Input and output" part of inject's help.
const outputHelp = `      --in-place            rewrite each file (each -f FILE, and each file of a
                            -f DIRECTORY) instead of writing to standard output:
                            a file with any error is left untouched while the
                            others are written, each atomically (a temporary
                            file in its directory renamed over it, its mode
                            kept); a file nothing changes is not written. A
                            line on standard error reports each file as
                            changed, unchanged or failed, and the exit status
                            is 1 if any failed. Not with -f -.
`

// fileOutcome is what became of one file of an in-place run.
type fileOutcome int

const (
	fileUnchanged fileOutcome = iota
	fileChanged
	fileFailed
)

// inPlace runs the command on each file of the -f arguments on its own,
// and writes back the ones that changed: one refused workload then costs
// its own file, not the fleet's. Notes and warnings about the whole run
// come after the per-file report.
func (t *transformer) inPlace(cmd string, inputs []string, stderr io.Writer) int {
	files, errs := inPlaceFiles(inputs)
	counts := map[fileOutcome]int{}
	for _, e := range errs {
		fmt.Fprintf(stderr, "cloudsqlproxy %s: %s\n", cmd, e)
		counts[fileFailed]++
	}
	for _, f := range files {
		outcome, problems := t.file(f.path, f.fromDir)
		counts[outcome]++
		for _, p := range problems {
			fmt.Fprintf(stderr, "cloudsqlproxy %s: %s\n", cmd, p)
		}
		switch outcome {
		case fileChanged:
			fmt.Fprintf(stderr, "cloudsqlproxy %s: %s: changed\n", cmd, f.path)
		case fileUnchanged:
			fmt.Fprintf(stderr, "cloudsqlproxy %s: %s: unchanged\n", cmd, f.path)
		default:
			fmt.Fprintf(stderr, "cloudsqlproxy %s: %s: failed (%s); the file was not touched\n", cmd, f.path, plural(len(problems), "error"))
		}
	}
	for _, w := range t.warnings() {
		fmt.Fprintf(stderr, "cloudsqlproxy %s: %s\n", cmd, w)
	}
	fmt.Fprintf(stderr, "cloudsqlproxy %s: %d changed, %d unchanged, %d failed\n", cmd,
		counts[fileChanged], counts[fileUnchanged], counts[fileFailed])
	if counts[fileFailed] > 0 {
		return exitError
	}
	return exitOK
}

type inPlaceFile struct {
	path    string
	fromDir bool // listed from a directory rather than named by -f
}

// inPlaceFiles expands the -f arguments into files, each once: a file named
// twice (directly and through its directory) would otherwise be read twice
// and written twice.
func inPlaceFiles(inputs []string) ([]inPlaceFile, []string) {
	var files []inPlaceFile
	var errs []string
	seen := map[string]bool{}
	for _, in := range inputs {
		list, err := yamledit.Files(in)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		for _, f := range list {
			key, err := filepath.EvalSymlinks(f)
			if err != nil {
				key = f
			}
			if abs, err := filepath.Abs(key); err == nil {
				key = abs
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			files = append(files, inPlaceFile{path: f, fromDir: f != in})
		}
	}
	return files, errs
}

// file transforms one file and writes it back when it changed. A file of a
// directory that holds no object is unchanged rather than an error: unlike
// an empty stream from "helm template", it is just a file there.
func (t *transformer) file(path string, fromDir bool) (fileOutcome, []string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return fileFailed, []string{err.Error()}
	}
	docs, errs := yamledit.Read([]string{path}, nil)
	// Notes and counts of a failed file would describe text never written.
	saved := t.tally()
	t.emptyOK = fromDir
	out, docErrs := t.run(docs)
	t.emptyOK = false
	if errs = append(errs, docErrs...); len(errs) > 0 {
		t.restore(saved)
		return fileFailed, errs
	}
	if bytes.HasPrefix(data, bom) {
		out = append(append([]byte(nil), bom...), out...)
	}
	if bytes.Equal(out, data) {
		return fileUnchanged, nil
	}
	if err := writeAtomically(path, out); err != nil {
		t.restore(saved)
		return fileFailed, []string{err.Error()}
	}
	return fileChanged, nil
}

var bom = []byte("\xef\xbb\xbf")

// tally is what the run's closing notes count, at one point of the run.
type tally struct{ workloads, noProxy, optedOut, helmTests, rewritten, notes int }

func (t *transformer) tally() tally {
	return tally{t.workloads, t.noProxy, t.optedOut, t.helmTests, len(t.rewritten), len(t.notes)}
}

// restore undoes what a failed file added to the run's notes; --name
// matches stay, since the workload was there.
func (t *transformer) restore(s tally) {
	t.workloads, t.noProxy, t.optedOut, t.helmTests = s.workloads, s.noProxy, s.optedOut, s.helmTests
	t.rewritten, t.notes = t.rewritten[:s.rewritten], t.notes[:s.notes]
}

// writeAtomically replaces the file at path with data so that a reader, or
// a crash, sees the old text or the new, never a part: a temporary file in
// the same directory (a rename across file systems is not atomic) renamed
// over it. A symbolic link is followed, so that the link stays a link. The
// file keeps its permission bits; its owner is the caller's, as with any
// editor that saves this way.
func writeAtomically(path string, data []byte) (err error) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("%s: writing: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	mode := info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("%s: writing: %w", path, err)
	}
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("%s: writing: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("%s: writing: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("%s: writing: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("%s: writing: %w", path, err)
	}
	return nil
}
