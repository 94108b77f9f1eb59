package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type splitDoc struct {
	Index int
	Line  int
	Sep   string
	Raw   string
	Tail  string
	JSON  bool
}

func TestSplitStream(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []splitDoc
		errs []string
		back string // the documents written back, if not the input
	}{
		{name: "empty", in: "", want: []splitDoc{{Line: 1}}},
		{
			name: "only separators and blank lines: kept, without an index",
			in:   "\n---\n\n--- \n  \n",
			want: []splitDoc{{Line: 1, Raw: "\n"}, {Line: 3, Sep: "---\n", Raw: "\n"}, {Line: 5, Sep: "--- \n", Raw: "  \n"}},
		},
		{
			name: "one document without separator or final newline",
			in:   "a: 1",
			want: []splitDoc{{1, 1, "", "a: 1", "", false}},
		},
		{
			name: "separators, a comment on one, comment-only document kept",
			in:   "# header\n---\na: 1\n--- # second\nb: 2\n---\n",
			want: []splitDoc{{1, 1, "", "# header\n", "", false}, {2, 3, "---\n", "a: 1\n", "", false}, {3, 5, "--- # second\n", "b: 2\n", "", false}, {0, 7, "---\n", "", "", false}},
		},
		{
			name: "CRLF line ends",
			in:   "a: 1\r\n---\r\nb: 2\r\n",
			want: []splitDoc{{1, 1, "", "a: 1\r\n", "", false}, {2, 3, "---\r\n", "b: 2\r\n", "", false}},
		},
		{
			name: "byte order mark",
			in:   "\xef\xbb\xbfa: 1\n",
			want: []splitDoc{{1, 1, "", "a: 1\n", "", false}},
		},
		{
			name: "--- inside a line or indented is content",
			in:   "a: |\n  ---\nb: x---y\n",
			want: []splitDoc{{1, 1, "", "a: |\n  ---\nb: x---y\n", "", false}},
		},
		{
			name: "content after a separator",
			in:   "a: 1\n--- {b: 2}\nc: 3\n",
			want: []splitDoc{{1, 1, "", "a: 1\n--- {b: 2}\nc: 3\n", "", false}},
			errs: []string{`f:2: "--- {b: 2}": only a comment may follow a document separator; start the document on the next line`},
		},
		{
			name: "JSON stream keeps each object's text and the space around it",
			in:   "  {\"a\": 1}\n\n{\n \"b\": [2]\n}{\"c\":3}\n",
			want: []splitDoc{{1, 1, "  ", `{"a": 1}`, "", true}, {2, 3, "\n\n", "{\n \"b\": [2]\n}", "", true}, {3, 5, "", `{"c":3}`, "\n", true}},
		},
		{
			name: "JSON syntax error names the line",
			in:   "{\"a\": 1}\n{\"b\":\n  2,,\n}",
			errs: []string{"f:3: document 2: invalid JSON: invalid character ',' looking for beginning of object key string"},
		},
		{
			name: "a template is not JSON",
			in:   "{{- if .Values.enabled }}\napiVersion: v1\n",
			want: []splitDoc{{1, 1, "", "{{- if .Values.enabled }}\napiVersion: v1\n", "", false}},
			back: "---\n{{- if .Values.enabled }}\napiVersion: v1\n", // kubectl would take it for JSON
		},
		{
			name: "a template inside a JSON stream",
			in:   "{\"a\": 1}\n{\"replicas\": {{ .Values.replicas }}}\n",
			errs: []string{"f:2: document 2: looks like an unrendered Helm template ({{ .Values.replicas }}): run helm template first, and inject into its output"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, errs := splitStream("f", []byte(tc.in))
			var got []splitDoc
			for _, d := range docs {
				if d.source != "f" {
					t.Errorf("source %q", d.source)
				}
				got = append(got, splitDoc{d.index, d.line, string(d.sep), string(d.raw), string(d.tail), d.json})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("documents (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.errs, errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if len(errs) == 0 {
				bodies := make([][]byte, len(docs))
				for i, d := range docs {
					bodies[i] = d.raw
				}
				want := strings.TrimPrefix(tc.in, "\xef\xbb\xbf")
				if tc.back != "" {
					want = tc.back
				}
				if got := string(writeStream(docs, bodies)); got != want {
					t.Errorf("written back: %q, want %q", got, want)
				}
			}
		})
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  document
		want map[string]any
		line int // of the error, counted in the document
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
			line: 3,
			err:  `invalid YAML: unmarshal errors: key "a" already set in map`,
		},
		{
			name: "duplicate key in JSON",
			doc:  document{raw: []byte(`{"a": 1, "a": 2}`), json: true},
			line: 1,
			err:  `invalid JSON: duplicate field "a"`,
		},
		{
			name: "syntax error at the line the parser names",
			doc:  document{line: 5, raw: []byte("a:\n  b: 1\n c: 2\n")},
			line: 2, // the parser names the mapping that it could not finish
			err:  "invalid YAML: did not find expected key",
		},
		{
			name: "scalar", doc: document{raw: []byte("# c\njust text\n")},
			line: 2, err: "not a Kubernetes object: the document is a string, not a mapping",
		},
		{name: "list", doc: document{raw: []byte("[1]")}, line: 1, err: "not a Kubernetes object: the document is a list, not a mapping"},
		{
			name: "unrendered template: a value",
			doc:  document{raw: []byte("kind: Deployment\nmetadata:\n  name: {{ include \"web.fullname\" . }}\n")},
			line: 3,
			err:  `looks like an unrendered Helm template ({{ include "web.fullname" . }}): run helm template first, and inject into its output`,
		},
		{
			name: "unrendered template: a control line",
			doc:  document{raw: []byte("# Source: x\n{{- if .Values.enabled }}\nkind: Pod\n{{- end }}\n")},
			line: 2,
			err:  `looks like an unrendered Helm template ({{- if .Values.enabled }}): run helm template first, and inject into its output`,
		},
		{
			name: "unrendered template: an include at a line's start",
			doc:  document{raw: []byte("metadata:\n  labels:\n    {{- include \"web.labels\" . | nindent 4 }}\n")},
			line: 3,
			err:  `looks like an unrendered Helm template ({{- include "web.labels" . | nindent 4 }}): run helm template first, and inject into its output`,
		},
		{
			name: "quoted template text is a string",
			doc:  document{raw: []byte("image: \"{{ .Values.image }}\"\nnote: |\n  {{ $labels.x }}\n")},
			want: map[string]any{"image": "{{ .Values.image }}", "note": "{{ $labels.x }}\n"},
		},
		{
			name: "quoted template text does not explain another error",
			doc:  document{raw: []byte("image: \"{{ .Values.image }}\"\nbad: [\n")},
			line: 2,
			err:  "invalid YAML: did not find expected node content",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.doc.decode()
			gotErr, gotLine := "", 0
			if err != nil {
				gotErr = err.Error()
				var le *lineError
				if errors.As(err, &le) {
					gotLine = le.line
				}
			}
			if gotErr != tc.err || gotLine != tc.line {
				t.Errorf("error %q at line %d, want %q at line %d", gotErr, gotLine, tc.err, tc.line)
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

// TestWriteStream covers what writing adds to the documents' own text: a
// separator for each further source and JSON object among YAML, and one in
// front of a YAML stream that would start with "{".
func TestWriteStream(t *testing.T) {
	split := func(source, text string) []*document {
		docs, errs := splitStream(source, []byte(text))
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		return docs
	}
	for _, tc := range []struct {
		name string
		docs []*document
		want string
	}{
		{"two YAML files", append(split("a", "a: 1"), split("b", "b: 2\n")...), "a: 1\n---\nb: 2\n"},
		{"a second file starting with its separator", append(split("a", "a: 1\n"), split("b", "---\nb: 2\n")...), "a: 1\n---\nb: 2\n"},
		{"two JSON files stay a JSON stream", append(split("a", `{"a":1}`), split("b", "{\"b\":2}\n")...), "{\"a\":1}\n{\"b\":2}\n"},
		{"JSON among YAML", append(split("a", " {\"a\":1}\n"), split("b", "b: 2\n")...), "---\n{\"a\":1}\n---\nb: 2\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bodies := make([][]byte, len(tc.docs))
			for i, d := range tc.docs {
				bodies[i] = d.raw
			}
			if diff := cmp.Diff(tc.want, string(writeStream(tc.docs, bodies))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
