package main

import (
	"encoding/json"
	"fmt"

	"github.com/podspec/cloudsqlproxy"
)

// adoptedNote is the note on standard error for a workload whose own proxy
// inject has just adopted, or "" for any other: the injection record keeps
// the replaced container as its fields, not as its text, so this is where
// remove stops giving back the input's bytes, and the user should know it
// before committing the output rather than find it in a diff later.
func (t *transformer) adoptedNote(r ref, pl *place, newMeta map[string]any) string {
	if t.action != inject {
		return ""
	}
	ann, _ := newMeta["annotations"].(map[string]any)
	value, _ := ann[cloudsqlproxy.StatusAnnotation].(string)
	var rec struct {
		Replaced *struct {
			List      string `json:"list"`
			Index     int    `json:"index"`
			Container struct {
				Name string `json:"name"`
			} `json:"container"`
		} `json:"replaced"`
	}
	if json.Unmarshal([]byte(value), &rec) != nil || rec.Replaced == nil {
		return ""
	}
	at := pl.specPath.Child(rec.Replaced.List).Index(rec.Replaced.Index)
	return fmt.Sprintf("note: %s: adopted the proxy %q at %s: remove will put back its fields, not its text: "+
		"it and the volumes and mounts it used come back in the API's key order (in YAML, in block style), without the comments "+
		"inside them or fields this build's Kubernetes types do not know; every other line comes back as it was",
		r.at(at.String()), rec.Replaced.Container.Name, at)
}
