package main

import "flag"

// filterFlags choose which of the workloads that --selector and --name
// select the command leaves alone.
type filterFlags struct {
	includeHelmTests bool
}

// registerFilterFlags adds the flags to fs, next to the ones flags.register
// adds.
func registerFilterFlags(fs *flag.FlagSet) *filterFlags {
	f := &filterFlags{}
	fs.BoolVar(&f.includeHelmTests, "include-helm-tests", false, "")
	return f
}

// filterHelp documents them, and the opt-out annotation, in the "Input and
// output" part of inject's help.
const filterHelp = `      --include-helm-tests  also Helm test hooks (helm.sh/hook: test), which are
                            left alone by default

  A workload annotated ` + injectAnnotation + `: "false", on itself
  or on its pod template, is left alone by inject and remove alike ("true"
  is the default; other values are an error). A note on standard error
  counts the workloads left alone.
`
