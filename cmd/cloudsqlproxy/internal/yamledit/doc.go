// Package yamledit edits Kubernetes manifest streams, YAML or JSON, so that
// what a change leaves alone keeps its bytes: comments, key order, quoting,
// indentation and line breaks. A manifest kept in Git then shows a diff of
// exactly what the command added, and remove gives back what inject read.
//
// The command works in four steps, one file each:
//
//   - stream.go: Read and Split cut inputs into Documents, keeping the
//     text between them; Write joins them again.
//   - decode.go: Document.Decode gives a document's object in the form
//     Kubernetes uses for unstructured objects, with errors at their line.
//   - merge.go: Merge replays a change made on typed values onto the object
//     as read, so that fields the Go types do not know survive.
//   - splice.go: Document.Splice writes the changed values into the text at
//     the nodes' positions (block.go for block YAML, flow.go for flow YAML
//     and JSON, scan.go for where a value's text ends, render.go for the
//     new values in the document's style); Document.Rewrite writes a
//     document anew where that cannot be done.
//
// nodes.go maps field paths to lines for errors (Document.FieldLine), and
// template.go tells unrendered Helm templates from YAML. The package knows
// Kubernetes only through the Go types that order keys (types.go) and the
// lists whose items are paired by name (merge.go).
package yamledit
