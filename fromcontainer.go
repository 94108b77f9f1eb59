package cloudsqlproxy

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podspec/cloudsqlproxy/internal/proxycmd"
)

// FromContainer reads the settings of an existing Cloud SQL Auth Proxy
// container into the instances and options that make [New] build the same
// proxy the library's way, so that a hand-written sidecar migrates to
// a native one without losing a setting. It reads v2 containers (flags in
// any form, CSQL_PROXY_* environment variables as the operator writes them)
// and v1 ones (gce-proxy, cloud_sql_proxy with -instances=, also run from
// a shell command), whatever the container's name; volumes are the pod's,
// where the container's credentials key file is found.
//
// The options keep the container's name (so that [Proxy.Attach] replaces
// it where it stands), its image when it runs v2 (so a pinned version or a
// mirror stays; a v1 image becomes [DefaultImage]), its pull policy and
// resources, every instance with its port and per-instance settings, and
// every flag the library has an option for; a key file read from a Secret
// volume becomes [WithCredentialsSecret]. What the library always decides
// itself is not carried over: the health server's address (0.0.0.0, which
// the kubelet's probes need), structured logs, exit 0 on SIGTERM, probes,
// lifecycle hooks and the security context. A v1 container connects as v1
// did: without -ip_address_types (v1's PUBLIC,PRIVATE) it gets --auto-ip,
// public IP if the instance has one, else private, unless [WithPrivateIP]
// or [WithPSC] given to New chooses the IP type. Anything else that cannot be
// carried over (a flag without an option, a value from a Secret, an
// environment variable or mount the library would drop) is an error naming
// the container's field and the value, wrapping [ErrInvalidConfig]; nothing
// is dropped silently. A container that runs no proxy is an error wrapping
// [ErrNotProxy].
//
// The instances come apart from the options, so that a caller can keep them
// (the first for New, the others with [WithInstance]) or connect to others
// instead; options given to New after the adopted ones win (except that
// WithPort cannot move an instance the container gave a port of its own,
// which keeps its ?port=). The library always writes a port: for a TCP
// instance whose port the proxy takes from its database engine (5432
// PostgreSQL, 3306 MySQL, 1433 SQL Server), New needs [WithPort] (or the
// instance's ?port=) with the port the application connects to, rather
// than guessing 5432. For example:
//
//	insts, opts, err := cloudsqlproxy.FromContainer(old, spec.Volumes)
//	for _, in := range insts[1:] {
//		opts = append(opts, cloudsqlproxy.WithInstance(in))
//	}
//	p, err := cloudsqlproxy.New(insts[0], append(opts, cloudsqlproxy.WithHealthPort(9090))...)
func FromContainer(c corev1.Container, volumes []corev1.Volume) (instances []string, opts []Option, err error) {
	if proxycmd.Detect(&c) == proxycmd.None {
		return nil, nil, fmt.Errorf("%w: container %q (image %q)", ErrNotProxy, c.Name, c.Image)
	}
	a := newAdopter(&c, volumes, field.NewPath("container"))
	instances, opts = a.read()
	if len(a.errs) > 0 {
		return nil, nil, &configError{errs: a.errs.aggregate()}
	}
	return instances, opts, nil
}

// adopter reads one container.
type adopter struct {
	c       *corev1.Container
	volumes []corev1.Volume
	fld     *field.Path
	errs    problems
	opts    []Option
	// usedMounts and usedEnv are the mounts and env vars that a setting
	// accounts for; every other one is reported.
	usedMounts map[int]bool
	usedEnv    map[int]bool
	// globalPort and globalSocket are --port and --unix-socket, which
	// decide the instances' ports.
	globalPort, globalSocket string
	// v1 is set for a v1 proxy, read through its v2 translation; v1Dir is
	// its -dir, where it put Unix sockets.
	v1    bool
	v1Dir string
	// facts are what the notes of Proxy.Adoption need.
	facts *adoptFacts
	// portFlag is --port, which becomes WithPort only once the instances
	// are known (see instances).
	portFlag *proxycmd.Setting
}

func newAdopter(c *corev1.Container, volumes []corev1.Volume, fld *field.Path) *adopter {
	return &adopter{c: c, volumes: volumes, fld: fld, facts: &adoptFacts{fld: fld}}
}

func (a *adopter) add(o Option) {
	if o != nil {
		a.opts = append(a.opts, o)
	}
}

// read carries the container over: its command's flags and instances,
// then what the container itself sets, then an error for each part of it
// nothing carried.
func (a *adopter) read() ([]string, []Option) {
	a.usedMounts, a.usedEnv = map[int]bool{}, map[int]bool{}
	flags, insts, ok := a.command()
	if !ok {
		return nil, nil
	}
	c := a.c
	a.add(WithName(c.Name))
	// The copy is the caller's container as read; Attach compares it.
	read, facts := c.DeepCopy(), a.facts
	a.add(optionFunc(func(cfg *config) { cfg.adopted, cfg.adoptFacts = read, facts }))
	if c.ImagePullPolicy != "" {
		a.add(WithImagePullPolicy(c.ImagePullPolicy))
	}
	if len(c.Resources.Requests) > 0 || len(c.Resources.Limits) > 0 {
		a.add(WithResources(*c.Resources.DeepCopy()))
	}
	for _, f := range flags {
		a.flag(f)
	}
	instances := a.instances(insts)
	a.unusedSocketDir()
	a.leftovers()
	return instances, a.opts
}

// unusedSocketDir accounts for v1's -dir when no instance put a socket in
// it (every one is TCP, so the translation dropped it): its emptyDir mount
// is left behind, and Attach takes the volume out when nothing else mounts
// it.
func (a *adopter) unusedSocketDir() {
	if a.v1Dir == "" || a.globalSocket != "" {
		return
	}
	for i, m := range a.c.VolumeMounts {
		j := volumeIndex(a.volumes, m.Name)
		if a.usedMounts[i] || j < 0 || path.Clean(m.MountPath) != path.Clean(a.v1Dir) {
			continue
		}
		if isEmptyDir(a.volumes[j]) {
			a.usedMounts[i] = true
			a.facts.unusedDir, a.facts.unusedDirAt = m.Name, a.fld.Child("volumeMounts").Index(i)
		}
	}
}

// wrapperParts accounts for what a wrapper the proxy ran under used and
// the proxy does not: environment variables that are no proxy settings,
// and emptyDir mounts (a watchdog's shared directory). They go with the
// wrapper, and the notes say so.
func (a *adopter) wrapperParts() {
	for i, e := range a.c.Env {
		if !a.usedEnv[i] && !strings.HasPrefix(e.Name, proxycmd.EnvPrefix) {
			a.usedEnv[i] = true
			a.facts.wrapperParts = append(a.facts.wrapperParts, "env "+e.Name)
		}
	}
	for i, m := range a.c.VolumeMounts {
		j := volumeIndex(a.volumes, m.Name)
		if a.usedMounts[i] || j < 0 {
			continue
		}
		if isEmptyDir(a.volumes[j]) {
			a.usedMounts[i] = true
			a.facts.wrapperParts = append(a.facts.wrapperParts, "the mount of "+m.Name)
		}
	}
}

// v1Dir is the -dir of a v1 command line, "" without one.
func v1Dir(argv []string) string {
	dir := ""
	for i, arg := range argv {
		name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if !strings.HasPrefix(arg, "-") || name != "dir" {
			continue
		}
		if !hasValue && i+1 < len(argv) {
			value = argv[i+1]
		}
		dir = value // the last one wins, as in v1's flag package
	}
	return dir
}

// command reads the proxy's flags and instances, a v1 proxy's through their
// v2 translation; ok is false when the command cannot be read at all.
func (a *adopter) command() (flags, insts []proxycmd.Setting, ok bool) {
	c := a.c
	cmd := proxycmd.Read(a.fld, c)
	if len(cmd.Wrapper) > 0 {
		at := a.fld.Child("command").Index(0)
		if len(c.Command) == 0 {
			at = a.fld.Child("args").Index(0)
		}
		a.facts.wrapper, a.facts.wrapperAt = strings.Join(cmd.Wrapper, " "), at
	}
	var errs field.ErrorList
	switch cmd.Gen {
	case proxycmd.V1, proxycmd.V1Shell:
		a.v1, a.v1Dir = true, v1Dir(cmd.Argv)
		v2, from, terrs := proxycmd.TranslateV1Container(a.fld, c)
		if len(terrs) > 0 {
			a.errs = append(a.errs, problemsOf(terrs, ReasonNotCarried)...)
			return nil, nil, false
		}
		// A complaint about a translated flag names the v1 argument it
		// came from: the translation is nothing the user wrote.
		at := func(i int) *field.Path {
			if i > 0 && i <= len(from) && from[i-1] != nil {
				return from[i-1]
			}
			return cmd.At(0)
		}
		flags, insts, errs = proxycmd.SplitV2(append([]string{binary}, v2...), at, nil, a.fld.Child("env"))
		a.useEnv(func(name string) bool { return name == "INSTANCES" })
	default:
		if len(cmd.Errs) > 0 {
			a.errs = append(a.errs, problemsOf(cmd.Errs, ReasonNotCarried)...)
			return nil, nil, false
		}
		flags, insts, errs = proxycmd.SplitV2(cmd.Argv, cmd.At, c.Env, a.fld.Child("env"))
		a.useEnv(func(name string) bool { return strings.HasPrefix(name, proxycmd.EnvPrefix) })
		a.add(WithImage(c.Image))
	}
	a.errs = append(a.errs, problemsOf(errs, ReasonNotCarried)...)
	return flags, insts, true
}

// useEnv marks the env vars the proxy's reader accounts for.
func (a *adopter) useEnv(read func(name string) bool) {
	for i, e := range a.c.Env {
		if read(e.Name) {
			a.usedEnv[i] = true
		}
	}
}

// leftovers reports every part of the container that no setting carried
// over and the library's container would drop.
func (a *adopter) leftovers() {
	c := a.c
	for i, e := range c.EnvFrom {
		// The proxy reads CSQL_PROXY_* settings from these at run time;
		// the library cannot see them, so they would be lost unseen.
		a.errs = append(a.errs, invalid(a.fld.Child("envFrom").Index(i), envFromName(e), ReasonNotCarried,
			"settings the proxy reads from a ConfigMap or Secret cannot be read here; write them as flags"))
	}
	for i, cp := range c.Ports {
		if cp.Name != "" && cp.Name != HealthPortName {
			// A Service or probe may refer to it by name; the library's
			// container declares only its health port.
			a.errs = append(a.errs, invalid(a.fld.Child("ports").Index(i).Child("name"), cp.Name, ReasonNotCarried,
				fmt.Sprintf("the library's proxy declares only its health port, as %q; whatever refers to port %q would lose it", HealthPortName, cp.Name)))
		}
	}
	if a.facts.wrapper != "" {
		a.wrapperParts()
	}
	for i, e := range c.Env {
		if !a.usedEnv[i] {
			a.errs = append(a.errs, invalid(a.fld.Child("env").Index(i).Child("name"), e.Name, ReasonNotCarried,
				"the library's proxy container sets no environment variables of its own; this one would be lost"))
		}
	}
	for i, m := range c.VolumeMounts {
		if !a.usedMounts[i] {
			a.errs = append(a.errs, invalid(a.fld.Child("volumeMounts").Index(i).Child("mountPath"), m.MountPath, ReasonNotCarried,
				fmt.Sprintf("no setting of the proxy uses volume %q here; it would be lost", m.Name)))
		}
	}
}

// flag carries one proxy flag over.
func (a *adopter) flag(f proxycmd.Setting) {
	if f.From != nil {
		a.errs = append(a.errs, invalid(f.Path, "valueFrom", ReasonNotCarried, fmt.Sprintf("--%s is read from a Secret, ConfigMap or field reference, which the library cannot write into the proxy's arguments", f.Name)))
		return
	}
	switch f.Name {
	case "port":
		a.globalPort, a.portFlag = f.Value, &f
		return
	case "credentials-file":
		a.credentials(f)
		return
	case "unix-socket":
		a.globalSocket = f.Value
		a.socketDir(f.Value)
	case "auto-ip":
		if a.v1 {
			a.add(optionFunc(func(cfg *config) { cfg.v1AutoIP = true }))
			return
		}
	case "address":
		a.facts.address, a.facts.addressAt = f.Value, f.Path
	}
	a.add(a.option(f))
}

// option is the library's option for a flag, or nil when there is none
// (reported).
func (a *adopter) option(f proxycmd.Setting) Option {
	i, known := flagIndex[f.Name]
	if !known {
		a.errs = append(a.errs, invalid(f.Path, "--"+f.Name+"="+f.Value, ReasonNotCarried, "the library has no option for this flag; the proxy would lose it"))
		return nil
	}
	o, err := adoptFlag(&flagTable[i], f.Value, true)
	if err != nil {
		a.errs = append(a.errs, invalid(f.Path, f.Value, ReasonNotCarried, fmt.Sprintf("--%s: %v", f.Name, err)))
		return nil
	}
	return o
}

// credentials turns a key file in a mounted Secret into WithCredentialsSecret.
func (a *adopter) credentials(f proxycmd.Setting) {
	file := path.Clean(f.Value)
	for i, m := range a.c.VolumeMounts {
		dir := path.Clean(m.MountPath)
		rel, ok := strings.CutPrefix(file, dir+"/")
		if m.SubPath != "" && dir == file {
			// The key file alone, mounted from the volume's path subPath.
			rel, ok, dir = path.Clean(m.SubPath), true, path.Dir(file)
		} else if m.SubPath != "" || m.SubPathExpr != "" {
			continue
		}
		if !ok {
			continue
		}
		j := volumeIndex(a.volumes, m.Name)
		if j < 0 || a.volumes[j].Secret == nil {
			break
		}
		s := a.volumes[j].Secret
		key := rel
		if len(s.Items) > 0 {
			k := slices.IndexFunc(s.Items, func(it corev1.KeyToPath) bool { return path.Clean(it.Path) == rel })
			if k < 0 {
				break
			}
			key = s.Items[k].Key
		}
		if strings.Contains(key, "/") {
			break
		}
		a.usedMounts[i] = true
		a.facts.keyVolume, a.facts.keyDir, a.facts.keyMountAt = m.Name, dir, a.fld.Child("volumeMounts").Index(i)
		a.add(WithCredentialsSecret(s.SecretName))
		a.add(WithCredentialsSecretKey(key))
		return
	}
	a.errs = append(a.errs, invalid(f.Path, f.Value, ReasonNotCarried,
		"--credentials-file: the key file must be a key of a Secret volume the container mounts, which can be mounted again").involving(credentialsSecretPath))
}

// socketDir accounts for the mount of the Unix socket directory.
func (a *adopter) socketDir(dir string) {
	for i, m := range a.c.VolumeMounts {
		if path.Clean(m.MountPath) == path.Clean(dir) {
			a.usedMounts[i] = true
		}
	}
}

// instances carries the instances over; the per-instance listener address
// and socket directory that v1 translations carry become the proxy-wide
// options when every instance has the same one.
func (a *adopter) instances(insts []proxycmd.Setting) []string {
	if len(insts) == 0 {
		ap := a.fld.Child("args")
		a.errs = append(a.errs, problemOf(ap, field.Required(ap, "the proxy names no instance"), ReasonNotCarried))
		return nil
	}
	var names []string
	var queries []url.Values
	shared := map[string]string{}
	for k, in := range insts {
		name, query, _ := strings.Cut(in.Value, "?")
		q, err := url.ParseQuery(query)
		if err != nil {
			a.errs = append(a.errs, invalid(in.Path, in.Value, ReasonNotCarried, "query parameters cannot be parsed: "+err.Error()))
			continue
		}
		for _, key := range []string{"address", "unix-socket"} {
			v := q.Get(key)
			if k > 0 && shared[key] != v {
				a.errs = append(a.errs, invalid(in.Path, in.Value, ReasonNotCarried, fmt.Sprintf("instances with different %s values cannot share the library's one proxy-wide setting", key)))
			}
			shared[key] = v
			q.Del(key)
		}
		if q.Has("unix-socket-path") {
			a.errs = append(a.errs, invalid(in.Path, in.Value, ReasonNotCarried, "a socket path per instance (unix-socket-path) has no option; use one socket directory"))
			q.Del("unix-socket-path")
		}
		names = append(names, name)
		queries = append(queries, q)
	}
	tcp := a.globalSocket == "" && shared["unix-socket"] == ""
	if tcp && a.globalPort != "" {
		numberPorts(a.globalPort, queries)
	}
	if a.portFlag != nil {
		// The proxy's --port numbers only the instances without a port of
		// their own: when the first has one, every other got its number
		// above, and WithPort, the first instance's port in New, would
		// contradict it.
		if o := a.option(*a.portFlag); !tcp || len(queries) == 0 || !queries[0].Has("port") {
			a.add(o)
		}
	}
	if tcp && a.globalPort == "" {
		var engine []string
		for k, q := range queries {
			if !q.Has("port") {
				engine = append(engine, names[k])
			}
		}
		if len(engine) > 0 {
			// WithPort's default 5432 is right only for PostgreSQL: New
			// asks for the port instead of changing it silently.
			a.add(optionFunc(func(cfg *config) { cfg.enginePorts = engine }))
		}
	}
	for k, q := range queries {
		if enc := q.Encode(); enc != "" {
			names[k] += "?" + enc
		}
	}
	if v := shared["address"]; v != "" {
		a.facts.address, a.facts.addressAt = v, insts[0].Path
		a.add(WithListenAddress(v))
	}
	if v := shared["unix-socket"]; v != "" {
		a.socketDir(v)
		a.add(WithUnixSocket(v))
	}
	return names
}

// numberPorts gives a TCP instance without a port of its own the port the
// proxy gives it where New would give another: the proxy numbers those
// instances from --port on, skipping the ones with their own port, while
// New numbers each from the previous instance's port. A first instance
// without a port keeps none, so that WithPort given after the adopted
// options still moves it.
func numberPorts(global string, queries []url.Values) {
	next, err := strconv.Atoi(global)
	if err != nil {
		return // reported with the flag
	}
	prev := 0
	for k, q := range queries {
		if q.Has("port") {
			prev, _ = strconv.Atoi(q.Get("port"))
			continue
		}
		if k > 0 && prev+1 != next {
			q.Set("port", strconv.Itoa(next))
		}
		prev = next
		next++
	}
}

func envFromName(e corev1.EnvFromSource) string {
	switch {
	case e.ConfigMapRef != nil:
		return "configMapRef " + e.ConfigMapRef.Name
	case e.SecretRef != nil:
		return "secretRef " + e.SecretRef.Name
	}
	return "envFrom"
}
