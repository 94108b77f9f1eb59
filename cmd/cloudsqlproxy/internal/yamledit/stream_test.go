package yamledit

import (
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
			docs, errs := Split("f", []byte(tc.in))
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
				if got := string(Write(docs, bodies)); got != want {
					t.Errorf("written back: %q, want %q", got, want)
				}
			}
		})
	}
}

// TestWriteStream covers what writing adds to the documents' own text: a
// separator for each further source and JSON object among YAML, and one in
// front of a YAML stream that would start with "{".
func TestWriteStream(t *testing.T) {
	split := func(source, text string) []*Document {
		docs, errs := Split(source, []byte(text))
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		return docs
	}
	for _, tc := range []struct {
		name string
		docs []*Document
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
			if diff := cmp.Diff(tc.want, string(Write(tc.docs, bodies))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
