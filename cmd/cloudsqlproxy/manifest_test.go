package main

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type splitDoc struct {
	Line int
	Sep  string
	Raw  string
	JSON bool
}

func TestSplitStream(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []splitDoc
		errs []string
	}{
		{name: "empty", in: ""},
		{name: "only separators and blank lines", in: "\n---\n\n--- \n  \n"},
		{
			name: "one document without separator or final newline",
			in:   "a: 1",
			want: []splitDoc{{1, "", "a: 1", false}},
		},
		{
			name: "separators, a comment on one, comment-only document kept",
			in:   "# header\n---\na: 1\n--- # second\nb: 2\n---\n",
			want: []splitDoc{{1, "", "# header\n", false}, {3, "", "a: 1\n", false}, {5, "--- # second", "b: 2\n", false}},
		},
		{
			name: "CRLF line ends",
			in:   "a: 1\r\n---\r\nb: 2\r\n",
			want: []splitDoc{{1, "", "a: 1\r\n", false}, {3, "", "b: 2\r\n", false}},
		},
		{
			name: "byte order mark",
			in:   "\xef\xbb\xbfa: 1\n",
			want: []splitDoc{{1, "", "a: 1\n", false}},
		},
		{
			name: "--- inside a line or indented is content",
			in:   "a: |\n  ---\nb: x---y\n",
			want: []splitDoc{{1, "", "a: |\n  ---\nb: x---y\n", false}},
		},
		{
			name: "content after a separator",
			in:   "a: 1\n--- {b: 2}\nc: 3\n",
			want: []splitDoc{{1, "", "a: 1\n--- {b: 2}\nc: 3\n", false}},
			errs: []string{`f:2: "--- {b: 2}": only a comment may follow a document separator; start the document on the next line`},
		},
		{
			name: "JSON stream keeps each object's text",
			in:   "  {\"a\": 1}\n\n{\n \"b\": [2]\n}{\"c\":3}",
			want: []splitDoc{{1, "", `{"a": 1}`, true}, {3, "", "{\n \"b\": [2]\n}", true}, {5, "", `{"c":3}`, true}},
		},
		{
			name: "JSON syntax error names the line",
			in:   "{\"a\": 1}\n{\"b\":\n  2,,\n}",
			errs: []string{"f:3: document 2: invalid JSON: invalid character ',' looking for beginning of object key string"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, errs := splitStream("f", []byte(tc.in))
			var got []splitDoc
			for i, d := range docs {
				if d.index != i+1 || d.source != "f" {
					t.Errorf("document %d: index %d, source %q", i+1, d.index, d.source)
				}
				got = append(got, splitDoc{d.line, d.sep, string(d.raw), d.json})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("documents (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.errs, errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  document
		want map[string]any
		err  string
	}{
		{name: "comments only", doc: document{raw: []byte("# nothing\n")}},
		{
			name: "integers stay integers, YAML 1.1 octal and booleans as kubectl reads them",
			doc:  document{raw: []byte("a: 1\nb: 0.5\nc: 0644\nd: yes\ne: \"yes\"\n")},
			want: map[string]any{"a": int64(1), "b": 0.5, "c": int64(420), "d": true, "e": "yes"},
		},
		{
			name: "flow mapping that is not JSON",
			doc:  document{raw: []byte("{a: 1}\n")},
			want: map[string]any{"a": int64(1)},
		},
		{
			name: "duplicate key in YAML",
			doc:  document{line: 10, raw: []byte("a: 1\nb: 2\na: 3\n")},
			err:  `invalid YAML: unmarshal errors: line 12: key "a" already set in map`,
		},
		{
			name: "duplicate key in JSON",
			doc:  document{raw: []byte(`{"a": 1, "a": 2}`), json: true},
			err:  `invalid JSON: duplicate field "a"`,
		},
		{
			name: "syntax error with the source's line",
			doc:  document{line: 5, raw: []byte("a:\n  b: 1\n c: 2\n")},
			err:  "invalid YAML: line 6: did not find expected key", // the parser names the mapping that it could not finish
		},
		{name: "scalar", doc: document{raw: []byte("just text\n")}, err: "not a Kubernetes object: the document is a string, not a mapping"},
		{name: "list", doc: document{raw: []byte("[1]")}, err: "not a Kubernetes object: the document is a list, not a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.doc.decode()
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tc.err {
				t.Errorf("error %q, want %q", gotErr, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

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

func TestWriteDocument(t *testing.T) {
	var out bytes.Buffer
	writeDocument(&out, &document{}, []byte(`{"a":1}`))
	writeDocument(&out, &document{sep: "--- # kept"}, []byte("b: 2\n"))
	if diff := cmp.Diff("---\n{\"a\":1}\n--- # kept\nb: 2\n", out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
