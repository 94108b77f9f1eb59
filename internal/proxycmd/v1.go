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
	{flag: "ip_address_types", v2: "PUBLIC (or PRIMARY) -> nothing (v2's default); PRIVATE -> --private-ip; PUBLIC,PRIVATE -> --auto-ip " +
		"(public if the instance has one, else private: v1's order)",
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

type v1Arg struct {
	value string
	path  *field.Path
}

// translateV1AtPaths is TranslateV1 with the paths of argv's elements given
// by at; it also returns, for each v2 argument, the path of the v1 argument
// it was translated from.
func translateV1AtPaths(argv []string, at func(int) *field.Path, envInstances *Setting) (v2 []string, from []*field.Path, errs field.ErrorList) {
	vals := map[string]v1Arg{}
	var insts []v1Arg
	bad := func(i int, value, why string) { errs = append(errs, field.Invalid(at(i), value, why)) }

	// Parse as flag.Parse did.
	for i := 1; i < len(argv); i++ {
		s := argv[i]
		if len(s) < 2 || s[0] != '-' || s == "--" {
			rest := i
			if s == "--" {
				rest++
			}
			if rest < len(argv) {
				bad(rest, argv[rest], "v1 stops reading flags at the first argument that is not one and ignores it and everything after it: remove them or make them flags")
			}
			break
		}
		body := s[1:]
		if body[0] == '-' {
			body = body[1:]
		}
		if body == "" || body[0] == '-' || body[0] == '=' {
			bad(i, s, "bad flag syntax: v1 exits at start")
			continue
		}
		name, value, hasValue := strings.Cut(body, "=")
		typ, ok := v1Flags[name]
		if !ok {
			if name == "help" || name == "h" {
				bad(i, s, "v1 prints its usage and exits: no proxy runs")
			} else {
				bad(i, s, "flag provided but not defined in v1.38.5: v1 exits at start")
			}
			continue
		}
		if typ == v1Bool {
			if !hasValue {
				value = "true"
			} else if _, err := strconv.ParseBool(value); err != nil {
				bad(i, s, "-"+name+" is a boolean: true or false (v1 exits at start)")
				continue
			}
		} else if !hasValue {
			if i+1 >= len(argv) {
				bad(i, s, "-"+name+" needs a value (v1 exits at start)")
				continue
			}
			i++
			value = argv[i]
		}
		a := v1Arg{value: value, path: at(i)}
		switch typ {
		case v1Duration:
			if _, err := time.ParseDuration(value); err != nil {
				bad(i, value, "-"+name+" must be a duration such as 30s (v1 exits at start)")
				continue
			}
		case v1Uint:
			if _, err := strconv.ParseUint(value, 0, 64); err != nil {
				bad(i, value, "-"+name+" must be a non-negative integer (v1 exits at start)")
				continue
			}
		case v1List:
			if value != "" {
				for _, e := range strings.Split(value, ",") {
					insts = append(insts, v1Arg{value: e, path: a.path})
				}
			}
			continue
		}
		vals[name] = a
	}
	if len(insts) == 0 && envInstances != nil {
		if envInstances.From != nil {
			errs = append(errs, field.Invalid(envInstances.Path, "", "v1 reads its instances from INSTANCES, whose value is not in the pod spec: write them in -instances"))
		} else {
			for _, e := range strings.Split(envInstances.Value, ",") {
				insts = append(insts, v1Arg{value: e, path: envInstances.Path})
			}
		}
	}

	on := func(name string) bool {
		b, _ := strconv.ParseBool(vals[name].value)
		return b
	}
	str := func(name string) (string, bool) {
		a, ok := vals[name]
		return a.value, ok && a.value != ""
	}
	refuse := func(name, why string) {
		a := vals[name]
		errs = append(errs, field.Invalid(a.path, a.value, "-"+name+": "+why))
	}
	out := map[string]string{"exit-zero-on-sigterm": ""}
	src := map[string]*field.Path{}
	if len(argv) > 0 {
		src["exit-zero-on-sigterm"] = at(0) // v1 itself exited 0
	}
	put := func(k, v, v1 string) { out[k], src[k] = v, vals[v1].path }

	dir, hasDir := str("dir")
	if on("fuse") {
		switch {
		case !hasDir:
			refuse("fuse", "v1 needs -dir to mount FUSE on (it exits at start)")
		case len(insts) > 0:
			refuse("fuse", "v1 refuses -instances with -fuse (it exits at start)")
		default:
			put("fuse", dir, "fuse")
			if tmp, ok := str("fuse_tmp"); ok {
				put("fuse-tmp-dir", tmp, "fuse_tmp")
			}
		}
	}

	// Instances, then whether -dir becomes --unix-socket.
	type v2Inst struct {
		name   string
		params []string // key=value, already escaped
		inDir  bool     // a socket named after the instance in -dir
		path   *field.Path
	}
	var out2 []v2Inst
	allInDir := true
	for _, a := range insts {
		if a.value == "" {
			continue // v1 skips empty entries ("a,,b", a trailing comma)
		}
		in, ok := translateV1Instance(a, dir, hasDir, &errs)
		if !ok {
			continue
		}
		out2 = append(out2, v2Inst{in.name, in.params, in.inDir, a.path})
		allInDir = allInDir && in.inDir
	}
	_, hasProjects := str("projects")
	_, hasMetadata := str("instances_metadata")
	named := 0
	for _, a := range insts {
		if a.value != "" {
			named++
		}
	}
	if named == 0 && !on("fuse") && !hasProjects && !hasMetadata && (envInstances == nil || envInstances.From == nil) {
		p := field.NewPath("argv")
		if len(argv) > 0 {
			p = at(0)
		}
		why := "no -instances: v1 would serve every instance of gcloud's active project, which v2 cannot; name the instances"
		if len(insts) > 0 {
			// -instances=, : v1 skips the empty names and serves nothing.
			why = "-instances names no instance: v1 served nothing, and v2 needs at least one"
		}
		errs = append(errs, field.Required(p, why))
	}
	var instArgs []string
	var instFrom []*field.Path
	for _, in := range out2 {
		params := in.params
		if in.inDir && !allInDir {
			params = append([]string{"unix-socket=" + queryEscape(dir)}, params...)
		}
		arg := in.name
		if len(params) > 0 {
			arg += "?" + strings.Join(params, "&")
		}
		instArgs = append(instArgs, arg)
		instFrom = append(instFrom, in.path)
	}
	if len(out2) > 0 && allInDir {
		put("unix-socket", dir, "dir")
	}

	// Authentication as v1's authenticatedClient chose it: the key file
	// first, ignoring any token.
	if v, ok := str("credential_file"); ok {
		put("credentials-file", v, "credential_file")
	} else {
		tok, hasTok := str("token")
		login, hasLogin := str("login_token")
		switch {
		case hasLogin && (!hasTok || !on("enable_iam_login")):
			refuse("login_token", "v1 exits at start unless -token and -enable_iam_login are given too")
		case hasTok && on("enable_iam_login") && !hasLogin:
			refuse("token", "with -enable_iam_login v1 exits at start unless -login_token is given too")
		}
		if hasTok {
			put("token", tok, "token")
		}
		if hasLogin {
			put("login-token", login, "login_token")
		}
	}
	if v, ok := str("quota_project"); ok {
		put("quota-project", v, "quota_project")
	}
	if v, ok := str("host"); ok {
		if !strings.HasSuffix(v, "/") {
			refuse("host", "v1 exits at start unless the endpoint ends with /")
		} else {
			put("sqladmin-api-endpoint", v, "host")
		}
	}
	if on("enable_iam_login") {
		put("auto-iam-authn", "", "enable_iam_login")
	}
	if on("skip_failed_instance_config") {
		put("skip-failed-instance-config", "", "skip_failed_instance_config")
	}
	if on("structured_logs") {
		put("structured-logs", "", "structured_logs")
	}
	if on("quiet") {
		put("quiet", "", "quiet")
	}
	if _, ok := vals["verbose"]; ok && !on("verbose") {
		put("quiet", "", "verbose")
	}
	if a, ok := vals["ip_address_types"]; ok {
		switch ipTypes(a.value) {
		case "PUBLIC":
		case "PRIVATE":
			put("private-ip", "", "ip_address_types")
		case "PUBLIC,PRIVATE":
			put("auto-ip", "", "ip_address_types")
		case "PRIVATE,PUBLIC":
			refuse("ip_address_types", "v2 cannot prefer private IP and fall back to public: choose --private-ip (private only) or --auto-ip (public first)")
		default:
			refuse("ip_address_types", "must be a list of PUBLIC (or PRIMARY) and PRIVATE; v1 could not connect with anything else")
		}
	}
	if v, ok := str("term_timeout"); ok {
		if d, _ := time.ParseDuration(v); d > 0 {
			put("max-sigterm-delay", d.String(), "term_timeout")
		}
	}
	if v, ok := str("max_connections"); ok {
		if n, _ := strconv.ParseUint(v, 0, 64); n > 0 {
			put("max-connections", strconv.FormatUint(n, 10), "max_connections")
		}
	}
	if on("use_http_health_check") {
		port := "8090"
		if v, ok := str("health_check_port"); ok {
			if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 65535 {
				refuse("health_check_port", "must be a port number between 1 and 65535")
			}
			port = v
		}
		put("health-check", "", "use_http_health_check")
		put("http-address", "0.0.0.0", "use_http_health_check")
		put("http-port", port, "use_http_health_check")
		if _, ok := vals["health_check_port"]; ok {
			src["http-port"] = vals["health_check_port"].path
		}
	}
	if hasProjects {
		refuse("projects", "v2 serves only the instances it is given: list them in -instances")
	}
	if hasMetadata {
		refuse("instances_metadata", "v2 cannot read instances from the metadata server: list them in -instances")
	}
	if on("version") {
		refuse("version", "v1 prints its version and exits: no proxy runs")
	}

	names := make([]string, 0, len(out))
	for k := range out {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if v := out[k]; v == "" {
			v2 = append(v2, "--"+k)
		} else {
			v2 = append(v2, "--"+k+"="+v)
		}
		from = append(from, src[k])
	}
	if len(errs) > 0 {
		return nil, nil, errs
	}
	return append(v2, instArgs...), append(from, instFrom...), nil
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
