package proxycmd

import (
	"path"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

var shells = map[string]bool{"sh": true, "ash": true, "bash": true, "dash": true, "ksh": true, "zsh": true}

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
