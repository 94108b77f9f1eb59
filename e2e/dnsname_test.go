package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/podspec/cloudsqlproxy"
	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
)

// An instance given by DNS name makes the proxy look up the name's TXT record, which holds
// the connection name. These tests run the real proxy against a DNS server of their own
// on loopback: the proxy runs in a mount namespace of its own (unshare) where
// /etc/resolv.conf names only that server, so no lookup of a test name leaves the
// machine. That needs root, as CI runs; otherwise the tests are skipped.

// dnsServer answers DNS queries over UDP on a loopback address, port 53: TXT records from
// txt, NXDOMAIN for every other name, and it counts the queries for each name.
type dnsServer struct {
	ip   string
	conn *net.UDPConn

	mu      sync.Mutex
	txt     map[string]string // name without its trailing dot -> the TXT record
	queries map[string]int    // "TXT name" -> count
}

func startDNSServer(t *testing.T) *dnsServer {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the DNS server binds port 53 and the proxy runs in a mount namespace of its own")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux) to give the proxy a resolv.conf of its own")
	}
	s := &dnsServer{txt: map[string]string{}, queries: map[string]int{}}
	// A random loopback address keeps parallel test binaries on one machine apart.
	for attempt := 0; s.conn == nil; attempt++ {
		s.ip = fmt.Sprintf("127.53.%d.%d", rand.IntN(256), 1+rand.IntN(254))
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(s.ip), Port: 53})
		if err != nil && attempt > 20 {
			t.Fatalf("DNS server: %v", err)
		}
		s.conn = c
	}
	go s.serve()
	t.Cleanup(func() { s.conn.Close() })
	return s
}

func (s *dnsServer) serve() {
	buf := make([]byte, 4096)
	for {
		n, from, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if reply, err := s.answer(buf[:n]); err == nil {
			_, _ = s.conn.WriteToUDP(reply, from)
		}
	}
}

func (s *dnsServer) answer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	name := strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))
	s.mu.Lock()
	s.queries[strings.TrimPrefix(q.Type.String(), "Type")+" "+name]++
	record, known := s.txt[name]
	s.mu.Unlock()
	rcode := dnsmessage.RCodeSuccess
	if !known {
		rcode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RCode: rcode})
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if known && q.Type == dnsmessage.TypeTXT {
		rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeTXT, Class: dnsmessage.ClassINET, TTL: 5}
		if err := b.TXTResource(rh, dnsmessage.TXTResource{TXT: []string{record}}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

func (s *dnsServer) setTXT(name, record string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txt[strings.ToLower(strings.TrimSuffix(name, "."))] = record
}

// queried counts the queries of type typ ("TXT", "A", ...) for name.
func (s *dnsServer) queried(typ, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[typ+" "+strings.ToLower(strings.TrimSuffix(name, "."))]
}

// resolvedBy makes argv run with /etc/resolv.conf naming only s: in a new mount
// namespace, with a file of the test's bind-mounted over it.
func (s *dnsServer) resolvedBy(t *testing.T, argv []string) []string {
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver "+s.ip+"\noptions timeout:1 attempts:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return append([]string{"unshare", "--mount", "--propagation", "private",
		"/bin/sh", "-c", `mount --bind "$0" /etc/resolv.conf && exec "$@"`, conf}, argv...)
}

// apiProbe wraps the shared fakeAdminAPI with what these tests need besides: the SQL Admin
// API's resolveConnectSettings (how the proxy resolves Cloud SQL's own DNS names,
// instance.project.region.sql.goog) and a record of the credentials each call carries.
type apiProbe struct {
	URL  string
	fake *fakeAdminAPI

	mu       sync.Mutex
	dnsNames map[string]string // Cloud SQL DNS name, no trailing dot -> connection name
	resolves map[string]int
	bearers  map[string]int // "Authorization" header of the calls -> count
}

func newAPIProbe(t *testing.T) *apiProbe {
	a := &apiProbe{fake: sharedAdminAPI(t), dnsNames: map[string]string{}, resolves: map[string]int{}, bearers: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(srv.Close)
	a.URL = srv.URL + "/"
	return a
}

func (a *apiProbe) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.bearers[r.Header.Get("Authorization")]++
	a.mu.Unlock()
	// GET /sql/v1beta4/locations/{region}/dns/{name}:resolveConnectSettings
	p := strings.Split(strings.TrimPrefix(r.URL.Path, "/sql/v1beta4/"), "/")
	if len(p) != 4 || p[0] != "locations" || p[2] != "dns" || !strings.HasSuffix(p[3], ":resolveConnectSettings") {
		a.fake.serve(w, r)
		return
	}
	name := strings.TrimSuffix(strings.TrimSuffix(p[3], ":resolveConnectSettings"), ".")
	a.mu.Lock()
	a.resolves[name]++
	conn, known := a.dnsNames[name]
	a.mu.Unlock()
	if !known {
		http.Error(w, `{"error":{"code":404,"message":"not found"}}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"kind": "sql#connectSettings", "region": p[1], "backendType": "SECOND_GEN",
		"databaseVersion": "POSTGRES_16", "connectionName": conn})
}

func (a *apiProbe) count(m map[string]int, key string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return m[key]
}

// proxyProcess runs the real proxy binary with args (a container's, or written by hand),
// given credentials (--token=test) and the SQL Admin API. wrap, when not nil, rewrites the
// command line (to run it in a namespace). It returns once /startup answers 200 on
// healthPort, or fails the test with the proxy's log.
func proxyProcess(t *testing.T, api *apiProbe, args []string, healthPort int32, env []string, wrap func([]string) []string) (*process, *syncBuffer) {
	t.Helper()
	b, err := RealBinary(ComponentProxy)
	if err != nil {
		t.Fatal(err)
	}
	return proxyProcessOf(t, b.Path, api, args, healthPort, env, wrap)
}

// proxyProcessOf is proxyProcess with the proxy binary bin.
func proxyProcessOf(t *testing.T, bin string, api *apiProbe, args []string, healthPort int32, env []string, wrap func([]string) []string) (*process, *syncBuffer) {
	t.Helper()
	p, log, err := startProxyBinary(t, bin, api, args, env, wrap)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, code, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/startup", healthPort), time.Second)
		if err == nil && code == http.StatusOK {
			return p, log
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the proxy did not start (status %d, exited %v)\n--- argv: %q\n--- output:\n%s", code, p.exited(), p.cmd.Args, log.tail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func startProxyProcess(t *testing.T, api *apiProbe, args, env []string, wrap func([]string) []string) (*process, *syncBuffer, error) {
	t.Helper()
	b, err := RealBinary(ComponentProxy)
	if err != nil {
		t.Fatal(err)
	}
	return startProxyBinary(t, b.Path, api, args, env, wrap)
}

// startProxyBinary is startProxyProcess with the proxy binary bin.
func startProxyBinary(t *testing.T, bin string, api *apiProbe, args, env []string, wrap func([]string) []string) (*process, *syncBuffer, error) {
	t.Helper()
	argv := append(append([]string{runnableCopy(t, bin)}, args...), "--token=test", "--sqladmin-api-endpoint="+api.URL)
	if wrap != nil {
		argv = wrap(argv)
	}
	env = append(offlineEnv(t.TempDir()), env...)
	log := &syncBuffer{}
	p, err := startProcess(t, argv, env, log, nil)
	return p, log, err
}

// offlineEnv is the environment of a proxy run by hand here: as in proxyrun_test.go,
// nothing the proxy sends to Google leaves the machine.
func offlineEnv(home string) []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + home,
		"GCE_METADATA_HOST=127.0.0.1:1",
		"GCE_METADATA_IP=127.0.0.1:1",
		"HTTPS_PROXY=http://127.0.0.1:1",
		"NO_PROXY=127.0.0.1,localhost",
	}
}

// containerArgs are the proxy container's arguments, with the socket directory it mounts
// moved to dir, as the kubelet's mount does.
func containerArgs(c corev1.Container, socketDir, dir string) []string {
	var out []string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--unix-socket="); ok && v == socketDir {
			a = "--unix-socket=" + dir
		}
		out = append(out, a)
	}
	return out
}

// waitFor polls cond for up to 10 s.
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// TestDNSNameListeners: the proxy takes the library's DNS-name instances (one with a
// trailing dot, next to a connection name) with their ports and query parameters, listens
// where the library tells the application, and resolves each name through its TXT record
// to the instance the record names.
func TestDNSNameListeners(t *testing.T) {
	t.Parallel()
	dns, api := startDNSServer(t), newAPIProbe(t)
	const connA, connB, conn = "dns-project:us-central1:orders", "dns-project:europe-west1:replica", "dns-project:us-central1:direct"
	for _, c := range []string{connA, connB, conn} {
		if err := api.fake.register(c); err != nil {
			t.Fatal(err)
		}
	}
	dns.setTXT("orders.db.example.com", connA)
	dns.setTXT("replica.db.example.com", connB)
	port, health := freePort(t, 3), freePort(t, 1)
	p, err := cloudsqlproxy.New("orders.db.example.com",
		cloudsqlproxy.WithPort(port), cloudsqlproxy.WithHealthPort(health),
		cloudsqlproxy.WithInstance("replica.db.example.com.?auto-iam-authn=false"),
		cloudsqlproxy.WithInstance(conn),
		cloudsqlproxy.WithAppEnv("orders.db.example.com", cloudsqlproxy.AppEnv{Host: "A_HOST", Port: "A_PORT"}),
		cloudsqlproxy.WithAppEnv("replica.db.example.com.", cloudsqlproxy.AppEnv{Port: "B_PORT"}))
	if err != nil {
		t.Fatal(err)
	}
	spec := appPodSpec(corev1.RestartPolicyAlways)
	if err := p.Attach(&spec); err != nil {
		t.Fatal(err)
	}
	proc, log := proxyProcess(t, api, p.Container().Args, health, nil, func(argv []string) []string { return dns.resolvedBy(t, argv) })
	env := map[string]string{}
	for _, e := range spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	for _, addr := range []string{net.JoinHostPort(env["A_HOST"], env["A_PORT"]), net.JoinHostPort("127.0.0.1", env["B_PORT"]),
		net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)+2))} {
		if err := dial("tcp", addr); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	// At startup the proxy warms each instance's connection info: for a DNS name that is
	// the TXT lookup, then the SQL Admin API call for the connection name it holds.
	for _, c := range []struct{ name, conn string }{{"orders.db.example.com", connA}, {"replica.db.example.com", connB}, {"", conn}} {
		if c.name != "" && !waitFor(func() bool { return dns.queried("TXT", c.name) > 0 }) {
			t.Errorf("the proxy never looked up the TXT record of %s", c.name)
		}
		if !waitFor(func() bool { return api.fake.callCount("connectSettings", c.conn) > 0 }) {
			t.Errorf("the proxy never asked the SQL Admin API about %s", c.conn)
		}
	}
	if dns.queried("TXT", conn) > 0 {
		t.Errorf("the proxy looked a connection name up in DNS")
	}
	if t.Failed() {
		t.Logf("proxy output:\n%s", log.tail(40))
	}
	_ = proc.cmd.Process.Signal(syscall.SIGTERM)
	if err := expectExit(proc, 10*time.Second, "after SIGTERM"); err != nil {
		t.Error(err)
	}
}

// TestDNSNameSocket: with a Unix socket directory the proxy names each DNS-name instance's
// socket after the DNS name, as given (a trailing dot too): <dir>/<name>/.s.PGSQL.5432 for
// PostgreSQL, <dir>/<name> for MySQL, which is where the library tells the application. It
// needs the instance's engine to make the socket, so unlike a TCP listener with a port the
// socket needs the TXT record at startup: without it the proxy exits 1.
func TestDNSNameSocket(t *testing.T) {
	t.Parallel()
	dns, api := startDNSServer(t), newAPIProbe(t)
	const pgConn, myConn = "dns-project:us-central1:pg", "dns-project:us-central1:mysql-db"
	for _, c := range []string{pgConn, myConn} {
		if err := api.fake.register(c); err != nil {
			t.Fatal(err)
		}
	}
	dns.setTXT("pg.example.com", pgConn)
	dns.setTXT("mysql.example.com", myConn)
	wrap := func(argv []string) []string { return dns.resolvedBy(t, argv) }

	health := freePort(t, 1)
	p, err := cloudsqlproxy.New("pg.example.com",
		cloudsqlproxy.WithUnixSocket("/cloudsql"), cloudsqlproxy.WithHealthPort(health),
		cloudsqlproxy.WithInstance("mysql.example.com."),
		cloudsqlproxy.WithAppEnv("pg.example.com", cloudsqlproxy.AppEnv{Socket: "PG_SOCKET"}),
		cloudsqlproxy.WithAppEnv("mysql.example.com.", cloudsqlproxy.AppEnv{Socket: "MY_SOCKET"}))
	if err != nil {
		t.Fatal(err)
	}
	spec := appPodSpec(corev1.RestartPolicyAlways)
	if err := p.Attach(&spec); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/tmp", "csql-dns") // short: socket paths are limited to 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	proc, log := proxyProcess(t, api, containerArgs(p.Container(), "/cloudsql", dir), health, nil, wrap)
	var got []string
	for _, e := range spec.Containers[0].Env {
		if strings.HasSuffix(e.Name, "_SOCKET") {
			got = append(got, e.Name+"="+e.Value)
		}
	}
	if diff := cmp.Diff([]string{"PG_SOCKET=/cloudsql/pg.example.com", "MY_SOCKET=/cloudsql/mysql.example.com."}, got); diff != "" {
		t.Errorf("socket env (-want +got):\n%s", diff)
	}
	for _, sock := range []string{dir + "/pg.example.com/.s.PGSQL.5432", dir + "/mysql.example.com."} {
		if err := dial("unix", sock); err != nil {
			t.Errorf("%s: %v\n%s", sock, err, log.tail(20))
		}
	}
	_ = proc.cmd.Process.Signal(syscall.SIGTERM)
	if err := expectExit(proc, 10*time.Second, "after SIGTERM"); err != nil {
		t.Error(err)
	}

	// A name without a TXT record: a TCP listener with its port starts (it is resolved
	// only when used), a socket does not.
	health = freePort(t, 1)
	port := freePort(t, 1)
	for _, unix := range []bool{false, true} {
		args := []string{"--health-check", "--http-address=127.0.0.1", "--http-port=" + strconv.Itoa(int(health)), "missing.example.com?port=" + strconv.Itoa(int(port))}
		if unix {
			args = []string{"--health-check", "--http-address=127.0.0.1", "--http-port=" + strconv.Itoa(int(health)), "--unix-socket=" + dir, "missing.example.com"}
		}
		proc, log, err := startProxyProcess(t, api, args, nil, wrap)
		if err != nil {
			t.Fatal(err)
		}
		started := waitFor(func() bool {
			_, code, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/startup", health), time.Second)
			return proc.exited() || err == nil && code == http.StatusOK
		}) && !proc.exited()
		if started == unix {
			t.Errorf("unix socket %v: started %v, want %v\n%s", unix, started, !unix, log.tail(20))
		}
		if unix && !strings.Contains(log.tail(20), "missing.example.com") {
			t.Errorf("the proxy's error does not name the instance:\n%s", log.tail(20))
		}
		_ = proc.cmd.Process.Signal(syscall.SIGTERM)
		proc.waitExit(10 * time.Second)
	}
}

// verdictNames are instance names given as DNS names, on every edge of what the library
// accepts (dnsname_test.go in the library has the same kinds, with New's reasons). No two
// are one name to DNS (which ignores case and a trailing dot), so that each lookup the
// proxy makes tells which name it was for.
var verdictNames = []string{
	"prod-db.mycompany.example.com", "db.example.com.", "prod.", "a.b", "_sql.db.example.com", "a_b.example.com",
	"_.example.com", "1db.example.com", "db.example.c0m", "db.123.", "xn--bcher-kva.example",
	strings.Repeat("a", 63) + ".example.com", longDNSName("a", 253), longDNSName("b", 253) + ".",
	"single", "Prod-DB.example.com", "db.EXAMPLE.org", "10.0.0.1", "10.0.0.2.", "db.example.123", "db.example._com",
	"db.example.co_m", "db.-example.com", "db.example-.com", "db_.example.com", "db.example.com-", "db..example.com",
	".db.example.com", "db.example.com..", ".", strings.Repeat("a", 64) + ".example.com",
	longDNSName("c", 254), longDNSName("d", 254) + ".", "db.exa mple.com", "db.exämple.com", "db$(HOME).example.com",
	// Cloud SQL's own DNS names, which the proxy resolves through the SQL Admin API.
	"pg.dns-project.us-central1.sql.goog", "PG2.dns-project.us-central1.sql.goog",
}

// longDNSName is a name of n characters (not a multiple of 64), of labels of 63 letters c.
func longDNSName(c string, n int) string {
	return strings.Repeat(strings.Repeat(c, 63)+".", n/64+1)[:n]
}

// TestDNSNameVerdictsMatchTheProxy runs the real proxy with every name of verdictNames,
// each with its own port, and connects to each listener. The proxy checks no name at
// startup (it listens for any); a name the library accepts must then be resolved (its TXT
// record looked up, or for a sql.goog name the SQL Admin API asked) up to the connection
// name's instance; a name the library rejects must be refused by the proxy's connector
// ("invalid connection name") or be one it never looks up (no query reaches the DNS
// server or the API: Go's resolver skips names over 253 characters and all-numeric ones).
func TestDNSNameVerdictsMatchTheProxy(t *testing.T) {
	t.Parallel()
	dns, api := startDNSServer(t), newAPIProbe(t)
	health := freePort(t, 1)
	args := []string{"--health-check", "--http-address=127.0.0.1", "--http-port=" + strconv.Itoa(int(health))}
	ports := map[string]int32{}
	conns := map[string]string{}
	asDNS := map[string]string{}
	for i, name := range verdictNames {
		if key := strings.ToLower(strings.TrimSuffix(name, ".")); asDNS[key] != "" {
			t.Fatalf("%q and %q are one name to DNS", asDNS[key], name)
		} else {
			asDNS[key] = name
		}
		ports[name] = freePort(t, 1)
		conns[name] = fmt.Sprintf("dns-project:us-central1:v%d", i)
		if err := api.fake.register(conns[name]); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(strings.ToLower(name), ".sql.goog") {
			api.mu.Lock()
			api.dnsNames[strings.ToLower(name)] = conns[name]
			api.mu.Unlock()
		} else {
			dns.setTXT(name, conns[name])
		}
		args = append(args, name+"?port="+strconv.Itoa(int(ports[name])))
	}
	proc, log := proxyProcess(t, api, args, health, nil, func(argv []string) []string { return dns.resolvedBy(t, argv) })
	for i, name := range verdictNames {
		_, err := cloudsqlproxy.New(name)
		accepted := err == nil
		t.Run(fmt.Sprintf("%02d-%.24s", i, name), func(t *testing.T) {
			c, derr := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[name]))), 2*time.Second)
			if derr != nil {
				t.Fatalf("the proxy does not listen for %q: %v", name, derr)
			}
			// The proxy dials the instance for the client, and logs why it cannot.
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			_, _ = c.Read(make([]byte, 1))
			c.Close()
			goog := strings.HasSuffix(strings.ToLower(name), ".sql.goog")
			looked := func() bool {
				if goog {
					return api.count(api.resolves, strings.ToLower(name)) > 0
				}
				return dns.queried("TXT", name) > 0
			}
			refusal := fmt.Sprintf("invalid connection name, expected PROJECT:REGION:INSTANCE format or valid DNS domain name (connection name = %q)", name)
			refused := func() bool { return strings.Contains(logText(log), refusal) }
			if accepted {
				if !waitFor(func() bool { return looked() && api.fake.callCount("connectSettings", conns[name]) > 0 }) {
					t.Errorf("New accepts %q, but the proxy did not resolve it to %s (looked up: %v, refused: %v)", name, conns[name], looked(), refused())
				}
				return
			}
			// The proxy logs why the connection failed once it has closed it.
			if !waitFor(func() bool { return strings.Contains(logText(log), "["+name+"] failed to connect to instance: ") }) {
				t.Fatalf("the proxy did not log the failure of the connection to %q", name)
			}
			if !refused() && (looked() || api.fake.callCount("connectSettings", conns[name]) > 0) {
				t.Errorf("New rejects %q (%v), but the proxy used it", name, err)
			}
		})
	}
	_ = proc.cmd.Process.Signal(syscall.SIGTERM)
	proc.waitExit(10 * time.Second)
	if t.Failed() {
		t.Logf("proxy output:\n%s", log.tail(80))
	}
}

// logText is all the proxy has written so far.
func logText(b *syncBuffer) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
