package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	yaml "sigs.k8s.io/yaml/goyaml.v3"
)

var adoptedNoteRE = regexp.MustCompile(`(?m)^cloudsqlproxy inject: note: [^:]+:\d+: document (\d+) .*adopted the proxy "[^"]+" at (\S+): remove will put back its fields, not its text`)

// TestRemoveOfAdoptedWorkloads checks what inject's note on an adopted
// workload says: remove(inject(x)) differs from x only in the lines of the
// adopted proxy container and of the volumes and mounts, and there is one
// note per adopted workload, at the proxy's position in the input.
func TestRemoveOfAdoptedWorkloads(t *testing.T) {
	manifests, err := filepath.Glob(filepath.Join("..", "..", "testdata", "adopt", "*.yaml"))
	if err != nil || len(manifests) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	adopted := 0
	for _, m := range manifests {
		in, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		injected := runCLI(string(in), "inject", "-f", "-")
		if injected.code != 0 {
			continue
		}
		docs := yamlDocs(t, in)
		allowed := map[int]bool{}
		notes := adoptedNoteRE.FindAllStringSubmatch(injected.stderr, -1)
		for _, n := range notes {
			doc, _ := strconv.Atoi(n[1])
			proxy := nodeAt(docs[doc-1], n[2])
			if proxy == nil {
				t.Errorf("%s: the note's %s is not in document %s", m, n[2], n[1])
				continue
			}
			mark(allowed, proxy)
			markAll(allowed, docs[doc-1], "volumes", "volumeMounts")
			adopted++
		}
		if strings.Count(injected.stderr, "adopted the proxy") != len(notes) {
			t.Errorf("%s: a note on an adoption is not in the expected form:\n%s", m, injected.stderr)
		}
		removed := runCLI(injected.stdout, "remove", "-f", "-")
		if removed.code != 0 {
			t.Fatalf("%s: remove: exit %d\n%s", m, removed.code, removed.stderr)
		}
		if len(notes) == 0 && removed.stdout != string(in) {
			t.Errorf("%s: no adoption, and remove does not give back the bytes", m)
		}
		for _, i := range droppedIndexes(string(in), removed.stdout) {
			if !allowed[i+1] {
				t.Errorf("%s:%d: remove did not give back %q, which is no part of an adopted proxy", m, i+1, strings.Split(string(in), "\n")[i])
			}
		}
	}
	if adopted < 10 {
		t.Errorf("only %d adoptions checked", adopted)
	}
}

func yamlDocs(t *testing.T, data []byte) []*yaml.Node {
	t.Helper()
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, &n)
	}
}

// nodeAt follows a field path such as spec.template.spec.containers[1].
func nodeAt(n *yaml.Node, path string) *yaml.Node {
	if n.Kind == yaml.DocumentNode {
		n = n.Content[0]
	}
	for _, seg := range regexp.MustCompile(`[^.\[\]]+|\[\d+\]`).FindAllString(path, -1) {
		if strings.HasPrefix(seg, "[") {
			i, _ := strconv.Atoi(strings.Trim(seg, "[]"))
			if n.Kind != yaml.SequenceNode || i >= len(n.Content) {
				return nil
			}
			n = n.Content[i]
			continue
		}
		next := (*yaml.Node)(nil)
		for k := 0; n.Kind == yaml.MappingNode && k+1 < len(n.Content); k += 2 {
			if n.Content[k].Value == seg {
				next = n.Content[k+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}

// mark marks the lines n spans, from its first to the last of anything in it.
func mark(lines map[int]bool, n *yaml.Node) {
	last := n.Line
	var walk func(*yaml.Node)
	walk = func(c *yaml.Node) {
		last = max(last, c.Line+strings.Count(c.Value, "\n"))
		for _, cc := range c.Content {
			walk(cc)
		}
	}
	walk(n)
	for l := n.Line; l <= last; l++ {
		lines[l] = true
	}
}

// markAll marks every item of every list under n with one of the keys.
func markAll(lines map[int]bool, n *yaml.Node, keys ...string) {
	for k, c := range n.Content {
		if n.Kind == yaml.MappingNode && k%2 == 1 && c.Kind == yaml.SequenceNode {
			for _, key := range keys {
				if n.Content[k-1].Value == key {
					for _, item := range c.Content {
						mark(lines, item)
					}
				}
			}
		}
		markAll(lines, c, keys...)
	}
}
