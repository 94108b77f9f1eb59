package proxycmd

import (
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Generation says which Cloud SQL Auth Proxy, if any, a container runs.
type Generation int

// The generations Detect tells apart.
const (
	// None runs no proxy, or one whose command cannot be found.
	None Generation = iota
	// V1 runs cloud_sql_proxy 1.x: Go flag syntax, -instances=.
	V1
	// V1Shell runs cloud_sql_proxy 1.x from a shell command string
	// (sh -c "... /cloud_sql_proxy -instances=..."), as the v1 alpine image
	// was often used: its flags are words inside the script.
	V1Shell
	// V2 runs cloud-sql-proxy 2.x: pflag syntax, instances as
	// arguments.
	V2
	// V2Shell runs cloud-sql-proxy 2.x from a shell command string.
	V2Shell
)

// String names g as errors show it: "v1", "v2 (shell)", "none".
func (g Generation) String() string {
	switch g {
	case V1:
		return "v1"
	case V1Shell:
		return "v1 (shell)"
	case V2:
		return "v2"
	case V2Shell:
		return "v2 (shell)"
	}
	return "none"
}

// Detect says whether c runs a Cloud SQL Auth Proxy, and which,
// whatever its name: by the binary its command runs (directly, under an init
// like tini, or in a shell command string) and, when the command does not
// say, by its image. A shell script that runs something else, and a v2
// container that runs one of the proxy's subcommands (wait, shutdown), run
// no proxy, whatever the image.
func Detect(c *corev1.Container) Generation {
	return Read(field.NewPath("container"), c).Gen
}

// Command is how a container starts its proxy.
type Command struct {
	// Gen is the proxy the container runs; None when it runs no proxy.
	Gen Generation
	// Argv is the proxy's command line, the binary first: the container's
	// command and args (after the image's ENTRYPOINT when there is no
	// command, without an init such as tini), or the words of a shell
	// script. It is nil when a script cannot be split into one command.
	Argv []string
	// At names the field each element of Argv comes from; every word of a
	// script comes from the script's element.
	At func(i int) *field.Path
	// Errs say why a script's words cannot be taken as the proxy's argv.
	Errs field.ErrorList
	// Wrapper is the program the proxy runs under, with its arguments,
	// when the command starts another program that runs the proxy's binary
	// given as an argument (a watchdog such as /watchkiller); nil otherwise.
	Wrapper []string
}

// inits are programs that run their arguments as a command.
var inits = map[string]bool{"tini": true, "dumb-init": true, "catatonit": true}

// Read finds the proxy in c and its command line; fld is c's path, for
// errors and Command.At.
func Read(fld *field.Path, c *corev1.Container) Command {
	imageGen := ImageGeneration(c.Image)
	var argv []string
	var paths []*field.Path
	for i, a := range c.Command {
		argv, paths = append(argv, a), append(paths, fld.Child("command").Index(i))
	}
	if len(c.Command) == 0 {
		switch imageGen {
		case V2:
			argv, paths = append(argv, V2Entrypoint), append(paths, fld.Child("image"))
		case None:
			// The arguments go to an ENTRYPOINT this package cannot see.
			return Command{}
		}
	}
	for i, a := range c.Args {
		argv, paths = append(argv, a), append(paths, fld.Child("args").Index(i))
	}
	cmd := Command{Argv: argv, At: func(i int) *field.Path { return paths[i] }}

	// Skip inits: `tini [options] [--] program args...`.
	for len(cmd.Argv) > 0 && inits[path.Base(cmd.Argv[0])] {
		k := 1
		for k < len(cmd.Argv) && strings.HasPrefix(cmd.Argv[k], "-") {
			k++
			if cmd.Argv[k-1] == "--" {
				break
			}
		}
		skip := k
		cmd.Argv = cmd.Argv[skip:]
		prev := cmd.At
		cmd.At = func(i int) *field.Path { return prev(i + skip) }
	}

	if len(cmd.Argv) > 0 && isShell(cmd.Argv) {
		return shellCommand(cmd, imageGen)
	}
	cmd = unwrap(cmd)
	if len(cmd.Argv) > 0 {
		cmd.Gen = binaryGen(cmd.Argv[0])
	}
	if cmd.Gen == None {
		// A wrapper of its own, or no command on a v1 image (which has no
		// ENTRYPOINT and so cannot start): the image says what it is.
		cmd.Gen = imageGen
	}
	if cmd.Gen == V2 && runsV2Subcommand(cmd.Argv) {
		return Command{}
	}
	return cmd
}

// unwrap skips a wrapper that runs the proxy's binary given as one of its
// arguments (`/watchkiller /cloud_sql_proxy -instances=...`): the proxy's
// command line starts at that binary.
func unwrap(cmd Command) Command {
	if len(cmd.Argv) == 0 || binaryGen(cmd.Argv[0]) != None {
		return cmd
	}
	// The binary must be an absolute path with arguments of its own, after
	// nothing but the wrapper's options: a host named cloud-sql-proxy
	// (psql -h cloud-sql-proxy) or a path among an application's own
	// arguments is no proxy.
	for k := 1; k < len(cmd.Argv)-1; k++ {
		if a := cmd.Argv[k]; !strings.HasPrefix(a, "/") || binaryGen(a) == None {
			if strings.HasPrefix(a, "-") {
				continue
			}
			return cmd
		}
		prev := cmd.At
		cmd.Wrapper, cmd.Argv = cmd.Argv[:k], cmd.Argv[k:]
		cmd.At = func(i int) *field.Path { return prev(i + k) }
		return cmd
	}
	return cmd
}

// runsV2Subcommand reports whether argv's first positional argument, as
// cobra finds it (skipping flags and the values of flags that take one),
// names a subcommand.
func runsV2Subcommand(argv []string) bool {
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		if a == "--" {
			return false
		}
		if len(a) < 2 || a[0] != '-' {
			for _, s := range v2Subcommands {
				if a == s {
					return true
				}
			}
			return false
		}
		if strings.Contains(a, "=") {
			continue
		}
		name := strings.TrimLeft(a, "-")
		f, ok := lookupV2Flag(name)
		if !ok && len(name) == 1 {
			f, ok = lookupV2Short(name[0])
		}
		if ok && f.value {
			i++
		}
	}
	return false
}
