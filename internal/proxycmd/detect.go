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

// The proxies' executables: v1 images put it at /cloud_sql_proxy and set no
// ENTRYPOINT (cloudsql-proxy v1.38.5 Dockerfile, Dockerfile.alpine); v2
// images at /cloud-sql-proxy with ENTRYPOINT ["/cloud-sql-proxy"]
// (cloud-sql-proxy v2.25.3 Dockerfile, Dockerfile.alpine).
const (
	// V1Binary is v1's executable name.
	V1Binary = "cloud_sql_proxy"
	// V2Binary is v2's executable name.
	V2Binary = "cloud-sql-proxy"
	// V2Entrypoint is v2 images' ENTRYPOINT, which runs when a container
	// gives no command.
	V2Entrypoint = "/cloud-sql-proxy"
)

func binaryGen(argv0 string) Generation {
	switch path.Base(argv0) {
	case V1Binary:
		return V1
	case V2Binary:
		return V2
	}
	return None
}

// ImageGeneration reads the generation from an image reference's last path
// element, so that every registry and mirror matches (gcr.io, us., eu. and
// asia.gcr.io, Artifact Registry, a private registry with a port), with any
// tag, variant or digest: v2 images are .../cloud-sql-connectors/cloud-sql-proxy,
// v1 images .../cloudsql-docker/gce-proxy. The repository's other
// elements are not checked because mirrors rename them.
func ImageGeneration(image string) Generation {
	repo, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo = repo[:i]
	}
	switch strings.ToLower(repo[strings.LastIndexByte(repo, '/')+1:]) {
	case "cloud-sql-proxy":
		return V2
	case "gce-proxy":
		return V1
	}
	return None
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
}

// inits are programs that run their arguments as a command.
var inits = map[string]bool{"tini": true, "dumb-init": true, "catatonit": true}

var shells = map[string]bool{"sh": true, "ash": true, "bash": true, "dash": true, "ksh": true, "zsh": true}

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

// isShell reports whether argv starts a shell, directly or as busybox.
func isShell(argv []string) bool {
	b := path.Base(argv[0])
	if b == "busybox" && len(argv) > 1 {
		b = path.Base(argv[1])
	}
	return shells[b]
}

// shellCommand finds the proxy in `sh [options] -c script [name [args]]`.
func shellCommand(cmd Command, imageGen Generation) Command {
	i := 1
	if path.Base(cmd.Argv[0]) == "busybox" {
		i = 2
	}
	hasC := false
	for ; i < len(cmd.Argv); i++ {
		a := cmd.Argv[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' && a[0] != '+' {
			break
		}
		if a == "-o" || a == "+o" {
			i++
			continue
		}
		if a[0] == '-' && strings.ContainsRune(a[1:], 'c') {
			hasC = true
		}
	}
	if !hasC || i >= len(cmd.Argv) {
		// A script file, or an interactive shell: nothing to read. On a
		// proxy image it most likely starts the proxy, which Attach must
		// not double and FromContainer cannot read.
		if imageGen == None {
			return Command{}
		}
		gen := V2Shell
		if imageGen == V1 {
			gen = V1Shell
		}
		return Command{Gen: gen, Errs: field.ErrorList{field.Invalid(cmd.At(0), cmd.Argv[0],
			"the proxy image runs a shell script file, whose command cannot be read: write the proxy's command in the container")}}
	}
	script, scriptPath := cmd.Argv[i], cmd.At(i)
	toks, err := lexShell(script)
	if err != "" {
		return Command{}
	}
	bin := commandWord(toks)
	switch binaryGen(bin) {
	case V1:
		cmd.Gen = V1Shell
	case V2:
		cmd.Gen = V2Shell
	default:
		return Command{}
	}
	cmd.At = func(int) *field.Path { return scriptPath }
	cmd.Argv, cmd.Errs = scriptArgv(toks, scriptPath)
	if cmd.Gen == V2Shell && cmd.Argv != nil && runsV2Subcommand(cmd.Argv) {
		return Command{}
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

// shToken is a word or an operator of a shell command string.
type shToken struct {
	// op is the control or redirection operator ("&&", ";", "\n", ">", "(",
	// ...); empty for a word.
	op string
	// word is the word after quote removal.
	word string
	// expands is the first expansion character ($, `, or ~ at the start)
	// the shell would act on in the word; empty when there is none.
	expands string
}

// lexShell splits a POSIX shell command string into words and operators:
// blanks separate words; single quotes, double quotes and backslashes quote;
// a backslash-newline joins lines; # at the start of a word comments to the
// end of the line. It does not expand anything: it records where the shell
// would. The error is set only for an unterminated quote.
func lexShell(s string) (toks []shToken, err string) {
	var word strings.Builder
	inWord := false
	expands := ""
	mark := func(c string) {
		if expands == "" {
			expands = c
		}
	}
	flush := func() {
		if inWord {
			toks = append(toks, shToken{word: word.String(), expands: expands})
		}
		word.Reset()
		inWord, expands = false, ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			flush()
		case c == '\\':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
				continue
			}
			inWord = true
			if i+1 < len(s) {
				i++
			}
			word.WriteByte(s[i])
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return toks, "unterminated single quote"
			}
			inWord = true
			word.WriteString(s[i+1 : i+1+end])
			i += 1 + end
		case c == '"':
			inWord = true
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				switch s[i] {
				case '\\':
					if i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
						i++
						if s[i] == '\n' {
							continue
						}
					}
				case '$', '`':
					mark(string(s[i]))
				}
				word.WriteByte(s[i])
			}
			if i >= len(s) {
				return toks, "unterminated double quote"
			}
		case c == '#' && !inWord:
			for i+1 < len(s) && s[i+1] != '\n' {
				i++
			}
		case strings.IndexByte(";&|()<>\n", c) >= 0:
			flush()
			op := string(c)
			if i+1 < len(s) {
				switch two := s[i : i+2]; two {
				case "&&", "||", ";;", ">>", "<<", ">&", "<&", ">|", "<>":
					op = two
					i++
				}
			}
			toks = append(toks, shToken{op: op})
		default:
			if c == '$' || c == '`' || c == '~' && !inWord {
				mark(string(c))
			}
			inWord = true
			word.WriteByte(c)
		}
	}
	flush()
	return toks, ""
}

// redirections are the operators whose next word is a file, not a command.
var redirections = map[string]bool{">": true, "<": true, ">>": true, "<<": true, ">&": true, "<&": true, ">|": true, "<>": true}

// commandPrefixes are words after which the next word is still in command
// position: reserved words and commands that run their arguments.
var commandPrefixes = map[string]bool{
	"!": true, "{": true, "if": true, "then": true, "else": true, "elif": true, "do": true,
	"while": true, "until": true, "exec": true, "nohup": true, "time": true, "command": true, "env": true,
}

// commandWord returns the first word in command position that runs a proxy
// binary, else "". Only command positions count, so that `echo
// cloud-sql-proxy` or `app --proxy=/cloud_sql_proxy` is not a proxy. A
// word with an expansion counts by its base name ($DIR/cloud_sql_proxy is
// the proxy; scriptArgv then refuses to read its flags).
func commandWord(toks []shToken) string {
	cmdPos, redirect := true, false
	for _, t := range toks {
		switch {
		case t.op != "":
			if redirections[t.op] {
				redirect = true
			} else {
				cmdPos = true
			}
		case redirect:
			redirect = false
		case !cmdPos:
		case commandPrefixes[t.word] || isAssignment(t.word):
		default:
			if binaryGen(t.word) != None {
				return t.word
			}
			cmdPos = false
		}
	}
	return ""
}

// isAssignment reports whether w is NAME=value, which the shell reads as an
// environment assignment before a command.
func isAssignment(w string) bool {
	name, _, ok := strings.Cut(w, "=")
	if !ok || name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for _, c := range name {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// scriptArgv takes a script's words as one command's argv: an optional exec,
// then the binary and its arguments, nothing the shell would expand and no
// operator (trailing newlines aside). Anything else is an error naming it:
// the proxy's flags would depend on what the shell does at run time.
func scriptArgv(toks []shToken, p *field.Path) ([]string, field.ErrorList) {
	for len(toks) > 0 && toks[len(toks)-1].op == "\n" {
		toks = toks[:len(toks)-1]
	}
	var errs field.ErrorList
	seen := map[string]bool{}
	refuse := func(value, why string) {
		// Each operator or word once: a script of many commands would
		// otherwise bury the reason under repeats.
		if !seen[value] {
			seen[value] = true
			errs = append(errs, field.Invalid(p, value, why))
		}
	}
	var argv []string
	for _, t := range toks {
		switch {
		case t.op == "\n":
			refuse("newline", "the script runs more than one command: only a single command can be read")
		case t.op != "":
			refuse(t.op, "shell operator: only a single command without operators can be read")
		case t.expands != "":
			refuse(t.word, "the shell expands "+t.expands+" in it at run time: write the value out")
		case len(argv) == 0 && t.word == "exec":
		case len(argv) == 0 && isAssignment(t.word):
			refuse(t.word, "environment assignment before the command: set it in the container's env instead")
		default:
			argv = append(argv, t.word)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return argv, nil
}
