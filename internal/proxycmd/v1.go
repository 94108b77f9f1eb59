package proxycmd

import (
	"net"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// v1Type is how Go's flag package reads a v1 flag.
type v1Type int

const (
	v1Bool     v1Type = iota // -f, -f=true, -f=false; never a separate value
	v1String                 // -f=v, -f v
	v1Duration               // time.ParseDuration
	v1Uint                   // strconv.ParseUint(v, 0, 64): 0x and leading-0 octal too
	v1List                   // -instances: comma-separated, repeatable, appending
)

// v1Flags are the flags of cloud_sql_proxy v1.38.5, the last v1 release
// (cmd/cloud_sql_proxy/cloud_sql_proxy.go in
// github.com/GoogleCloudPlatform/cloudsql-proxy: the flag.* variables and the
// -instances flag.Var in runProxy). Earlier 1.x releases had a subset.
var v1Flags = map[string]v1Type{
	"check_region":                v1Bool,
	"credential_file":             v1String,
	"dir":                         v1String,
	"enable_iam_login":            v1Bool,
	"fd_rlimit":                   v1Uint,
	"fuse":                        v1Bool,
	"fuse_tmp":                    v1String,
	"health_check_port":           v1String,
	"host":                        v1String,
	"instances":                   v1List,
	"instances_metadata":          v1String,
	"ip_address_types":            v1String,
	"log_debug_stdout":            v1Bool,
	"login_token":                 v1String,
	"max_connections":             v1Uint,
	"projects":                    v1String,
	"quiet":                       v1Bool,
	"quota_project":               v1String,
	"refresh_config_throttle":     v1Duration,
	"skip_failed_instance_config": v1Bool,
	"structured_logs":             v1Bool,
	"term_timeout":                v1Duration,
	"token":                       v1String,
	"use_http_health_check":       v1Bool,
	"verbose":                     v1Bool,
	"version":                     v1Bool,
}

// v1Translation says what translateV1 does with one v1 flag: the v2 flags it
// becomes, or, when it becomes nothing, why v2 behaves the same without it
// (dropped) or why no v2 setting can stand for it (refused: an error). It
// follows upstream's migration-guide.md (cloud-sql-proxy v2.25.3), checked
// against the v1.38.5 and v2.25.3 sources where the guide is silent or
// wrong (it calls fuse_tmp's successor fuse-temp-dir; the flag is
// fuse-tmp-dir). A flag left at its v1 default becomes nothing.
type v1Translation struct {
	flag, v2, dropped, refused string
}

var v1Translations = []v1Translation{
	{flag: "instances", v2: "positional instances in order: =tcp:PORT -> ?port=PORT; =tcp:HOST:PORT -> ?address=HOST&port=PORT " +
		"(localhost -> 127.0.0.1, the address v1 bound; an empty host -> 0.0.0.0); =tcp6:PORT -> ?address=::1&port=PORT; " +
		"=unix:/PATH -> ?unix-socket-path=/PATH; =unix:NAME -> ?unix-socket-path=DIR/NAME; no =... -> a socket in -dir"},
	{flag: "dir", v2: "--unix-socket=DIR when every instance has its socket in DIR, else ?unix-socket=DIR on those that do; --fuse=DIR with -fuse",
		dropped: "when no instance has a socket in it and -fuse is off: v1 reads it for nothing else"},
	{flag: "credential_file", v2: "--credentials-file"},
	{flag: "token", v2: "--token",
		dropped: "beside -credential_file: v1 authenticated with the file and never read the token (authenticatedClient); v2 refuses both together",
		refused: "with -enable_iam_login but no -login_token: v1 exits at start"},
	{flag: "login_token", v2: "--login-token",
		dropped: "beside -credential_file, which v1 used instead",
		refused: "without both -token and -enable_iam_login: v1 exits at start"},
	{flag: "enable_iam_login", v2: "--auto-iam-authn"},
	{flag: "ip_address_types", v2: "PUBLIC (or PRIMARY) -> nothing (v2's default); PRIVATE -> --private-ip; PUBLIC,PRIVATE (v1's default, also when " +
		"the flag is absent) -> --auto-ip (public if the instance has one, else private: v1's order)",
		refused: "PRIVATE,PUBLIC, and any other list: v2 cannot prefer private and fall back to public"},
	{flag: "term_timeout", v2: "--max-sigterm-delay"},
	{flag: "max_connections", v2: "--max-connections"},
	{flag: "structured_logs", v2: "--structured-logs"},
	{flag: "quiet", v2: "--quiet (v1's hid errors too; v2's keeps them)"},
	{flag: "verbose", v2: "=false -> --quiet: v2 has no switch for the connection messages alone; --quiet also hides the startup messages v1 kept",
		dropped: "=true: v1's default, and v2 logs connections too"},
	{flag: "log_debug_stdout", dropped: "v2 always writes informational messages to stdout and errors to stderr"},
	{flag: "use_http_health_check", v2: "--health-check --http-address=0.0.0.0 --http-port=PORT (v1's health server bound all interfaces on -health_check_port, default 8090; v2's binds localhost:9090)"},
	{flag: "health_check_port", v2: "--http-port, with -use_http_health_check",
		dropped: "without -use_http_health_check: v1 reads it for nothing else"},
	{flag: "skip_failed_instance_config", v2: "--skip-failed-instance-config"},
	{flag: "host", v2: "--sqladmin-api-endpoint", refused: "without a trailing /: v1 exits at start"},
	{flag: "quota_project", v2: "--quota-project"},
	{flag: "fuse", v2: "--fuse=DIR (DIR from -dir)", refused: "without -dir, or with instances: v1 exits at start"},
	{flag: "fuse_tmp", v2: "--fuse-tmp-dir, with -fuse", dropped: "without -fuse: v1 reads it for nothing else"},
	{flag: "check_region", dropped: "v2 always checks a connection name's region against the instance's (cloudsqlconn: \"provided region was mismatched\"); " +
		"at v1's default (false) a wrong region was tolerated, which v2 refuses when a client connects and no flag restores"},
	{flag: "fd_rlimit", dropped: "v1 raised its open-file soft limit to this (default 8500), within the hard limit unless privileged; v2, a Go 1.19+ binary, raises its soft limit to the hard limit at start (package os)"},
	{flag: "refresh_config_throttle", dropped: "v2's connector (cloudsqlconn v1.25.1) rate-limits refreshes itself, one per 30s per instance with a burst of 2; the guide lists no successor"},
	{flag: "projects", refused: "v2 serves only instances it is given (migration guide: no successor)"},
	{flag: "instances_metadata", refused: "v2 cannot read instances from the metadata server (migration guide: no successor)"},
	{flag: "version", refused: "v1 prints its version and exits: no proxy runs"},
}

// TranslateV1 turns the command line of a v1 proxy (the binary first, then
// its flags) into the arguments of the equivalent v2 proxy: flags sorted by
// name (--name=value, or --name for a boolean), then the instances in their v1 order,
// each with its listener in query parameters. Every setting that v2 cannot
// reproduce is an error naming the argument and its value; v1Translations
// lists what is dropped and why. v1 parsed with Go's flag package, so -f and
// --f are the same flag, a boolean takes no separate value, a non-boolean
// takes the next argument even when it starts with a dash, and parsing stops
// at the first argument that is not a flag.
//
// v1 exits 0 on SIGTERM once its connections have closed (runProxy's
// shutdown channel is closed, not sent to); v2 exits 143 unless told
// otherwise, so the translation always carries --exit-zero-on-sigterm.
func TranslateV1(argv []string) (v2 []string, errs field.ErrorList) {
	p := field.NewPath("argv")
	v2, _, errs = translateV1AtPaths(argv, func(i int) *field.Path { return p.Index(i) }, nil)
	return v2, errs
}

// TranslateV1Container is TranslateV1 for the v1 proxy c runs (directly,
// under an init, or as the single command of a shell script); fld is c's
// path. v1 reads the INSTANCES env var when no -instances flag names one.
// from gives, for each v2 argument, the field of c it was translated from,
// so that a later complaint about the translation names what the user
// wrote.
func TranslateV1Container(fld *field.Path, c *corev1.Container) (v2 []string, from []*field.Path, errs field.ErrorList) {
	cmd := Read(fld, c)
	if cmd.Gen != V1 && cmd.Gen != V1Shell {
		return nil, nil, field.ErrorList{field.Invalid(fld.Child("image"), c.Image, "the container does not run cloud_sql_proxy v1 (found: "+cmd.Gen.String()+")")}
	}
	if len(cmd.Errs) > 0 {
		return nil, nil, cmd.Errs
	}
	if len(cmd.Argv) == 0 {
		return nil, nil, field.ErrorList{field.Required(fld.Child("command"), "the "+c.Image+" image has no ENTRYPOINT: the command must run /"+V1Binary)}
	}
	if path.Base(cmd.Argv[0]) != V1Binary {
		return nil, nil, field.ErrorList{field.Invalid(cmd.At(0), cmd.Argv[0], "runs this instead of "+V1Binary+": the proxy's flags cannot be read from it")}
	}
	var env *Setting
	for j, e := range c.Env {
		if e.Name != "INSTANCES" {
			continue
		}
		switch {
		case e.ValueFrom != nil:
			env = &Setting{Name: e.Name, Path: fld.Child("env").Index(j).Child("valueFrom"), From: e.ValueFrom}
		case e.Value != "":
			env = &Setting{Name: e.Name, Value: e.Value, Path: fld.Child("env").Index(j).Child("value")}
		default:
			env = nil
		}
	}
	return translateV1AtPaths(cmd.Argv, cmd.At, env)
}

// v1Arg is one value v1 read: a flag's value or an -instances entry, with
// the field it came from.
type v1Arg struct {
	value string
	path  *field.Path
}

// translateV1AtPaths is TranslateV1 with the paths of argv's elements given
// by at; it also returns, for each v2 argument, the path of the v1 argument
// it was translated from.
func translateV1AtPaths(argv []string, at func(int) *field.Path, envInstances *Setting) (v2 []string, from []*field.Path, errs field.ErrorList) {
	vals, insts, errs := parseV1(argv, at)
	if len(insts) == 0 && envInstances != nil {
		if envInstances.From != nil {
			errs = append(errs, field.Invalid(envInstances.Path, "", "v1 reads its instances from INSTANCES, whose value is not in the pod spec: write them in -instances"))
		} else {
			for _, e := range strings.Split(envInstances.Value, ",") {
				insts = append(insts, v1Arg{value: e, path: envInstances.Path})
			}
		}
	}
	t := &v1Translator{vals: vals, errs: errs, out: map[string]string{"exit-zero-on-sigterm": ""}, src: map[string]*field.Path{}}
	if len(argv) > 0 {
		t.binary = at(0)
		t.src["exit-zero-on-sigterm"] = t.binary // v1 itself exited 0
	}
	dir, hasDir := t.str("dir")
	t.fuse(dir, hasDir, len(insts) > 0)
	instArgs, instFrom := t.instances(insts, dir, hasDir, envInstances != nil && envInstances.From != nil)
	t.credentials()
	t.renames()
	t.host()
	t.verbose()
	t.ipAddressTypes()
	t.healthCheck()
	t.unsupported()
	if len(t.errs) > 0 {
		return nil, nil, t.errs
	}
	v2, from = t.flags()
	return append(v2, instArgs...), append(from, instFrom...), nil
}

// parseV1 reads argv as v1's flag.Parse did: each flag's value by name (the
// last occurrence wins) and the -instances entries in order.
func parseV1(argv []string, at func(int) *field.Path) (vals map[string]v1Arg, insts []v1Arg, errs field.ErrorList) {
	vals = map[string]v1Arg{}
	for i := 1; i < len(argv); i++ {
		s := argv[i]
		if len(s) < 2 || s[0] != '-' || s == "--" {
			rest := i
			if s == "--" {
				rest++
			}
			if rest < len(argv) {
				errs = append(errs, field.Invalid(at(rest), argv[rest], "v1 stops reading flags at the first argument that is not one and ignores it and everything after it: remove them or make them flags"))
			}
			break
		}
		var (
			name string
			a    v1Arg
			err  *field.Error
		)
		name, a, i, err = parseV1Flag(argv, i, at)
		switch {
		case err != nil:
			errs = append(errs, err)
		case v1Flags[name] != v1List:
			vals[name] = a
		case a.value != "":
			for _, e := range strings.Split(a.value, ",") {
				insts = append(insts, v1Arg{value: e, path: a.path})
			}
		}
	}
	return vals, insts, errs
}

// parseV1Flag reads the flag at argv[i], and its value from the next
// argument when it takes one written apart; next is the index of the last
// argument read.
func parseV1Flag(argv []string, i int, at func(int) *field.Path) (name string, a v1Arg, next int, err *field.Error) {
	s := argv[i]
	bad := func(i int, value, why string) (string, v1Arg, int, *field.Error) {
		return "", v1Arg{}, i, field.Invalid(at(i), value, why)
	}
	body := strings.TrimPrefix(s[1:], "-")
	if body == "" || body[0] == '-' || body[0] == '=' {
		return bad(i, s, "bad flag syntax: v1 exits at start")
	}
	name, value, hasValue := strings.Cut(body, "=")
	typ, ok := v1Flags[name]
	switch {
	case !ok && (name == "help" || name == "h"):
		return bad(i, s, "v1 prints its usage and exits: no proxy runs")
	case !ok:
		return bad(i, s, "flag provided but not defined in v1.38.5: v1 exits at start")
	case typ == v1Bool && !hasValue:
		value = "true"
	case typ == v1Bool:
		if _, err := strconv.ParseBool(value); err != nil {
			return bad(i, s, "-"+name+" is a boolean: true or false (v1 exits at start)")
		}
	case !hasValue && i+1 >= len(argv):
		return bad(i, s, "-"+name+" needs a value (v1 exits at start)")
	case !hasValue:
		i++
		value = argv[i]
	}
	switch typ {
	case v1Duration:
		if _, err := time.ParseDuration(value); err != nil {
			return bad(i, value, "-"+name+" must be a duration such as 30s (v1 exits at start)")
		}
	case v1Uint:
		if _, err := strconv.ParseUint(value, 0, 64); err != nil {
			return bad(i, value, "-"+name+" must be a non-negative integer (v1 exits at start)")
		}
	}
	return name, v1Arg{value: value, path: at(i)}, i, nil
}

// v1Translator writes the v2 flags for v1 flags read by parseV1: out maps
// each v2 flag to its value ("" for a switch), src to the v1 argument it
// came from.
type v1Translator struct {
	vals   map[string]v1Arg
	errs   field.ErrorList
	out    map[string]string
	src    map[string]*field.Path
	binary *field.Path // argv[0]'s path; nil for an empty argv
}

func (t *v1Translator) on(name string) bool {
	b, _ := strconv.ParseBool(t.vals[name].value)
	return b
}

func (t *v1Translator) str(name string) (string, bool) {
	a, ok := t.vals[name]
	return a.value, ok && a.value != ""
}

func (t *v1Translator) refuse(name, why string) {
	a := t.vals[name]
	t.errs = append(t.errs, field.Invalid(a.path, a.value, "-"+name+": "+why))
}

func (t *v1Translator) put(v2, value, v1 string) {
	t.out[v2], t.src[v2] = value, t.vals[v1].path
}

// fuse translates -fuse, which needs -dir and no instances.
func (t *v1Translator) fuse(dir string, hasDir, hasInstances bool) {
	if !t.on("fuse") {
		return
	}
	switch {
	case !hasDir:
		t.refuse("fuse", "v1 needs -dir to mount FUSE on (it exits at start)")
	case hasInstances:
		t.refuse("fuse", "v1 refuses -instances with -fuse (it exits at start)")
	default:
		t.put("fuse", dir, "fuse")
		if tmp, ok := t.str("fuse_tmp"); ok {
			t.put("fuse-tmp-dir", tmp, "fuse_tmp")
		}
	}
}

// instances translates the instances into v2 arguments, and -dir into
// --unix-socket when every instance has its socket there (else into
// ?unix-socket= on those that do). envFrom says that INSTANCES names them
// from outside the pod spec, already reported.
func (t *v1Translator) instances(insts []v1Arg, dir string, hasDir, envFrom bool) (args []string, from []*field.Path) {
	type v2Inst struct {
		v1Instance
		path *field.Path
	}
	var out []v2Inst
	allInDir := true
	named := 0
	for _, a := range insts {
		if a.value == "" {
			continue // v1 skips empty entries ("a,,b", a trailing comma)
		}
		named++
		in, ok := translateV1Instance(a, dir, hasDir, &t.errs)
		if !ok {
			continue
		}
		out = append(out, v2Inst{in, a.path})
		allInDir = allInDir && in.inDir
	}
	_, hasProjects := t.str("projects")
	_, hasMetadata := t.str("instances_metadata")
	if named == 0 && !t.on("fuse") && !hasProjects && !hasMetadata && !envFrom {
		p := t.binary
		if p == nil {
			p = field.NewPath("argv")
		}
		why := "no -instances: v1 would serve every instance of gcloud's active project, which v2 cannot; name the instances"
		if len(insts) > 0 {
			// -instances=, : v1 skips the empty names and serves nothing.
			why = "-instances names no instance: v1 served nothing, and v2 needs at least one"
		}
		t.errs = append(t.errs, field.Required(p, why))
	}
	for _, in := range out {
		params := in.params
		if in.inDir && !allInDir {
			params = append([]string{"unix-socket=" + queryEscape(dir)}, params...)
		}
		arg := in.name
		if len(params) > 0 {
			arg += "?" + strings.Join(params, "&")
		}
		args = append(args, arg)
		from = append(from, in.path)
	}
	if len(out) > 0 && allInDir {
		t.put("unix-socket", dir, "dir")
	}
	return args, from
}

// credentials translates authentication as v1's authenticatedClient chose
// it: the key file first, ignoring any token.
func (t *v1Translator) credentials() {
	if v, ok := t.str("credential_file"); ok {
		t.put("credentials-file", v, "credential_file")
		return
	}
	tok, hasTok := t.str("token")
	login, hasLogin := t.str("login_token")
	switch {
	case hasLogin && (!hasTok || !t.on("enable_iam_login")):
		t.refuse("login_token", "v1 exits at start unless -token and -enable_iam_login are given too")
	case hasTok && t.on("enable_iam_login") && !hasLogin:
		t.refuse("token", "with -enable_iam_login v1 exits at start unless -login_token is given too")
	}
	if hasTok {
		t.put("token", tok, "token")
	}
	if hasLogin {
		t.put("login-token", login, "login_token")
	}
}

// v1Renames are the v1 flags that become one v2 flag each: a switch, on
// when the v1 switch is, or the value, as value converts it. A value that
// converts to nothing (zero, v1's "no limit") becomes no flag.
var v1Renames = []struct {
	v1, v2 string
	value  func(string) (string, bool) // nil for a switch
}{
	{"quota_project", "quota-project", func(v string) (string, bool) { return v, true }},
	{"enable_iam_login", "auto-iam-authn", nil},
	{"skip_failed_instance_config", "skip-failed-instance-config", nil},
	{"structured_logs", "structured-logs", nil},
	{"quiet", "quiet", nil},
	{"term_timeout", "max-sigterm-delay", func(v string) (string, bool) {
		d, _ := time.ParseDuration(v)
		return d.String(), d > 0
	}},
	{"max_connections", "max-connections", func(v string) (string, bool) {
		n, _ := strconv.ParseUint(v, 0, 64)
		return strconv.FormatUint(n, 10), n > 0
	}},
}

// renames translates the flags v1Renames lists.
func (t *v1Translator) renames() {
	for _, r := range v1Renames {
		if r.value == nil {
			if t.on(r.v1) {
				t.put(r.v2, "", r.v1)
			}
			continue
		}
		if v, ok := t.str(r.v1); ok {
			if v, ok = r.value(v); ok {
				t.put(r.v2, v, r.v1)
			}
		}
	}
}

// host translates -host, which v1 takes only with a trailing slash.
func (t *v1Translator) host() {
	if v, ok := t.str("host"); ok {
		if !strings.HasSuffix(v, "/") {
			t.refuse("host", "v1 exits at start unless the endpoint ends with /")
		} else {
			t.put("sqladmin-api-endpoint", v, "host")
		}
	}
}

// verbose translates -verbose=false, which hid the connection messages, to
// --quiet, the nearest v2 has.
func (t *v1Translator) verbose() {
	if _, ok := t.vals["verbose"]; ok && !t.on("verbose") {
		t.put("quiet", "", "verbose")
	}
}

// ipAddressTypes translates -ip_address_types into v2's IP switches.
func (t *v1Translator) ipAddressTypes() {
	a, ok := t.vals["ip_address_types"]
	if !ok {
		// v1's default was PUBLIC,PRIVATE: public IP, else private. Read
		// as public only (v2's default), a private-only instance would
		// stop working.
		t.out["auto-ip"], t.src["auto-ip"] = "", t.binary
		return
	}
	switch ipTypes(a.value) {
	case "PUBLIC":
	case "PRIVATE":
		t.put("private-ip", "", "ip_address_types")
	case "PUBLIC,PRIVATE":
		t.put("auto-ip", "", "ip_address_types")
	case "PRIVATE,PUBLIC":
		t.refuse("ip_address_types", "v2 cannot prefer private IP and fall back to public: choose --private-ip (private only) or --auto-ip (public first)")
	default:
		t.refuse("ip_address_types", "must be a list of PUBLIC (or PRIMARY) and PRIVATE; v1 could not connect with anything else")
	}
}

// healthCheck translates v1's health server, which listened on every
// interface, on -health_check_port (8090 by default).
func (t *v1Translator) healthCheck() {
	if !t.on("use_http_health_check") {
		return
	}
	port := "8090"
	if v, ok := t.str("health_check_port"); ok {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 65535 {
			t.refuse("health_check_port", "must be a port number between 1 and 65535")
		}
		port = v
	}
	t.put("health-check", "", "use_http_health_check")
	t.put("http-address", "0.0.0.0", "use_http_health_check")
	t.put("http-port", port, "use_http_health_check")
	if a, ok := t.vals["health_check_port"]; ok {
		t.src["http-port"] = a.path
	}
}

// unsupported refuses the flags no v2 setting can stand for.
func (t *v1Translator) unsupported() {
	if _, ok := t.str("projects"); ok {
		t.refuse("projects", "v2 serves only the instances it is given: list them in -instances")
	}
	if _, ok := t.str("instances_metadata"); ok {
		t.refuse("instances_metadata", "v2 cannot read instances from the metadata server: list them in -instances")
	}
	if t.on("version") {
		t.refuse("version", "v1 prints its version and exits: no proxy runs")
	}
}

// flags gives the v2 flags, sorted by name, with where each came from.
func (t *v1Translator) flags() (v2 []string, from []*field.Path) {
	names := make([]string, 0, len(t.out))
	for k := range t.out {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if v := t.out[k]; v == "" {
			v2 = append(v2, "--"+k)
		} else {
			v2 = append(v2, "--"+k+"="+v)
		}
		from = append(from, t.src[k])
	}
	return v2, from
}

// ipTypes normalises an -ip_address_types list as v1 matched it: case
// insensitively, PRIMARY and PUBLIC the same, a repeated type adding
// nothing.
func ipTypes(list string) string {
	var seen []string
	for _, t := range strings.Split(list, ",") {
		t = strings.ToUpper(strings.TrimSpace(t))
		if t == "PRIMARY" {
			t = "PUBLIC"
		}
		if t != "PUBLIC" && t != "PRIVATE" {
			return "?"
		}
		dup := false
		for _, s := range seen {
			dup = dup || s == t
		}
		if !dup {
			seen = append(seen, t)
		}
	}
	return strings.Join(seen, ",")
}

type v1Instance struct {
	name   string
	params []string
	inDir  bool
}

// translateV1Instance reads one -instances entry, NAME[=NETWORK:ADDRESS], as
// v1's parseInstanceConfig did.
func translateV1Instance(a v1Arg, dir string, hasDir bool, errs *field.ErrorList) (v1Instance, bool) {
	fail := func(why string) (v1Instance, bool) {
		*errs = append(*errs, field.Invalid(a.path, a.value, "instance "+a.value+": "+why))
		return v1Instance{}, false
	}
	parts := strings.Split(a.value, "=")
	if len(parts) > 2 {
		return fail("more than one = (v1 exits at start)")
	}
	name := parts[0]
	if strings.HasPrefix(name, "-") {
		// v2 reads an argument that starts with a dash as a flag, and no
		// connection name starts with one (found by FuzzTranslateV1).
		return fail("a connection name cannot start with '-' (v2 would read it as a flag)")
	}
	if !strings.Contains(name, "$(") {
		segs := strings.Split(name, ":")
		ok := len(segs) == 3 || len(segs) == 4
		for _, s := range segs {
			ok = ok && s != ""
		}
		if !ok {
			return fail("the connection name must be project:region:instance (v1 exits at start)")
		}
	}
	in := v1Instance{name: name}
	if len(parts) == 1 {
		if !hasDir {
			return fail("a Unix socket needs -dir (v1 exits at start)")
		}
		if strings.Contains(name, "$(") {
			return fail("an env var reference may hold =tcp:PORT too, so its listener cannot be known: write the instance out")
		}
		in.inDir = true
		return in, true
	}
	network, addr, ok := strings.Cut(parts[1], ":")
	if !ok {
		return fail("the listener must be tcp:PORT, tcp:HOST:PORT or unix:PATH (v1 exits at start)")
	}
	if strings.Contains(addr, "$(") {
		return fail("the listener comes from an env var reference, which cannot be known: write it out")
	}
	switch network {
	case "unix":
		p := addr
		if !strings.HasPrefix(addr, "/") {
			if !hasDir {
				return fail("a relative socket path needs -dir (v1 exits at start)")
			}
			p = path.Join(dir, addr)
		}
		if addr == "" {
			return fail("the socket path is empty")
		}
		in.params = []string{"unix-socket-path=" + queryEscape(p)}
	case "tcp", "tcp4", "tcp6":
		host, port := "", addr
		if strings.Contains(addr, ":") {
			h, p, err := net.SplitHostPort(addr)
			if err != nil {
				return fail("the address must be HOST:PORT: " + err.Error())
			}
			host, port = h, p
			switch {
			case host == "":
				// net.Listen with no host binds every interface.
				host = "0.0.0.0"
			case host == "localhost":
				// v1's net.Listen bound one address of localhost, the IPv4
				// one when there is one; v2 takes only IP addresses.
				host = "127.0.0.1"
				if network == "tcp6" {
					host = "::1"
				}
			case net.ParseIP(host) == nil:
				return fail("v2 listens only on an IP address, not on the name " + host)
			}
		} else if network == "tcp6" {
			host = "::1"
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return fail("the port must be a number between 1 and 65535")
		}
		if host != "" && host != "127.0.0.1" {
			in.params = append(in.params, "address="+queryEscape(host))
		}
		in.params = append(in.params, "port="+port)
	default:
		return fail("network " + network + " is not tcp or unix (v1 exits at start)")
	}
	return in, true
}

// queryEscape escapes what url.ParseQuery, which v2 reads instance
// parameters with, would otherwise split on or decode; paths keep their
// slashes readable.
func queryEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("%&+;#=?", c) >= 0 {
			b.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(c)|0x100, 16)[1:]))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
