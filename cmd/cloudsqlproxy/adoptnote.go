package main

import (
	"fmt"

	"github.com/podspec/cloudsqlproxy"
)

// adoptedNotes are the notes on standard error for a workload whose own
// proxy inject has just adopted (a, from FromPod's proxy), none for any
// other. The first says where remove stops giving back the input's bytes:
// the injection record keeps the replaced container as its fields, not as
// its text, and the user should know before committing the output rather
// than find it in a diff later. The others are the library's notes on how
// the adopted proxy behaves differently, each with why.
func (t *transformer) adoptedNotes(r ref, pl *place, a *cloudsqlproxy.Adoption) []string {
	if t.action != inject || a == nil || a.Container == nil {
		return nil
	}
	at := under(pl.specPath, a.Container.String())
	notes := []string{fmt.Sprintf("note: %s: adopted the proxy %q at %s: remove will put back its fields, not its text: "+
		"it and the volumes and mounts it used come back in the API's key order (in YAML, in block style), without the comments "+
		"inside them or fields this build's Kubernetes types do not know; every other line comes back as it was",
		r.at(at), a.Name, at)}
	for _, n := range a.Notes {
		f := under(pl.specPath, n.Field.String())
		note := fmt.Sprintf("note: %s: %s: %s", r.at(f), f, n.Detail)
		if n.Option != nil {
			note += " (" + t.flagNames.name(n.Option) + ")"
		}
		notes = append(notes, note)
	}
	return notes
}
